/*
 * request.c - parsing and validation of ChatKit request bodies (docs/protocol.md,
 * "Request envelope" and "Request types").  One table row per request type names its params checker; each
 * checker validates the fields of its type, fills defaults and normalizes in
 * place, and reports the first problem with the field's full path
 * ("params.input.content[0].text must be a string").
 *
 * Guards applied to every body before any type-specific check: valid UTF-8
 * (jansson refuses anything else), no NUL characters in strings (parsed with
 * JSON_ALLOW_NUL so the offending field can be named), no real number of
 * magnitude 2^63 or more (the store could not read it back), bounded nesting depth
 * (checked on the raw bytes before parsing, which also bounds every
 * recursion below) and a bounded request `metadata`.
 */
#include "protocol/protocol.h"
#include "protocol/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PATH_MAX_LEN 160
#define ID_MAX_BYTES 255
#define DEFAULT_PAGE_LIMIT 20

typedef int (*params_check_fn)(json_t *params, const ck_proto_limits_t *limits, ck_proto_error_t *err);

typedef struct type_row {
    const char *name;
    int streaming;
    params_check_fn check;
    const char *store_op;
} type_row_t;

void ck_proto_limits_default(ck_proto_limits_t *limits)
{
    limits->max_text_chars = 8000;
    limits->max_metadata_bytes = 16384;
    limits->max_depth = 32;
    limits->max_page_limit = 100;
}

/* --- field helpers ------------------------------------------------------ */

static int invalid(ck_proto_error_t *err, const char *base, const char *key, const char *what)
{
    if (key != NULL)
        return ck_proto_error_set(err, 400, "invalid_params", "%s.%s %s", base, key, what);
    return ck_proto_error_set(err, 400, "invalid_params", "%s %s", base, what);
}

/* Required string field; ids are also required to be non-empty and short. */
static int need_string(json_t *obj, const char *base, const char *key, int is_id, ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return invalid(err, base, key, "is required");
    if (!json_is_string(v))
        return invalid(err, base, key, "must be a string");
    if (is_id && (json_string_length(v) == 0 || json_string_length(v) > ID_MAX_BYTES))
        return invalid(err, base, key, "must be a non-empty id of at most 255 bytes");
    return 0;
}

/* Optional string-or-null field: a null is dropped (null omission). */
static int opt_string(json_t *obj, const char *base, const char *key, ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        json_object_del(obj, key);
        return 0;
    }
    return json_is_string(v) ? 0 : invalid(err, base, key, "must be a string or null");
}

/* Optional object field: absent gets `fill_default` ({}) when asked to. */
static int opt_object(json_t *obj, const char *base, const char *key, int fill_default, ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (fill_default)
            json_object_set_new(obj, key, json_object());
        return 0;
    }
    return json_is_object(v) ? 0 : invalid(err, base, key, "must be an object");
}

static int need_object(json_t *obj, const char *base, const char *key, ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return invalid(err, base, key, "is required");
    return json_is_object(v) ? 0 : invalid(err, base, key, "must be an object");
}

static int opt_bool(json_t *obj, const char *base, const char *key, int def, ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        json_object_set_new(obj, key, json_boolean(def));
        return 0;
    }
    return json_is_boolean(v) ? 0 : invalid(err, base, key, "must be a boolean");
}

/* Required array whose elements are all strings. */
static int string_array(json_t *arr, const char *base, const char *key, ck_proto_error_t *err)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr))
        return invalid(err, base, key, "must be an array of strings");
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            char path[PATH_MAX_LEN];
            snprintf(path, sizeof(path), "%s.%s[%zu]", base, key, i);
            return invalid(err, path, NULL, "must be a string");
        }
    }
    return 0;
}

/* String enum with an optional default (NULL = required). */
static int enum_field(json_t *obj, const char *base, const char *key, const char *const *allowed, const char *def,
                      ck_proto_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (def == NULL)
            return invalid(err, base, key, "is required");
        json_object_set_new(obj, key, json_string(def));
        return 0;
    }
    if (json_is_string(v)) {
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(json_string_value(v), *a) == 0)
                return 0;
        }
    }
    char what[96];
    snprintf(what, sizeof(what), "must be one of %s%s%s", allowed[0], allowed[1] ? ", " : "",
             allowed[1] ? allowed[1] : "");
    return invalid(err, base, key, what);
}

/* UTF-8 characters (not bytes) of a valid UTF-8 string. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* --- shared sub-shapes -------------------------------------------------- */

