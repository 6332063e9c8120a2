/*
 * test_proto_request.c - unit tests of ck_proto_parse_request()
 * (src/protocol/request.c): every request type accepted in its minimal and
 * full forms, defaults and normalization (limit/order/after, tag data and
 * interactive, structured-input defaults), and every rejection with its
 * status, code and the field it names, including the input guards (invalid
 * UTF-8, NUL characters, nesting depth, text length, metadata size).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"
#include "check_main.h"

#define UI                                                                                                             \
    "\"input\":{\"content\":[{\"type\":\"input_text\",\"text\":\"Hi\"}],\"attachments\":[],\"inference_options\":{}}"

/* Parses `body` with default limits and asserts success; returns the request. */
static ck_request_t parse_ok(const char *body)
{
    ck_request_t req;
    ck_proto_error_t err;
    int rc = ck_proto_parse_request(body, strlen(body), NULL, &req, &err);
    ck_assert_msg(rc == 0, "rejected %s: %d %s %s", body, err.http_status, err.code, err.message);
    return req;
}

/* Asserts that `body` is rejected with `status`, `code` and a message containing `needle`. */
static void parse_fails(const char *body, size_t len, const ck_proto_limits_t *limits, int status, const char *code,
                        const char *needle)
{
    ck_request_t req;
    ck_proto_error_t err;
    memset(&err, 0, sizeof(err));
    int rc = ck_proto_parse_request(body, len, limits, &req, &err);
    ck_assert_msg(rc == -1, "accepted %s", body);
    ck_assert_ptr_null(req.root);
    ck_assert_int_eq(err.http_status, status);
    ck_assert_str_eq(err.code, code);
    ck_assert_msg(strstr(err.message, needle) != NULL, "message \"%s\" lacks \"%s\"", err.message, needle);
}

static void fails(const char *body, int status, const char *code, const char *needle)
{
    parse_fails(body, strlen(body), NULL, status, code, needle);
}

/* --- every type, minimal valid form --------------------------------------- */

static const struct {
    const char *body;
    ck_req_type_t type;
    int streaming;
} valid[] = {
    {"{\"type\":\"threads.create\",\"params\":{" UI "}}", CK_REQ_THREADS_CREATE, 1},
    {"{\"type\":\"threads.add_user_message\",\"params\":{\"thread_id\":\"thr_1\"," UI "}}",
     CK_REQ_THREADS_ADD_USER_MESSAGE, 1},
    {"{\"type\":\"threads.add_client_tool_output\",\"params\":{\"thread_id\":\"thr_1\",\"result\":null}}",
     CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT, 1},
    {"{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\",\"input\":{}}}",
     CK_REQ_THREADS_ADD_STRUCTURED_INPUT, 1},
    {"{\"type\":\"threads.retry_after_item\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"m\"}}",
     CK_REQ_THREADS_RETRY_AFTER_ITEM, 1},
    {"{\"type\":\"threads.custom_action\",\"params\":{\"thread_id\":\"t\",\"action\":{\"type\":\"go\"}}}",
     CK_REQ_THREADS_CUSTOM_ACTION, 1},
    {"{\"type\":\"threads.get_by_id\",\"params\":{\"thread_id\":\"t\"}}", CK_REQ_THREADS_GET_BY_ID, 0},
    {"{\"type\":\"threads.list\",\"params\":{}}", CK_REQ_THREADS_LIST, 0},
    {"{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"x\"}}", CK_REQ_THREADS_UPDATE, 0},
    {"{\"type\":\"threads.delete\",\"params\":{\"thread_id\":\"t\"}}", CK_REQ_THREADS_DELETE, 0},
    {"{\"type\":\"items.list\",\"params\":{\"thread_id\":\"t\"}}", CK_REQ_ITEMS_LIST, 0},
    {"{\"type\":\"items.feedback\",\"params\":{\"thread_id\":\"t\",\"item_ids\":[\"a\"],\"kind\":\"negative\"}}",
     CK_REQ_ITEMS_FEEDBACK, 0},
    {"{\"type\":\"attachments.create\",\"params\":{\"name\":\"a.png\",\"size\":3,\"mime_type\":\"image/png\"}}",
     CK_REQ_ATTACHMENTS_CREATE, 0},
    {"{\"type\":\"attachments.delete\",\"params\":{\"attachment_id\":\"atc_1\"}}", CK_REQ_ATTACHMENTS_DELETE, 0},
    {"{\"type\":\"input.transcribe\",\"params\":{\"audio_base64\":\"AAA=\",\"mime_type\":\"audio/webm\"}}",
     CK_REQ_INPUT_TRANSCRIBE, 0},
    {"{\"type\":\"threads.sync_custom_action\",\"params\":{\"thread_id\":\"t\",\"item_id\":null,"
     "\"action\":{\"type\":\"go\",\"payload\":{\"a\":1}}}}",
     CK_REQ_THREADS_SYNC_CUSTOM_ACTION, 0},
};

