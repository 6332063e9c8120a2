/*
 * assistants.c - the assistants registry (see assistants.h): parsing and
 * checking the CHATKITD_ASSISTANTS file, ${VAR} expansion, look-ups, the
 * public list of GET /assistants, and the argument check of tool calls
 * against their `parameters` schema.
 *
 * Every refusal names the file and a JSON path ("$.tools[0].timeout_ms")
 * so that a typo is found without reading the code.  Unknown keys are
 * refused too: a misspelt "instuctions" would otherwise silently fall back
 * to the default prompt.
 */
#include "agent/assistants.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/file.h"
#include "base/log.h"
#include "base/strbuf.h"

#define CONFIG_MAX_BYTES (4u << 20)
#define ID_MAX 64

typedef struct parse_ctx {
    const char *path;
    char *err;
    size_t err_len;
} parse_ctx_t;

/* Formats "<file>: <json path>: <message>" into the error buffer; returns -1. */
static int fail(parse_ctx_t *ctx, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parse_ctx_t *ctx, const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ctx->err, ctx->err_len, "%s: %s: %s", ctx->path, where, msg);
    return -1;
}

/* --- ${VAR} expansion ---------------------------------------------------------- */

/* Replaces every ${NAME} in `s` by the environment variable NAME
 * (ck_env_raw: names chosen by the file, not server settings).  Returns a malloc'd
 * string, or NULL after fail() when a variable is unset. */
static char *expand(parse_ctx_t *ctx, const char *where, const char *s)
{
    ck_strbuf_t out = {0};
    ck_strbuf_reserve(&out, strlen(s));
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = p + 2;
            while (*end == '_' || isalnum((unsigned char)*end))
                end++;
            if (*end == '}' && end > p + 2 && !isdigit((unsigned char)p[2])) {
                char name[128];
                size_t n = (size_t)(end - p - 2);
                if (n >= sizeof name) {
                    free(out.p);
                    fail(ctx, where, "variable name too long");
                    return NULL;
                }
                memcpy(name, p + 2, n);
                name[n] = '\0';
                const char *value = ck_env_raw(name);
                if (value == NULL) {
                    free(out.p);
                    fail(ctx, where, "environment variable %s is not set", name);
                    return NULL;
                }
                ck_strbuf_adds(&out, value);
                p = end + 1;
                continue;
            }
        }
        ck_strbuf_addc(&out, *p++);
    }
    return ck_strbuf_take(&out); /* NULL when out of memory */
}

/* Expands every string value of `v` in place (keys are left alone). */
static int expand_tree(parse_ctx_t *ctx, json_t *v, const char *where)
{
    char sub[256];
    if (json_is_string(v)) {
        if (strstr(json_string_value(v), "${") == NULL)
            return 0;
        char *s = expand(ctx, where, json_string_value(v));
        if (s == NULL)
            return -1;
        int rc = json_string_set(v, s);
        free(s);
        return rc == 0 ? 0 : fail(ctx, where, "the expanded value is not valid UTF-8");
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            if (expand_tree(ctx, json_array_get(v, i), sub) < 0)
                return -1;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *value;
        json_object_foreach(v, key, value)
        {
            snprintf(sub, sizeof sub, "%s.%s", where, key);
            if (expand_tree(ctx, value, sub) < 0)
                return -1;
        }
    }
    return 0;
}

/* --- field readers ----------------------------------------------------------- */

/* Refuses keys of `obj` not in the NULL-terminated `allowed`. */
static int only_keys(parse_ctx_t *ctx, const json_t *obj, const char *where, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            return fail(ctx, where, "unknown key \"%s\"", key);
    }
    return 0;
}

/* An optional string member: NULL when absent; -1 after fail() when not a string. */
static int opt_string(parse_ctx_t *ctx, const json_t *obj, const char *key, const char *where, char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return fail(ctx, where, "\"%s\" must be a string", key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : fail(ctx, where, "out of memory");
}

/* An optional array of non-empty strings; NULL when absent. */
static int opt_strings(parse_ctx_t *ctx, const json_t *obj, const char *key, const char *where, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return fail(ctx, where, "\"%s\" must be an array of strings", key);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s[%zu]", where, key, i);
            return fail(ctx, sub, "must be a non-empty string");
        }
    }
    *out = json_incref(v);
    return 0;
}