static int check_text_part(json_t *part, const char *path, ck_proto_error_t *err)
{
    return need_string(part, path, "text", 0, err);
}

static int check_tag_part(json_t *part, const char *path, ck_proto_error_t *err)
{
    if (need_string(part, path, "id", 0, err) || need_string(part, path, "text", 0, err))
        return -1;
    if (opt_object(part, path, "data", 1, err) || opt_string(part, path, "group", err))
        return -1;
    return opt_bool(part, path, "interactive", 0, err);
}

static int check_content(json_t *content, const char *base, ck_proto_error_t *err)
{
    size_t i;
    json_t *part;
    if (!json_is_array(content))
        return invalid(err, base, "content", content ? "must be an array" : "is required");
    json_array_foreach(content, i, part)
    {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof(path), "%s.content[%zu]", base, i);
        if (!json_is_object(part))
            return invalid(err, path, NULL, "must be an object");
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type != NULL && strcmp(type, "input_text") == 0) {
            if (check_text_part(part, path, err))
                return -1;
        } else if (type != NULL && strcmp(type, "input_tag") == 0) {
            if (check_tag_part(part, path, err))
                return -1;
        } else {
            return invalid(err, path, "type", "must be one of input_text, input_tag");
        }
    }
    return 0;
}

static int check_inference_options(json_t *input, const char *base, ck_proto_error_t *err)
{
    char path[PATH_MAX_LEN];
    if (need_object(input, base, "inference_options", err))
        return -1;
    json_t *opts = json_object_get(input, "inference_options");
    snprintf(path, sizeof(path), "%s.inference_options", base);
    json_t *tool = json_object_get(opts, "tool_choice");
    if (tool != NULL && json_is_null(tool)) {
        json_object_del(opts, "tool_choice");
    } else if (tool != NULL) {
        if (!json_is_object(tool))
            return invalid(err, path, "tool_choice", "must be an object or null");
        char tpath[PATH_MAX_LEN + 16];
        snprintf(tpath, sizeof(tpath), "%s.tool_choice", path);
        if (need_string(tool, tpath, "id", 0, err))
            return -1;
    }
    return opt_string(opts, path, "model", err);
}

/* Total characters of a user message's text (parts and quoted text). */
static int check_text_length(json_t *input, const char *base, const ck_proto_limits_t *limits, ck_proto_error_t *err)
{
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(json_object_get(input, "content"), i, part)
    {
        json_t *text = json_object_get(part, "text");
        total += utf8_chars(json_string_value(text), json_string_length(text));
    }
    json_t *quoted = json_object_get(input, "quoted_text");
    size_t quoted_chars = quoted ? utf8_chars(json_string_value(quoted), json_string_length(quoted)) : 0;
    if (total > limits->max_text_chars || quoted_chars > limits->max_text_chars)
        return ck_proto_error_set(err, 413, "too_large", "%s text is longer than %zu characters", base,
                                  limits->max_text_chars);
    return 0;
}

/* UserMessageInput (docs/protocol.md, "Shared shapes") at params.input. */
static int check_user_input(json_t *params, const ck_proto_limits_t *limits, ck_proto_error_t *err)
{
    static const char base[] = "params.input";
    if (need_object(params, "params", "input", err))
        return -1;
    json_t *input = json_object_get(params, "input");
    if (check_content(json_object_get(input, "content"), base, err))
        return -1;
    json_t *att = json_object_get(input, "attachments");
    if (att == NULL || json_is_null(att))
        return invalid(err, base, "attachments", "is required");
    if (string_array(att, base, "attachments", err) || opt_string(input, base, "quoted_text", err))
        return -1;
    if (check_inference_options(input, base, err))
        return -1;
    return check_text_length(input, base, limits, err);
}

/* limit / order / after of the list requests (docs/protocol.md, "Pagination"). */
static int check_paging(json_t *params, const ck_proto_limits_t *limits, ck_proto_error_t *err)
{
    static const char *const orders[] = {"asc", "desc", NULL};
    json_t *limit = json_object_get(params, "limit");
    json_int_t n = DEFAULT_PAGE_LIMIT;
    if (limit != NULL && !json_is_null(limit)) {
        if (!json_is_integer(limit))
            return invalid(err, "params", "limit", "must be an integer or null");
        n = json_integer_value(limit);
        if (n < 0)
            return invalid(err, "params", "limit", "must not be negative");
        if (n == 0)
            n = DEFAULT_PAGE_LIMIT;
        if (n > limits->max_page_limit)
            n = limits->max_page_limit;
    }
    json_object_set_new(params, "limit", json_integer(n));
    if (enum_field(params, "params", "order", orders, "desc", err))
        return -1;
    json_t *after = json_object_get(params, "after");
    if (after != NULL && !json_is_null(after) && (!json_is_string(after) || json_string_length(after) == 0))
        return invalid(err, "params", "after", "must be a non-empty string or null");
    return opt_string(params, "params", "after", err);
}