START_TEST(test_every_type_valid)
{
    ck_request_t req = parse_ok(valid[_i].body);
    ck_assert_int_eq(req.type, valid[_i].type);
    ck_assert_int_eq(req.streaming, valid[_i].streaming);
    ck_assert_str_eq(req.type_name, ck_proto_type_name(valid[_i].type));
    ck_assert_ptr_nonnull(req.params);
    ck_assert(json_is_object(req.params));
    ck_assert_ptr_null(req.metadata);
    ck_assert_int_eq(ck_proto_store_op(req.type) == NULL,
                     req.streaming || req.type == CK_REQ_ATTACHMENTS_CREATE || req.type == CK_REQ_INPUT_TRANSCRIBE);
    ck_request_free(&req);
    ck_assert_ptr_null(req.root);
    ck_request_free(&req); /* a second free is a no-op */
}
END_TEST

/* Each type with params missing its required field names that field. */
static const struct {
    const char *body;
    const char *needle;
} missing[] = {
    {"{\"type\":\"threads.create\",\"params\":{}}", "params.input is required"},
    {"{\"type\":\"threads.add_user_message\",\"params\":{" UI "}}", "params.thread_id is required"},
    {"{\"type\":\"threads.add_client_tool_output\",\"params\":{\"thread_id\":\"t\"}}", "params.result is required"},
    {"{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"input\":{}}}",
     "params.item_id is required"},
    {"{\"type\":\"threads.retry_after_item\",\"params\":{\"item_id\":\"m\"}}", "params.thread_id is required"},
    {"{\"type\":\"threads.custom_action\",\"params\":{\"thread_id\":\"t\"}}", "params.action is required"},
    {"{\"type\":\"threads.get_by_id\",\"params\":{}}", "params.thread_id is required"},
    {"{\"type\":\"threads.list\",\"params\":{\"limit\":\"5\"}}", "params.limit must be an integer"},
    {"{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":null}}", "params.title is required"},
    {"{\"type\":\"threads.delete\",\"params\":{\"thread_id\":7}}", "params.thread_id must be a string"},
    {"{\"type\":\"items.list\",\"params\":{\"limit\":5}}", "params.thread_id is required"},
    {"{\"type\":\"items.feedback\",\"params\":{\"thread_id\":\"t\",\"kind\":\"positive\"}}",
     "params.item_ids is required"},
    {"{\"type\":\"attachments.create\",\"params\":{\"name\":\"a\",\"mime_type\":\"x/y\"}}", "params.size is required"},
    {"{\"type\":\"attachments.delete\",\"params\":{}}", "params.attachment_id is required"},
    {"{\"type\":\"input.transcribe\",\"params\":{\"audio_base64\":\"A\"}}", "params.mime_type is required"},
    {"{\"type\":\"threads.sync_custom_action\",\"params\":{\"thread_id\":\"t\",\"action\":{}}}",
     "params.action.type is required"},
};

START_TEST(test_every_type_missing_field) { fails(missing[_i].body, 400, "invalid_params", missing[_i].needle); }
END_TEST