/* Ids and tool names: 1-64 of [A-Za-z0-9_.-] (tool names also fit the
 * model APIs' function-name rule, which excludes '.'). */
static int valid_name(const char *s, int allow_dot)
{
    size_t n = strlen(s);
    if (n == 0 || n > ID_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && !(allow_dot && *s == '.'))
            return 0;
    return 1;
}

/* --- tools ------------------------------------------------------------------------ */

static void tool_clear(ck_tool_def_t *t)
{
    free(t->name);
    free(t->description);
    json_decref(t->parameters);
    free(t->url);
    for (char **h = t->headers; h && *h; h++)
        free(*h);
    free(t->headers);
}

static int parse_headers(parse_ctx_t *ctx, ck_tool_def_t *t, const json_t *headers, const char *where)
{
    char sub[256];
    if (headers == NULL)
        headers = json_object();
    else
        json_incref((json_t *)headers);
    int rc = 0;
    if (!json_is_object(headers))
        rc = fail(ctx, where, "\"headers\" must be an object of strings");
    size_t n = rc == 0 ? json_object_size(headers) : 0, i = 0;
    t->headers = rc == 0 ? calloc(n + 1, sizeof(char *)) : NULL;
    if (rc == 0 && t->headers == NULL)
        rc = fail(ctx, where, "out of memory");
    const char *key;
    json_t *value;
    if (rc == 0)
        json_object_foreach((json_t *)headers, key, value)
        {
            snprintf(sub, sizeof sub, "%s.headers.%s", where, key);
            const char *v = json_string_value(value);
            int bad_name = *key == '\0' || strpbrk(key, ": \t\r\n") != NULL;
            if (rc == 0 && (bad_name || v == NULL || strpbrk(v, "\r\n") != NULL))
                rc = fail(ctx, sub, bad_name ? "not a valid header name" : "must be a string without line breaks");
            if (rc == 0) {
                size_t len = strlen(key) + strlen(v) + 3;
                t->headers[i] = malloc(len);
                if (t->headers[i] == NULL)
                    rc = fail(ctx, sub, "out of memory");
                else
                    snprintf(t->headers[i++], len, "%s: %s", key, v);
            }
        }
    json_decref((json_t *)headers);
    return rc;
}

static int parse_tool(parse_ctx_t *ctx, const json_t *obj, const char *where, ck_tool_def_t *t)
{
    static const char *const keys[] = {"name",    "description", "parameters", "url",
                                       "headers", "timeout_ms",  "client",     NULL};
    if (!json_is_object(obj))
        return fail(ctx, where, "a tool must be an object");
    if (only_keys(ctx, obj, where, keys) < 0 || opt_string(ctx, obj, "name", where, &t->name) < 0 ||
        opt_string(ctx, obj, "description", where, &t->description) < 0 ||
        opt_string(ctx, obj, "url", where, &t->url) < 0)
        return -1;
    if (t->name == NULL || !valid_name(t->name, 0))
        return fail(ctx, where, "\"name\" must be 1-64 characters of A-Z a-z 0-9 _ -");
    if (strcmp(t->name, "search") == 0)
        return fail(ctx, where, "\"search\" is the built-in search tool; choose another name");
    if (t->description == NULL && (t->description = strdup("")) == NULL)
        return fail(ctx, where, "out of memory");
    const json_t *client = json_object_get(obj, "client");
    if (client != NULL && !json_is_boolean(client))
        return fail(ctx, where, "\"client\" must be true or false");
    t->client = json_is_true(client);
    if (t->client && t->url != NULL)
        return fail(ctx, where, "a client tool (\"client\": true) has no \"url\"");
    if (!t->client && (t->url == NULL || (strncmp(t->url, "http://", 7) != 0 && strncmp(t->url, "https://", 8) != 0)))
        return fail(ctx, where, "\"url\" must be an http:// or https:// URL (or set \"client\": true)");
    json_t *params = json_object_get(obj, "parameters");
    if (params == NULL)
        t->parameters = json_pack("{s:s,s:{}}", "type", "object", "properties");
    else if (!json_is_object(params) || !json_is_string(json_object_get(params, "type")) ||
             strcmp(json_string_value(json_object_get(params, "type")), "object") != 0)
        return fail(ctx, where, "\"parameters\" must be a JSON Schema object with \"type\": \"object\"");
    else
        t->parameters = json_deep_copy(params);
    const json_t *props = json_object_get(t->parameters, "properties");
    if (props != NULL && !json_is_object(props))
        return fail(ctx, where, "\"parameters.properties\" must be an object");
    const json_t *timeout = json_object_get(obj, "timeout_ms");
    t->timeout_ms = CK_TOOL_TIMEOUT_DEFAULT_MS;
    if (timeout != NULL) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
            json_integer_value(timeout) > CK_TOOL_TIMEOUT_MAX_MS)
            return fail(ctx, where, "\"timeout_ms\" must be an integer in 1..%d", CK_TOOL_TIMEOUT_MAX_MS);
        t->timeout_ms = (int)json_integer_value(timeout);
    }
    if (t->client && json_object_get(obj, "headers") != NULL)
        return fail(ctx, where, "a client tool has no \"headers\"");
    return parse_headers(ctx, t, json_object_get(obj, "headers"), where);
}