/* --- one checker per request type --------------------------------------- */

static int check_create(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    return check_user_input(p, l, err);
}

static int check_add_user_message(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    return need_string(p, "params", "thread_id", 1, err) || check_user_input(p, l, err) ? -1 : 0;
}

static int check_tool_output(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    if (need_string(p, "params", "thread_id", 1, err))
        return -1;
    return json_object_get(p, "result") ? 0 : invalid(err, "params", "result", "is required (it may be null)");
}

static int check_answer(json_t *answer, const char *path, ck_proto_error_t *err)
{
    if (!json_is_object(answer))
        return invalid(err, path, NULL, "must be an object");
    json_t *values = json_object_get(answer, "values");
    if (values == NULL || json_is_null(values))
        json_object_set_new(answer, "values", json_array());
    else if (string_array(values, path, "values", err))
        return -1;
    return opt_bool(answer, path, "skipped", 0, err);
}

static int check_structured_input(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    static const char *const statuses[] = {"answered", "skipped", NULL};
    static const char base[] = "params.input";
    (void)l;
    if (need_string(p, "params", "thread_id", 1, err) || need_string(p, "params", "item_id", 1, err) ||
        need_object(p, "params", "input", err))
        return -1;
    json_t *input = json_object_get(p, "input");
    if (enum_field(input, base, "status", statuses, "answered", err) || opt_object(input, base, "answers", 1, err))
        return -1;
    const char *qid;
    json_t *answer;
    json_object_foreach(json_object_get(input, "answers"), qid, answer)
    {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof(path), "%s.answers.%.40s", base, qid);
        ck_proto_utf8_trim(path);
        if (check_answer(answer, path, err))
            return -1;
    }
    return 0;
}

static int check_thread_item(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    return need_string(p, "params", "thread_id", 1, err) || need_string(p, "params", "item_id", 1, err) ? -1 : 0;
}

static int check_custom_action(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    if (need_string(p, "params", "thread_id", 1, err))
        return -1;
    json_t *item = json_object_get(p, "item_id");
    if (item != NULL && !json_is_null(item) && (!json_is_string(item) || json_string_length(item) == 0))
        return invalid(err, "params", "item_id", "must be a non-empty string or null");
    if (opt_string(p, "params", "item_id", err) || need_object(p, "params", "action", err))
        return -1;
    return need_string(json_object_get(p, "action"), "params.action", "type", 0, err);
}

static int check_thread_only(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    return need_string(p, "params", "thread_id", 1, err);
}

static int check_threads_update(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    return need_string(p, "params", "thread_id", 1, err) || need_string(p, "params", "title", 0, err) ? -1 : 0;
}

static int check_items_list(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    return need_string(p, "params", "thread_id", 1, err) || check_paging(p, l, err) ? -1 : 0;
}

static int check_feedback(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    static const char *const kinds[] = {"positive", "negative", NULL};
    (void)l;
    if (need_string(p, "params", "thread_id", 1, err))
        return -1;
    json_t *ids = json_object_get(p, "item_ids");
    if (ids == NULL || json_is_null(ids))
        return invalid(err, "params", "item_ids", "is required");
    if (string_array(ids, "params", "item_ids", err))
        return -1;
    return enum_field(p, "params", "kind", kinds, NULL, err);
}

static int check_attachment_create(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    if (need_string(p, "params", "name", 0, err) || need_string(p, "params", "mime_type", 0, err))
        return -1;
    json_t *size = json_object_get(p, "size");
    if (size == NULL || json_is_null(size))
        return invalid(err, "params", "size", "is required");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return invalid(err, "params", "size", "must be a non-negative integer");
    return 0;
}

static int check_attachment_delete(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    return need_string(p, "params", "attachment_id", 1, err);
}

static int check_transcribe(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    (void)l;
    return need_string(p, "params", "audio_base64", 0, err) || need_string(p, "params", "mime_type", 0, err) ? -1 : 0;
}

static int check_threads_list(json_t *p, const ck_proto_limits_t *l, ck_proto_error_t *err)
{
    return check_paging(p, l, err);
}