/* --- envelope ------------------------------------------------------------- */

START_TEST(test_envelope_errors)
{
    fails("", 400, "invalid_json", "empty");
    fails("{\"type\":", 400, "invalid_json", "not valid JSON");
    fails("{} trailing", 400, "invalid_json", "not valid JSON");
    fails("[1,2]", 400, "invalid_request", "must be a JSON object");
    fails("\"threads.list\"", 400, "invalid_request", "must be a JSON object");
    fails("{\"params\":{}}", 400, "invalid_request", "type is required");
    fails("{\"type\":3,\"params\":{}}", 400, "invalid_request", "type is required");
    fails("{\"type\":\"threads.nope\",\"params\":{}}", 400, "unknown_type", "threads.nope");
    fails("{\"type\":\"threads.list\"}", 400, "invalid_params", "params is required");
    fails("{\"type\":\"threads.list\",\"params\":null}", 400, "invalid_params", "params is required");
    fails("{\"type\":\"threads.list\",\"params\":[]}", 400, "invalid_params", "params must be an object");
    fails("{\"type\":\"threads.list\",\"params\":{},\"metadata\":[]}", 400, "invalid_request",
          "metadata must be an object");
    ck_proto_error_t err;
    ck_request_t req;
    ck_assert_int_eq(ck_proto_parse_request(NULL, 0, NULL, &req, &err), -1);
}
END_TEST

START_TEST(test_metadata_and_extra_keys)
{
    ck_request_t req = parse_ok("{\"type\":\"threads.list\",\"params\":{\"zzz\":1},\"metadata\":{\"page\":\"x\"},"
                                "\"extra\":true}");
    ck_assert_ptr_nonnull(req.metadata);
    ck_assert_str_eq(json_string_value(json_object_get(req.metadata, "page")), "x");
    ck_assert_int_eq(json_integer_value(json_object_get(req.params, "zzz")), 1);
    ck_request_free(&req);
    req = parse_ok("{\"type\":\"threads.list\",\"params\":{},\"metadata\":null}");
    ck_assert_ptr_null(req.metadata);
    ck_request_free(&req);
}
END_TEST

/* --- paging normalization ------------------------------------------------- */

static json_int_t limit_of(const char *params)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"type\":\"threads.list\",\"params\":%s}", params);
    ck_request_t req = parse_ok(body);
    json_int_t n = json_integer_value(json_object_get(req.params, "limit"));
    ck_request_free(&req);
    return n;
}

START_TEST(test_paging_defaults_and_clamp)
{
    ck_assert_int_eq(limit_of("{}"), 20);
    ck_assert_int_eq(limit_of("{\"limit\":null}"), 20);
    ck_assert_int_eq(limit_of("{\"limit\":0}"), 20);
    ck_assert_int_eq(limit_of("{\"limit\":7}"), 7);
    ck_assert_int_eq(limit_of("{\"limit\":100}"), 100);
    ck_assert_int_eq(limit_of("{\"limit\":9999}"), 100);
    fails("{\"type\":\"threads.list\",\"params\":{\"limit\":-1}}", 400, "invalid_params",
          "params.limit must not be negative");
    fails("{\"type\":\"threads.list\",\"params\":{\"limit\":1.5}}", 400, "invalid_params", "params.limit");

    ck_proto_limits_t limits;
    ck_proto_limits_default(&limits);
    limits.max_page_limit = 10;
    const char *body = "{\"type\":\"items.list\",\"params\":{\"thread_id\":\"t\",\"limit\":50}}";
    ck_request_t req;
    ck_proto_error_t err;
    ck_assert_int_eq(ck_proto_parse_request(body, strlen(body), &limits, &req, &err), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(req.params, "limit")), 10);
    ck_request_free(&req);
}
END_TEST