/* --- assistants -------------------------------------------------------------------- */

static void assistant_clear(ck_assistant_t *a)
{
    free(a->id);
    free(a->name);
    free(a->description);
    free(a->instructions);
    free(a->model);
    json_decref(a->examples);
    json_decref(a->sources);
    free(a->tools);
}

static const ck_tool_def_t *find_tool(const ck_assistants_t *r, const char *name)
{
    for (size_t i = 0; i < r->tool_count; i++)
        if (strcmp(r->tools[i].name, name) == 0)
            return &r->tools[i];
    return NULL;
}

static int parse_assistant_tools(parse_ctx_t *ctx, const ck_assistants_t *r, ck_assistant_t *a, const json_t *obj,
                                 const char *where)
{
    char sub[256];
    const json_t *tools = json_object_get(obj, "tools");
    if (tools == NULL) { /* absent: the built-in search, as without a registry */
        a->search = 1;
        return 0;
    }
    if (!json_is_array(tools))
        return fail(ctx, where, "\"tools\" must be an array of tool names");
    a->tools = calloc(json_array_size(tools) + 1, sizeof(*a->tools));
    if (a->tools == NULL)
        return fail(ctx, where, "out of memory");
    for (size_t i = 0; i < json_array_size(tools); i++) {
        snprintf(sub, sizeof sub, "%s.tools[%zu]", where, i);
        const char *name = json_string_value(json_array_get(tools, i));
        if (name == NULL)
            return fail(ctx, sub, "must be a tool name (string)");
        const ck_tool_def_t *t = find_tool(r, name);
        if (strcmp(name, "search") == 0) {
            a->search = 1;
            continue;
        }
        if (t == NULL)
            return fail(ctx, sub, "unknown tool \"%s\" (not \"search\" and not declared in $.tools)", name);
        for (size_t k = 0; k < a->tool_count; k++)
            if (a->tools[k] == t)
                return fail(ctx, sub, "tool \"%s\" is listed twice", name);
        a->tools[a->tool_count++] = t;
    }
    return 0;
}