/* Indexed by ck_req_type_t. */
static const type_row_t TYPES[CK_REQ_TYPE_COUNT] = {
    [CK_REQ_THREADS_CREATE] = {"threads.create", 1, check_create, NULL},
    [CK_REQ_THREADS_ADD_USER_MESSAGE] = {"threads.add_user_message", 1, check_add_user_message, NULL},
    [CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT] = {"threads.add_client_tool_output", 1, check_tool_output, NULL},
    [CK_REQ_THREADS_ADD_STRUCTURED_INPUT] = {"threads.add_structured_input", 1, check_structured_input, NULL},
    [CK_REQ_THREADS_RETRY_AFTER_ITEM] = {"threads.retry_after_item", 1, check_thread_item, NULL},
    [CK_REQ_THREADS_CUSTOM_ACTION] = {"threads.custom_action", 1, check_custom_action, NULL},
    [CK_REQ_THREADS_GET_BY_ID] = {"threads.get_by_id", 0, check_thread_only, "threads.get_by_id"},
    [CK_REQ_THREADS_LIST] = {"threads.list", 0, check_threads_list, "threads.list"},
    [CK_REQ_THREADS_UPDATE] = {"threads.update", 0, check_threads_update, "threads.update"},
    [CK_REQ_THREADS_DELETE] = {"threads.delete", 0, check_thread_only, "threads.delete"},
    [CK_REQ_ITEMS_LIST] = {"items.list", 0, check_items_list, "items.list"},
    [CK_REQ_ITEMS_FEEDBACK] = {"items.feedback", 0, check_feedback, "items.feedback"},
    [CK_REQ_ATTACHMENTS_CREATE] = {"attachments.create", 0, check_attachment_create, NULL},
    [CK_REQ_ATTACHMENTS_DELETE] = {"attachments.delete", 0, check_attachment_delete, "attachments.delete"},
    [CK_REQ_INPUT_TRANSCRIBE] = {"input.transcribe", 0, check_transcribe, NULL},
    [CK_REQ_THREADS_SYNC_CUSTOM_ACTION] = {"threads.sync_custom_action", 0, check_custom_action,
                                           "threads.sync_custom_action"},
};

const char *ck_proto_store_op(ck_req_type_t type)
{
    return (unsigned)type < CK_REQ_TYPE_COUNT ? TYPES[type].store_op : NULL;
}

const char *ck_proto_type_name(ck_req_type_t type)
{
    return (unsigned)type < CK_REQ_TYPE_COUNT ? TYPES[type].name : NULL;
}

/* --- body-level guards -------------------------------------------------- */

/* Maximum [ / { nesting of the raw JSON text, ignoring brackets in strings. */
static int raw_depth_exceeds(const char *body, size_t len, int max_depth)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/* Appends ".key" (at most 40 bytes of it) or "[i]" to `path`. */
static void path_push(char *path, size_t cap, const char *key, size_t index)
{
    size_t used = strlen(path);
    if (key != NULL)
        snprintf(path + used, cap - used, "%s%.40s", used ? "." : "", key);
    else
        snprintf(path + used, cap - used, "[%zu]", index);
    ck_proto_utf8_trim(path);
}

/* Reals the store cannot give back: PostgreSQL prints a jsonb number
 * without exponent, so 1e20 comes back as an integer literal beyond int64,
 * which jansson refuses.  Integers that large are refused by jansson here. */
#define REAL_STORABLE_LIMIT 9223372036854775808.0 /* 2^63 */

/* What find_bad_value() found. */
typedef enum { BAD_NONE, BAD_NUL, BAD_REAL } bad_value_t;

/* Finds a string holding a NUL character or a real of magnitude >= 2^63;
 * fills `path` with its location. */
static bad_value_t find_bad_value(const json_t *v, char *path, size_t cap)
{
    size_t used = strlen(path), i;
    const char *key;
    json_t *child;
    bad_value_t found = BAD_NONE;
    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v) ? BAD_NUL : BAD_NONE;
    if (json_is_real(v))
        return fabs(json_real_value(v)) >= REAL_STORABLE_LIMIT ? BAD_REAL : BAD_NONE;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child)
        {
            path_push(path, cap, key, 0);
            if ((found = find_bad_value(child, path, cap)) != BAD_NONE)
                return found;
            path[used] = '\0';
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            path_push(path, cap, NULL, i);
            if ((found = find_bad_value(child, path, cap)) != BAD_NONE)
                return found;
            path[used] = '\0';
        }
    }
    return BAD_NONE;
}