START_TEST(test_paging_order_and_after)
{
    ck_request_t req = parse_ok("{\"type\":\"items.list\",\"params\":{\"thread_id\":\"t\",\"after\":null}}");
    ck_assert_str_eq(json_string_value(json_object_get(req.params, "order")), "desc");
    ck_assert_ptr_null(json_object_get(req.params, "after"));
    ck_request_free(&req);
    req = parse_ok("{\"type\":\"items.list\",\"params\":{\"thread_id\":\"t\",\"order\":\"asc\",\"after\":\"m_1\"}}");
    ck_assert_str_eq(json_string_value(json_object_get(req.params, "order")), "asc");
    ck_assert_str_eq(json_string_value(json_object_get(req.params, "after")), "m_1");
    ck_request_free(&req);
    req = parse_ok("{\"type\":\"threads.list\",\"params\":{\"order\":null}}");
    ck_assert_str_eq(json_string_value(json_object_get(req.params, "order")), "desc");
    ck_request_free(&req);
    fails("{\"type\":\"threads.list\",\"params\":{\"order\":\"sideways\"}}", 400, "invalid_params",
          "params.order must be one of asc, desc");
    fails("{\"type\":\"threads.list\",\"params\":{\"after\":5}}", 400, "invalid_params", "params.after");
    fails("{\"type\":\"threads.list\",\"params\":{\"after\":\"\"}}", 400, "invalid_params", "params.after");
}
END_TEST

/* --- UserMessageInput ----------------------------------------------------- */

START_TEST(test_user_input_normalized)
{
    ck_request_t req = parse_ok(
        "{\"type\":\"threads.create\",\"params\":{\"input\":{\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
        "{\"type\":\"input_tag\",\"id\":\"t1\",\"text\":\"Harry\",\"group\":null}],\"attachments\":[\"atc_1\"],"
        "\"quoted_text\":\"\",\"inference_options\":{\"tool_choice\":null,\"model\":\"m\"}}}}");
    json_t *input = json_object_get(req.params, "input");
    json_t *tag = json_array_get(json_object_get(input, "content"), 1);
    ck_assert(json_is_object(json_object_get(tag, "data")));
    ck_assert_int_eq(json_object_size(json_object_get(tag, "data")), 0);
    ck_assert(json_is_false(json_object_get(tag, "interactive")));
    ck_assert_ptr_null(json_object_get(tag, "group"));
    ck_assert_str_eq(json_string_value(json_object_get(input, "quoted_text")), "");
    json_t *opts = json_object_get(input, "inference_options");
    ck_assert_ptr_null(json_object_get(opts, "tool_choice"));
    ck_assert_str_eq(json_string_value(json_object_get(opts, "model")), "m");
    ck_request_free(&req);

    req = parse_ok("{\"type\":\"threads.create\",\"params\":{\"input\":{\"content\":[],\"attachments\":[],"
                   "\"quoted_text\":null,\"inference_options\":{\"tool_choice\":{\"id\":\"search\"}}}}}");
    input = json_object_get(req.params, "input");
    ck_assert_ptr_null(json_object_get(input, "quoted_text"));
    ck_request_free(&req);
}
END_TEST