static int parse_assistant(parse_ctx_t *ctx, const ck_assistants_t *r, const json_t *obj, const char *where,
                           ck_assistant_t *a)
{
    static const char *const keys[] = {"id",       "name",  "description", "instructions", "model",
                                       "examples", "tools", "sources",     "default",      NULL};
    if (!json_is_object(obj))
        return fail(ctx, where, "an assistant must be an object");
    if (only_keys(ctx, obj, where, keys) < 0 || opt_string(ctx, obj, "id", where, &a->id) < 0 ||
        opt_string(ctx, obj, "name", where, &a->name) < 0 ||
        opt_string(ctx, obj, "description", where, &a->description) < 0 ||
        opt_string(ctx, obj, "instructions", where, &a->instructions) < 0 ||
        opt_string(ctx, obj, "model", where, &a->model) < 0 ||
        opt_strings(ctx, obj, "examples", where, &a->examples) < 0 ||
        opt_strings(ctx, obj, "sources", where, &a->sources) < 0)
        return -1;
    if (a->id == NULL || !valid_name(a->id, 1))
        return fail(ctx, where, "\"id\" must be 1-64 characters of A-Z a-z 0-9 _ - .");
    if (a->model != NULL && (*a->model == '\0' || strlen(a->model) > 127))
        return fail(ctx, where, "\"model\" must be a non-empty model name of at most 127 bytes");
    if (a->name == NULL && (a->name = strdup(a->id)) == NULL)
        return fail(ctx, where, "out of memory");
    if (a->description == NULL && (a->description = strdup("")) == NULL)
        return fail(ctx, where, "out of memory");
    if (a->examples == NULL && (a->examples = json_array()) == NULL)
        return fail(ctx, where, "out of memory");
    const json_t *def = json_object_get(obj, "default");
    if (def != NULL && !json_is_boolean(def))
        return fail(ctx, where, "\"default\" must be true or false");
    a->is_default = json_is_true(def);
    return parse_assistant_tools(ctx, r, a, obj, where);
}

/* The routing documents of every assistant, as the JSON text the
 * assistants.route op takes: its description and its examples. */
static int route_candidates(parse_ctx_t *ctx, ck_assistants_t *r)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < r->count; i++) {
        const ck_assistant_t *a = &r->list[i];
        json_t *texts = json_deep_copy(a->examples);
        if (texts && *a->description)
            json_array_insert_new(texts, 0, json_string(a->description));
        json_array_append_new(list, json_pack("{s:s,s:o*}", "id", a->id, "texts", texts));
    }
    r->route_candidates = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    return r->route_candidates ? 0 : fail(ctx, "$.assistants", "out of memory");
}

static int parse_root(parse_ctx_t *ctx, json_t *root, ck_assistants_t *r)
{
    static const char *const keys[] = {"assistants", "tools", NULL};
    char where[64];
    if (!json_is_object(root))
        return fail(ctx, "$", "the file must hold a JSON object {\"assistants\": [...], \"tools\": [...]}");
    if (only_keys(ctx, root, "$", keys) < 0 || expand_tree(ctx, root, "$") < 0)
        return -1;
    const json_t *tools = json_object_get(root, "tools");
    if (tools != NULL && !json_is_array(tools))
        return fail(ctx, "$.tools", "must be an array");
    r->tools = calloc(json_array_size(tools) + 1, sizeof(*r->tools));
    if (r->tools == NULL)
        return fail(ctx, "$.tools", "out of memory");
    for (size_t i = 0; i < json_array_size(tools); i++) {
        snprintf(where, sizeof where, "$.tools[%zu]", i);
        if (parse_tool(ctx, json_array_get(tools, i), where, &r->tools[i]) < 0) {
            r->tool_count = i + 1;
            return -1;
        }
        r->tool_count = i + 1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->tools[k].name, r->tools[i].name) == 0)
                return fail(ctx, where, "duplicate tool name \"%s\" (also $.tools[%zu])", r->tools[i].name, k);
    }
    const json_t *list = json_object_get(root, "assistants");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(ctx, "$.assistants", "must be a non-empty array");
    r->list = calloc(json_array_size(list), sizeof(*r->list));
    if (r->list == NULL)
        return fail(ctx, "$.assistants", "out of memory");
    int defaults = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(where, sizeof where, "$.assistants[%zu]", i);
        r->count = i + 1;
        if (parse_assistant(ctx, r, json_array_get(list, i), where, &r->list[i]) < 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->list[k].id, r->list[i].id) == 0)
                return fail(ctx, where, "duplicate assistant id \"%s\" (also $.assistants[%zu])", r->list[i].id, k);
        if (r->list[i].is_default && defaults++ == 0)
            r->default_index = i;
        if (defaults > 1)
            return fail(ctx, where, "a second assistant with \"default\": true (only one may be the default)");
    }
    if (defaults == 0) /* none marked: the first one */
        r->list[0].is_default = 1;
    return route_candidates(ctx, r);
}