static json_t *load_body(const char *body, size_t len, const ck_proto_limits_t *limits, ck_proto_error_t *err)
{
    json_error_t jerr;
    if (body == NULL || len == 0) {
        ck_proto_error_set(err, 400, "invalid_json", "request body is empty");
        return NULL;
    }
    if (raw_depth_exceeds(body, len, limits->max_depth)) {
        ck_proto_error_set(err, 400, "too_deep", "request body is nested deeper than %d levels", limits->max_depth);
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (root != NULL)
        return root;
    switch (json_error_code(&jerr)) {
    case json_error_invalid_utf8:
        ck_proto_error_set(err, 400, "invalid_utf8", "request body is not valid UTF-8 (at byte %d)", jerr.position);
        break;
    case json_error_null_byte_in_key:
        ck_proto_error_set(err, 400, "invalid_json", "an object key contains a NUL character (at byte %d)",
                           jerr.position);
        break;
    default:
        ck_proto_error_set(err, 400, "invalid_json", "request body is not valid JSON: %s (line %d, column %d)",
                           jerr.text, jerr.line, jerr.column);
    }
    return NULL;
}

static int find_type(const char *name, ck_req_type_t *out)
{
    for (int t = 0; t < CK_REQ_TYPE_COUNT; t++) {
        if (strcmp(TYPES[t].name, name) == 0) {
            *out = (ck_req_type_t)t;
            return 0;
        }
    }
    return -1;
}

/* Envelope checks: object body, known type, params object, metadata. */
static int check_envelope(json_t *root, const ck_proto_limits_t *limits, ck_req_type_t *type, ck_proto_error_t *err)
{
    char path[PATH_MAX_LEN] = "";
    if (!json_is_object(root))
        return ck_proto_error_set(err, 400, "invalid_request", "request body must be a JSON object");
    bad_value_t bad = find_bad_value(root, path, sizeof(path));
    if (bad == BAD_NUL)
        return ck_proto_error_set(err, 400, "invalid_params", "%s must not contain NUL characters", path);
    if (bad == BAD_REAL)
        return ck_proto_error_set(err, 400, "invalid_params", "%s is a number too large to store (limit 2^63)", path);
    json_t *tname = json_object_get(root, "type");
    if (!json_is_string(tname))
        return ck_proto_error_set(err, 400, "invalid_request", "type is required and must be a string");
    if (find_type(json_string_value(tname), type))
        return ck_proto_error_set(err, 400, "unknown_type", "unknown request type \"%.64s\"", json_string_value(tname));
    json_t *params = json_object_get(root, "params");
    if (params == NULL || json_is_null(params))
        return ck_proto_error_set(err, 400, "invalid_params", "params is required");
    if (!json_is_object(params))
        return ck_proto_error_set(err, 400, "invalid_params", "params must be an object");
    json_t *meta = json_object_get(root, "metadata");
    if (meta != NULL && !json_is_null(meta) && !json_is_object(meta))
        return ck_proto_error_set(err, 400, "invalid_request", "metadata must be an object");
    if (json_is_object(meta) && json_dumpb(meta, NULL, 0, JSON_COMPACT) > limits->max_metadata_bytes)
        return ck_proto_error_set(err, 413, "too_large", "metadata is larger than %zu bytes",
                                  limits->max_metadata_bytes);
    return 0;
}

int ck_proto_parse_request(const char *body, size_t len, const ck_proto_limits_t *limits, ck_request_t *out,
                           ck_proto_error_t *err)
{
    ck_proto_limits_t defaults;
    ck_req_type_t type = CK_REQ_THREADS_CREATE;
    memset(out, 0, sizeof(*out));
    if (limits == NULL) {
        ck_proto_limits_default(&defaults);
        limits = &defaults;
    }
    json_t *root = load_body(body, len, limits, err);
    if (root == NULL)
        return -1;
    if (check_envelope(root, limits, &type, err) || TYPES[type].check(json_object_get(root, "params"), limits, err)) {
        json_decref(root);
        return -1;
    }
    json_t *meta = json_object_get(root, "metadata");
    out->type = type;
    out->type_name = TYPES[type].name;
    out->streaming = TYPES[type].streaming;
    out->root = root;
    out->params = json_object_get(root, "params");
    out->metadata = json_is_object(meta) ? meta : NULL;
    return 0;
}

void ck_request_free(ck_request_t *req)
{
    if (req == NULL)
        return;
    json_decref(req->root);
    memset(req, 0, sizeof(*req));
}