static const struct {
    const char *input;
    const char *needle;
} bad_inputs[] = {
    {"5", "params.input must be an object"},
    {"{\"attachments\":[],\"inference_options\":{}}", "params.input.content is required"},
    {"{\"content\":{},\"attachments\":[],\"inference_options\":{}}", "params.input.content must be an array"},
    {"{\"content\":[5],\"attachments\":[],\"inference_options\":{}}", "params.input.content[0] must be an object"},
    {"{\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},{\"type\":\"input_image\",\"url\":\"x\"}],"
     "\"attachments\":[],\"inference_options\":{}}",
     "params.input.content[1].type must be one of input_text, input_tag"},
    {"{\"content\":[{\"text\":\"a\"}],\"attachments\":[],\"inference_options\":{}}", "params.input.content[0].type"},
    {"{\"content\":[{\"type\":\"input_text\",\"text\":5}],\"attachments\":[],\"inference_options\":{}}",
     "params.input.content[0].text must be a string"},
    {"{\"content\":[{\"type\":\"input_text\"}],\"attachments\":[],\"inference_options\":{}}",
     "params.input.content[0].text is required"},
    {"{\"content\":[{\"type\":\"input_tag\",\"text\":\"a\"}],\"attachments\":[],\"inference_options\":{}}",
     "params.input.content[0].id is required"},
    {"{\"content\":[{\"type\":\"input_tag\",\"id\":\"i\",\"text\":\"a\",\"data\":[]}],\"attachments\":[],"
     "\"inference_options\":{}}",
     "params.input.content[0].data must be an object"},
    {"{\"content\":[{\"type\":\"input_tag\",\"id\":\"i\",\"text\":\"a\",\"interactive\":\"yes\"}],"
     "\"attachments\":[],\"inference_options\":{}}",
     "params.input.content[0].interactive must be a boolean"},
    {"{\"content\":[{\"type\":\"input_tag\",\"id\":\"i\",\"text\":\"a\",\"group\":1}],\"attachments\":[],"
     "\"inference_options\":{}}",
     "params.input.content[0].group must be a string or null"},
    {"{\"content\":[],\"inference_options\":{}}", "params.input.attachments is required"},
    {"{\"content\":[],\"attachments\":[\"a\",1],\"inference_options\":{}}",
     "params.input.attachments[1] must be a string"},
    {"{\"content\":[],\"attachments\":\"a\",\"inference_options\":{}}",
     "params.input.attachments must be an array of strings"},
    {"{\"content\":[],\"attachments\":[]}", "params.input.inference_options is required"},
    {"{\"content\":[],\"attachments\":[],\"inference_options\":null}", "params.input.inference_options is required"},
    {"{\"content\":[],\"attachments\":[],\"inference_options\":{\"tool_choice\":\"x\"}}",
     "params.input.inference_options.tool_choice must be an object or null"},
    {"{\"content\":[],\"attachments\":[],\"inference_options\":{\"tool_choice\":{}}}",
     "params.input.inference_options.tool_choice.id is required"},
    {"{\"content\":[],\"attachments\":[],\"inference_options\":{\"model\":3}}",
     "params.input.inference_options.model must be a string or null"},
    {"{\"content\":[],\"attachments\":[],\"quoted_text\":3,\"inference_options\":{}}",
     "params.input.quoted_text must be a string or null"},
};

START_TEST(test_user_input_errors)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"type\":\"threads.add_user_message\",\"params\":{\"thread_id\":\"t\",\"input\":%s}}",
             bad_inputs[_i].input);
    fails(body, 400, "invalid_params", bad_inputs[_i].needle);
}
END_TEST

/* --- other type-specific rules -------------------------------------------- */

START_TEST(test_structured_input_defaults)
{
    ck_request_t req =
        parse_ok("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
                 "\"input\":{\"answers\":{\"q1\":{},\"q2\":{\"values\":[\"A\"],\"skipped\":true}}}}}");
    json_t *input = json_object_get(req.params, "input");
    ck_assert_str_eq(json_string_value(json_object_get(input, "status")), "answered");
    json_t *q1 = json_object_get(json_object_get(input, "answers"), "q1");
    ck_assert_int_eq(json_array_size(json_object_get(q1, "values")), 0);
    ck_assert(json_is_false(json_object_get(q1, "skipped")));
    ck_request_free(&req);
    req = parse_ok("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
                   "\"input\":{\"status\":\"skipped\"}}}");
    ck_assert(json_is_object(json_object_get(json_object_get(req.params, "input"), "answers")));
    ck_request_free(&req);
    fails("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
          "\"input\":{\"status\":\"maybe\"}}}",
          400, "invalid_params", "params.input.status must be one of answered, skipped");
    fails("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
          "\"input\":{\"answers\":{\"q1\":{\"values\":[1]}}}}}",
          400, "invalid_params", "params.input.answers.q1.values[0] must be a string");
    fails("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
          "\"input\":{\"answers\":{\"q1\":{\"skipped\":1}}}}}",
          400, "invalid_params", "params.input.answers.q1.skipped must be a boolean");
    fails("{\"type\":\"threads.add_structured_input\",\"params\":{\"thread_id\":\"t\",\"item_id\":\"si\","
          "\"input\":{\"answers\":[]}}}",
          400, "invalid_params", "params.input.answers must be an object");
}
END_TEST