ck_assistants_t *ck_assistants_parse(const char *text, size_t len, const char *path, char *err, size_t err_len)
{
    parse_ctx_t ctx = {path ? path : "(assistants)", err, err_len};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, err_len, "%s:%d:%d: not valid JSON: %s", ctx.path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    ck_assistants_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->path = strdup(ctx.path)) == NULL || parse_root(&ctx, root, r) < 0) {
        if (r == NULL || r->path == NULL)
            snprintf(err, err_len, "%s: out of memory", ctx.path);
        ck_assistants_free(r);
        r = NULL;
    }
    json_decref(root);
    return r;
}

ck_assistants_t *ck_assistants_load(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "%s: cannot open the file", path);
        return NULL;
    }
    size_t len = 0;
    char *text = ck_file_read_all(f, CONFIG_MAX_BYTES, &len);
    fclose(f);
    if (text == NULL) {
        snprintf(err, err_len, "%s: cannot read the file (or it is larger than %u bytes)", path, CONFIG_MAX_BYTES);
        return NULL;
    }
    ck_assistants_t *r = ck_assistants_parse(text, len, path, err, err_len);
    free(text);
    return r;
}

void ck_assistants_free(ck_assistants_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++)
        assistant_clear(&r->list[i]);
    for (size_t i = 0; i < r->tool_count; i++)
        tool_clear(&r->tools[i]);
    free(r->list);
    free(r->tools);
    free(r->path);
    free(r->route_candidates);
    free(r);
}

/* --- the process-wide registry ------------------------------------------------------- */

static ck_assistants_t *g_registry;

int ck_assistants_init_from_env(void)
{
    const char *path = ck_env_str("CHATKITD_ASSISTANTS");
    char err[600];
    if (path == NULL || g_registry != NULL)
        return 0;
    g_registry = ck_assistants_load(path, err, sizeof err);
    if (g_registry == NULL) {
        ck_error("config: CHATKITD_ASSISTANTS refused: %s", err);
        return -1;
    }
    const ck_assistant_t *def = ck_assistants_default(g_registry);
    ck_info("assistants: %zu from %s (default \"%s\"), %zu tools", g_registry->count, path, def->id,
            g_registry->tool_count);
    return 0;
}

const ck_assistants_t *ck_assistants_get(void) { return g_registry; }

void ck_assistants_shutdown(void)
{
    ck_assistants_free(g_registry);
    g_registry = NULL;
}

/* --- look-ups ------------------------------------------------------------------------- */

const ck_assistant_t *ck_assistants_find(const ck_assistants_t *r, const char *id)
{
    for (size_t i = 0; r && id && i < r->count; i++)
        if (strcmp(r->list[i].id, id) == 0)
            return &r->list[i];
    return NULL;
}

const ck_assistant_t *ck_assistants_default(const ck_assistants_t *r)
{
    return r && r->count ? &r->list[r->default_index] : NULL;
}

const ck_tool_def_t *ck_assistant_tool(const ck_assistant_t *a, const char *name)
{
    for (size_t i = 0; a && name && i < a->tool_count; i++)
        if (strcmp(a->tools[i]->name, name) == 0)
            return a->tools[i];
    return NULL;
}

json_t *ck_assistants_public(const ck_assistants_t *r)
{
    json_t *data = json_array();
    for (size_t i = 0; r && data && i < r->count; i++) {
        const ck_assistant_t *a = &r->list[i];
        json_array_append_new(data, json_pack("{s:s,s:s,s:s,s:b}", "id", a->id, "name", a->name, "description",
                                              a->description, "default", a->is_default));
    }
    return data ? json_pack("{s:o}", "data", data) : NULL;
}

int ck_assistants_model_allowed(const ck_assistants_t *r, const char *model, int allow_override)
{
    return model == NULL || *model == '\0' || ck_assistants_find(r, model) != NULL || allow_override;
}

/* --- argument check -------------------------------------------------------------------- */

static int type_is(const json_t *v, const char *type)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    return 1; /* unknown type names are not ours to refuse */
}

static int check_value(const json_t *schema, const json_t *v, const char *where, char *err, size_t err_len);

static int check_type(const json_t *schema, const json_t *v, const char *where, char *err, size_t err_len)
{
    const json_t *type = json_object_get(schema, "type");
    if (json_is_string(type) && !type_is(v, json_string_value(type))) {
        snprintf(err, err_len, "%s: expected %s", where, json_string_value(type));
        return -1;
    }
    if (json_is_array(type)) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(type) && !ok; i++)
            ok = json_is_string(json_array_get(type, i)) && type_is(v, json_string_value(json_array_get(type, i)));
        if (!ok) {
            snprintf(err, err_len, "%s: has the wrong type", where);
            return -1;
        }
    }
    const json_t *allowed = json_object_get(schema, "enum");
    if (json_is_array(allowed)) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(allowed) && !found; i++)
            found = json_equal((json_t *)v, json_array_get(allowed, i));
        if (!found) {
            snprintf(err, err_len, "%s: not one of the allowed values", where);
            return -1;
        }
    }
    return 0;
}

static int check_bounds(const json_t *schema, const json_t *v, const char *where, char *err, size_t err_len)
{
    const json_t *min = json_object_get(schema, "minimum"), *max = json_object_get(schema, "maximum");
    if (json_is_number(v) && ((json_is_number(min) && json_number_value(v) < json_number_value(min)) ||
                              (json_is_number(max) && json_number_value(v) > json_number_value(max)))) {
        snprintf(err, err_len, "%s: out of range", where);
        return -1;
    }
    const json_t *minl = json_object_get(schema, "minLength"), *maxl = json_object_get(schema, "maxLength");
    if (json_is_string(v)) {
        json_int_t n = 0; /* characters, not bytes */
        for (const unsigned char *p = (const unsigned char *)json_string_value(v); *p; p++)
            n += (*p & 0xC0) != 0x80;
        if ((json_is_integer(minl) && n < json_integer_value(minl)) ||
            (json_is_integer(maxl) && n > json_integer_value(maxl))) {
            snprintf(err, err_len, "%s: length out of range", where);
            return -1;
        }
    }
    return 0;
}

static int check_object(const json_t *schema, const json_t *v, const char *where, char *err, size_t err_len)
{
    char sub[256];
    const json_t *props = json_object_get(schema, "properties");
    const json_t *required = json_object_get(schema, "required");
    const json_t *extra = json_object_get(schema, "additionalProperties");
    for (size_t i = 0; i < json_array_size(required); i++) {
        const char *name = json_string_value(json_array_get(required, i));
        if (name && json_object_get(v, name) == NULL) {
            snprintf(err, err_len, "%s.%s: required", where, name);
            return -1;
        }
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        snprintf(sub, sizeof sub, "%s.%.64s", where, key);
        const json_t *ps = json_object_get(props, key);
        if (ps == NULL && json_is_false(extra)) {
            snprintf(err, err_len, "%s: unknown argument", sub);
            return -1;
        }
        if (ps == NULL && json_is_object(extra))
            ps = extra;
        if (json_is_object(ps) && check_value(ps, value, sub, err, err_len) < 0)
            return -1;
    }
    return 0;
}

static int check_value(const json_t *schema, const json_t *v, const char *where, char *err, size_t err_len)
{
    char sub[256];
    if (check_type(schema, v, where, err, err_len) < 0 || check_bounds(schema, v, where, err, err_len) < 0)
        return -1;
    if (json_is_object(v))
        return check_object(schema, v, where, err, err_len);
    const json_t *items = json_object_get(schema, "items");
    if (json_is_array(v) && json_is_object(items))
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            if (check_value(items, json_array_get(v, i), sub, err, err_len) < 0)
                return -1;
        }
    return 0;
}

int ck_tool_args_check(const json_t *schema, const json_t *args, char *err, size_t err_len)
{
    if (!json_is_object(args)) {
        snprintf(err, err_len, "$: the arguments must be a JSON object");
        return -1;
    }
    return check_value(schema, args, "$", err, err_len);
}