START_TEST(test_misc_type_rules)
{
    fails("{\"type\":\"items.feedback\",\"params\":{\"thread_id\":\"t\",\"item_ids\":[\"a\"],\"kind\":\"neutral\"}}",
          400, "invalid_params", "params.kind must be one of positive, negative");
    fails("{\"type\":\"items.feedback\",\"params\":{\"thread_id\":\"t\",\"item_ids\":[\"a\"]}}", 400, "invalid_params",
          "params.kind is required");
    fails("{\"type\":\"attachments.create\",\"params\":{\"name\":\"a\",\"size\":-1,\"mime_type\":\"x/y\"}}", 400,
          "invalid_params", "params.size must be a non-negative integer");
    fails("{\"type\":\"attachments.create\",\"params\":{\"name\":\"a\",\"size\":\"3\",\"mime_type\":\"x/y\"}}", 400,
          "invalid_params", "params.size");
    fails("{\"type\":\"threads.get_by_id\",\"params\":{\"thread_id\":\"\"}}", 400, "invalid_params",
          "params.thread_id must be a non-empty id");
    fails("{\"type\":\"threads.custom_action\",\"params\":{\"thread_id\":\"t\",\"item_id\":5,\"action\":{\"type\":"
          "\"x\"}}}",
          400, "invalid_params", "params.item_id");
    fails("{\"type\":\"threads.custom_action\",\"params\":{\"thread_id\":\"t\",\"action\":{\"type\":7}}}", 400,
          "invalid_params", "params.action.type must be a string");
    ck_request_t req = parse_ok(
        "{\"type\":\"threads.custom_action\",\"params\":{\"thread_id\":\"t\",\"item_id\":null,\"action\":{\"type\":"
        "\"x\",\"handler\":\"server\"}}}");
    ck_assert_ptr_null(json_object_get(req.params, "item_id"));
    ck_request_free(&req);
    req = parse_ok("{\"type\":\"threads.add_client_tool_output\",\"params\":{\"thread_id\":\"t\",\"result\":{\"x\":"
                   "[1,2]}}}");
    ck_assert(json_is_object(json_object_get(req.params, "result")));
    ck_request_free(&req);
}
END_TEST

/* --- input guards --------------------------------------------------------- */

START_TEST(test_invalid_utf8)
{
    const char body[] = "{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"a\xff\xfe\"}}";
    parse_fails(body, sizeof(body) - 1, NULL, 400, "invalid_utf8", "not valid UTF-8");
    const char overlong[] = "{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"\xc0\xaf\"}}";
    parse_fails(overlong, sizeof(overlong) - 1, NULL, 400, "invalid_utf8", "not valid UTF-8");
    const char lone[] = "{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"\\ud800\"}}";
    parse_fails(lone, sizeof(lone) - 1, NULL, 400, "invalid_json", "not valid JSON");
}
END_TEST

START_TEST(test_nul_characters)
{
    fails("{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"a\\u0000b\"}}", 400,
          "invalid_params", "params.title must not contain NUL");
    fails("{\"type\":\"threads.create\",\"params\":{\"input\":{\"content\":[{\"type\":\"input_text\",\"text\":"
          "\"\\u0000\"}],\"attachments\":[],\"inference_options\":{}}}}",
          400, "invalid_params", "params.input.content[0].text must not contain NUL");
    fails("{\"type\":\"threads.list\",\"params\":{},\"metadata\":{\"x\":[\"ok\",\"\\u0000\"]}}", 400, "invalid_params",
          "metadata.x[1] must not contain NUL");
    fails("{\"type\":\"threads.list\",\"params\":{\"a\\u0000b\":1}}", 400, "invalid_json", "NUL");
    /* a raw NUL byte is not JSON at all */
    const char raw[] = "{\"type\":\"threads.list\",\"params\":{\"x\":\"a\0b\"}}";
    parse_fails(raw, sizeof(raw) - 1, NULL, 400, "invalid_json", "not valid JSON");
}
END_TEST

/* Reals of magnitude 2^63 or more: the store prints them as integers it
 * cannot read back, so they are refused wherever they are. */
START_TEST(test_unstorable_reals)
{
    fails("{\"type\":\"threads.add_client_tool_output\",\"params\":{\"thread_id\":\"t\",\"result\":{\"x\":[1,1e20]}}}",
          400, "invalid_params", "params.result.x[1] is a number too large to store");
    fails("{\"type\":\"threads.list\",\"params\":{},\"metadata\":{\"n\":-9.3e18}}", 400, "invalid_params",
          "metadata.n is a number too large");
    ck_request_t req = parse_ok("{\"type\":\"threads.add_client_tool_output\",\"params\":{\"thread_id\":\"t\","
                                "\"result\":[9.2e18,-9.2e18,0.5,1e-300,9223372036854775807]}}");
    ck_request_free(&req);
}
END_TEST

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 64);
    char *p = s + sprintf(s, "{\"type\":\"threads.list\",\"params\":{\"x\":");
    for (int i = 0; i < depth - 2; i++)
        *p++ = '[';
    for (int i = 0; i < depth - 2; i++)
        *p++ = ']';
    strcpy(p, "}}");
    return s;
}

START_TEST(test_depth)
{
    char *ok = nested(32);
    ck_request_t req = parse_ok(ok);
    ck_request_free(&req);
    free(ok);
    char *deep = nested(33);
    fails(deep, 400, "too_deep", "deeper than 32");
    free(deep);
    char *huge = nested(100000);
    fails(huge, 400, "too_deep", "deeper than 32");
    free(huge);
    /* brackets inside strings do not count */
    req = parse_ok("{\"type\":\"threads.update\",\"params\":{\"thread_id\":\"t\",\"title\":\"[[[[[[[[[[[[[[[[[[[[[[["
                   "[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"}}");
    ck_request_free(&req);
}
END_TEST

static char *message_with_text(const char *unit, size_t count)
{
    size_t ulen = strlen(unit);
    char *s = malloc(ulen * count + 256);
    char *p = s + sprintf(s, "{\"type\":\"threads.create\",\"params\":{\"input\":{\"content\":[{\"type\":"
                             "\"input_text\",\"text\":\"");
    for (size_t i = 0; i < count; i++, p += ulen)
        memcpy(p, unit, ulen);
    strcpy(p, "\"}],\"attachments\":[],\"inference_options\":{}}}}");
    return s;
}

START_TEST(test_text_length_counts_characters)
{
    /* 8000 three-byte characters (24000 bytes) are within the 8000-character limit */
    char *ok = message_with_text("\xe2\x82\xac", 8000);
    ck_request_t req = parse_ok(ok);
    ck_request_free(&req);
    free(ok);
    char *long_text = message_with_text("a", 8001);
    fails(long_text, 413, "too_large", "longer than 8000 characters");
    free(long_text);
}
END_TEST

START_TEST(test_text_length_custom_limit)
{
    ck_proto_limits_t limits;
    ck_proto_limits_default(&limits);
    limits.max_text_chars = 5;
    const char *body =
        "{\"type\":\"threads.create\",\"params\":{\"input\":{\"content\":[{\"type\":\"input_text\",\"text\":"
        "\"abc\"},{\"type\":\"input_text\",\"text\":\"de\"}],\"attachments\":[],\"inference_options\":{}}}}";
    ck_request_t req;
    ck_proto_error_t err;
    ck_assert_int_eq(ck_proto_parse_request(body, strlen(body), &limits, &req, &err), 0);
    ck_request_free(&req);
    limits.max_text_chars = 4; /* the limit covers all parts together: 3 + 2 > 4 */
    parse_fails(body, strlen(body), &limits, 413, "too_large", "longer than 4 characters");
}
END_TEST

START_TEST(test_metadata_size)
{
    size_t n = 16384;
    char *body = malloc(n + 128);
    char *p = body + sprintf(body, "{\"type\":\"threads.list\",\"params\":{},\"metadata\":{\"k\":\"");
    memset(p, 'x', n);
    strcpy(p + n, "\"}}");
    fails(body, 413, "too_large", "metadata is larger than 16384 bytes");
    /* {"k":"..."} is 8 bytes plus the string: exactly at the limit passes */
    p = body + sprintf(body, "{\"type\":\"threads.list\",\"params\":{},\"metadata\":{\"k\":\"");
    memset(p, 'x', n - 8);
    strcpy(p + n - 8, "\"}}");
    ck_request_t req = parse_ok(body);
    ck_request_free(&req);
    free(body);
}
END_TEST

START_TEST(test_error_body)
{
    ck_proto_error_t err;
    ck_assert_int_eq(ck_proto_error_set(&err, 400, "invalid_params", "params.%s is required", "thread_id"), -1);
    char *body = ck_proto_error_body(&err);
    ck_assert_str_eq(body, "{\"error\":{\"code\":\"invalid_params\",\"message\":\"params.thread_id is required\"}}");
    free(body);
    /* a message cut inside a UTF-8 character stays valid JSON */
    char big[400];
    memset(big, 'a', sizeof(big));
    memcpy(big + 253, "\xe2\x82\xac\xe2\x82\xac", 6);
    big[sizeof(big) - 1] = '\0';
    ck_proto_error_set(&err, 400, "x", "%s", big);
    body = ck_proto_error_body(&err);
    ck_assert_ptr_nonnull(body);
    json_t *back = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(back);
    json_decref(back);
    free(body);
}
END_TEST

START_TEST(test_unknown_type_echo_is_valid_utf8)
{
    /* a long multi-byte type name is echoed truncated but still valid UTF-8 */
    char body[512] = "{\"type\":\"";
    for (int i = 0; i < 40; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\",\"params\":{}}");
    ck_request_t req;
    ck_proto_error_t err;
    ck_assert_int_eq(ck_proto_parse_request(body, strlen(body), NULL, &req, &err), -1);
    ck_assert_str_eq(err.code, "unknown_type");
    char *text = ck_proto_error_body(&err);
    json_t *back = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(back);
    ck_assert(strstr(json_string_value(json_object_get(json_object_get(back, "error"), "message")), "\xc3\xa9"));
    json_decref(back);
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proto_request");
    TCase *tc = tcase_create("types");
    tcase_add_loop_test(tc, test_every_type_valid, 0, sizeof(valid) / sizeof(valid[0]));
    tcase_add_loop_test(tc, test_every_type_missing_field, 0, sizeof(missing) / sizeof(missing[0]));
    tcase_add_test(tc, test_envelope_errors);
    tcase_add_test(tc, test_metadata_and_extra_keys);
    tcase_add_test(tc, test_paging_defaults_and_clamp);
    tcase_add_test(tc, test_paging_order_and_after);
    tcase_add_test(tc, test_user_input_normalized);
    tcase_add_loop_test(tc, test_user_input_errors, 0, sizeof(bad_inputs) / sizeof(bad_inputs[0]));
    tcase_add_test(tc, test_structured_input_defaults);
    tcase_add_test(tc, test_misc_type_rules);
    suite_add_tcase(s, tc);
    TCase *guards = tcase_create("guards");
    tcase_add_test(guards, test_invalid_utf8);
    tcase_add_test(guards, test_nul_characters);
    tcase_add_test(guards, test_unstorable_reals);
    tcase_add_test(guards, test_depth);
    tcase_add_test(guards, test_text_length_counts_characters);
    tcase_add_test(guards, test_text_length_custom_limit);
    tcase_add_test(guards, test_metadata_size);
    tcase_add_test(guards, test_error_body);
    tcase_add_test(guards, test_unknown_type_echo_is_valid_utf8);
    suite_add_tcase(s, guards);
    return s;
}

CK_CHECK_MAIN(suite)
