/*
 * test_proto_turn.c - unit tests of src/protocol/turn.c: the pre-flight op of
 * each streamed request type, the leading events of an opened stream, the
 * custom_action sender rule and the structured-input answer.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/events.h"
#include "protocol/turn.h"
#include "check_main.h"

static ck_request_t request(ck_req_type_t type, const char *params_json)
{
    ck_request_t r = {0};
    r.type = type;
    r.params = json_loads(params_json, 0, NULL);
    ck_assert_ptr_nonnull(r.params);
    return r;
}

/* The queued steps as "P:op" / "F:type" words separated by spaces. */
static char *drain(ck_proto_pipeline_t *pipe)
{
    static char out[1024];
    ck_proto_step_t step;
    out[0] = '\0';
    while (ck_proto_pipeline_next(pipe, &step)) {
        char word[128];
        if (step.kind == CK_PROTO_STEP_PERSIST)
            snprintf(word, sizeof(word), "P:%s", step.op);
        else
            snprintf(word, sizeof(word), "F:%s", json_string_value(json_object_get(step.json, "type")));
        json_decref(step.json);
        if (out[0])
            strcat(out, " ");
        strcat(out, word);
    }
    return out;
}

static const char THREAD[] = "{\"id\":\"thr_1\",\"created_at\":\"T\",\"status\":{\"type\":\"active\"},\"metadata\":{}}";

/* --- pre-flight ------------------------------------------------------------- */

typedef struct {
    ck_req_type_t type;
    const char *params;
    const char *op;         /* NULL: not streamed */
    const char *param_keys; /* the params' keys, sorted, space-separated */
} preflight_case_t;

static const preflight_case_t PREFLIGHT[] = {
    {CK_REQ_THREADS_CREATE, "{\"input\":{\"content\":[],\"attachments\":[\"a\"]}}", "turn.create",
     "attachment_ids item thread"},
    {CK_REQ_THREADS_ADD_USER_MESSAGE, "{\"thread_id\":\"thr_1\",\"input\":{\"content\":[],\"attachments\":[]}}",
     "turn.add_message", "attachment_ids item thread_id"},
    {CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT, "{\"thread_id\":\"thr_1\",\"result\":{\"x\":1}}", "turn.tool_output",
     "result thread_id"},
    {CK_REQ_THREADS_RETRY_AFTER_ITEM, "{\"thread_id\":\"thr_1\",\"item_id\":\"msg_1\"}", "turn.retry",
     "item_id thread_id"},
    {CK_REQ_THREADS_ADD_STRUCTURED_INPUT, "{\"thread_id\":\"thr_1\",\"item_id\":\"si_1\",\"input\":{}}",
     "turn.load_item", "item_id thread_id"},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"item_id\":\"w_1\",\"action\":{}}", "turn.load_item",
     "item_id thread_id"},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"action\":{}}", "turn.load_item", "thread_id"},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"item_id\":null,\"action\":{}}", "turn.load_item",
     "thread_id"},
    {CK_REQ_THREADS_LIST, "{}", NULL, NULL},
    {CK_REQ_ITEMS_FEEDBACK, "{}", NULL, NULL},
};

START_TEST(preflight_op_per_type)
{
    const preflight_case_t *c = &PREFLIGHT[_i];
    ck_request_t r = request(c->type, c->params);
    ck_proto_turn_t turn = {0};
    json_t *params = (json_t *)1;
    const char *op = ck_proto_turn_preflight(&turn, &r, 0, &params);
    if (c->op == NULL) {
        ck_assert_ptr_null(op);
        ck_assert_ptr_null(params);
    } else {
        ck_assert_str_eq(op, c->op);
        ck_assert_ptr_nonnull(params);
        char keys[128] = "";
        const char *names[8];
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(params, k, v) names[n++] = k;
        for (size_t i = 0; i < n; i++) /* sort (tiny) */
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(names[j], names[i]) < 0) {
                    const char *x = names[i];
                    names[i] = names[j];
                    names[j] = x;
                }
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(keys, " ");
            strcat(keys, names[i]);
        }
        ck_assert_str_eq(keys, c->param_keys);
    }
    /* only threads.create makes a thread, and the item it stores is that thread's */
    ck_assert_int_eq(turn.thread != NULL, c->type == CK_REQ_THREADS_CREATE);
    if (turn.thread != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(params, "item"), "thread_id")),
                         json_string_value(json_object_get(turn.thread, "id")));
    json_decref(params);
    ck_proto_turn_release(&turn);
    json_decref(r.params);
}
END_TEST

START_TEST(preflight_redacts_user_text_when_asked)
{
    static const char params[] = "{\"thread_id\":\"thr_1\",\"input\":{\"content\":[{\"type\":\"input_text\","
                                 "\"text\":\"mail me at jane.doe@example.com\"}],\"attachments\":[],"
                                 "\"quoted_text\":\"call +1 415 555 0100\",\"inference_options\":{}}}";
    for (int redact = 0; redact <= 1; redact++) {
        ck_request_t r = request(CK_REQ_THREADS_ADD_USER_MESSAGE, params);
        ck_proto_turn_t turn = {0};
        json_t *p;
        ck_assert_str_eq(ck_proto_turn_preflight(&turn, &r, redact, &p), "turn.add_message");
        json_t *item = json_object_get(p, "item");
        const char *text =
            json_string_value(json_object_get(json_array_get(json_object_get(item, "content"), 0), "text"));
        const char *quoted = json_string_value(json_object_get(item, "quoted_text"));
        ck_assert_int_eq(strstr(text, "jane.doe@example.com") == NULL, redact);
        ck_assert_int_eq(strstr(quoted, "555 0100") == NULL, redact);
        /* the request itself is left as it was */
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(
                       json_array_get(json_object_get(json_object_get(r.params, "input"), "content"), 0), "text")),
                   "jane.doe@example.com"));
        json_decref(p);
        ck_proto_turn_release(&turn);
        json_decref(r.params);
    }
}
END_TEST

/* --- opening the stream ------------------------------------------------------- */

START_TEST(open_create_leads_with_thread_and_message)
{
    ck_request_t r = request(CK_REQ_THREADS_CREATE, "{\"input\":{\"content\":[],\"attachments\":[]}}");
    ck_proto_turn_t turn = {0};
    json_t *params;
    ck_proto_turn_preflight(&turn, &r, 0, &params);
    json_t *result = json_pack("{s:O}", "item", json_object_get(params, "item"));
    ck_proto_error_t err = {0};
    ck_assert_int_eq(ck_proto_turn_open(&turn, &r, result, &err), 0);
    ck_assert_str_eq(drain(turn.pipe), "F:thread.created F:thread.item.done F:stream_options");
    ck_assert_ptr_eq(turn.user_message, json_object_get(result, "item"));
    ck_assert_ptr_null(turn.sender_item);
    json_decref(result);
    json_decref(params);
    ck_proto_turn_release(&turn);
    json_decref(r.params);
}
END_TEST

typedef struct {
    ck_req_type_t type;
    const char *params;
    const char *result; /* %s = THREAD */
    int rc;
    const char *steps;
    int has_user_message, has_sender;
    int status; /* rc -1: the error status */
} open_case_t;

static const open_case_t OPEN[] = {
    {CK_REQ_THREADS_ADD_USER_MESSAGE, "{\"thread_id\":\"thr_1\"}",
     "{\"thread\":%s,\"item\":{\"id\":\"msg_1\",\"type\":\"user_message\"}}", 0, "F:thread.item.done F:stream_options",
     1, 0, 0},
    {CK_REQ_THREADS_RETRY_AFTER_ITEM, "{\"thread_id\":\"thr_1\",\"item_id\":\"msg_1\"}",
     "{\"thread\":%s,\"item\":{\"id\":\"msg_1\",\"type\":\"user_message\"}}", 0, "F:stream_options", 1, 0, 0},
    {CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT, "{\"thread_id\":\"thr_1\",\"result\":{}}", "%s", 0, "F:stream_options", 0,
     0, 0},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"action\":{}}", "%s", 0, "F:stream_options", 0, 0, 0},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"action\":{}}", "{\"thread\":%s}", 0, "F:stream_options",
     0, 0, 0},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"item_id\":\"w_1\",\"action\":{}}",
     "{\"thread\":%s,\"item\":{\"id\":\"w_1\",\"type\":\"widget\"}}", 0, "F:stream_options", 0, 1, 0},
    {CK_REQ_THREADS_CUSTOM_ACTION, "{\"thread_id\":\"thr_1\",\"item_id\":\"msg_1\",\"action\":{}}",
     "{\"thread\":%s,\"item\":{\"id\":\"msg_1\",\"type\":\"user_message\"}}", 1, "F:error", 0, 0, 0},
    {CK_REQ_THREADS_ADD_STRUCTURED_INPUT, "{\"thread_id\":\"thr_1\",\"item_id\":\"si_1\",\"input\":{\"answers\":{}}}",
     "{\"thread\":%s,\"item\":{\"id\":\"si_1\",\"type\":\"structured_input\",\"status\":\"pending\",\"inputs\":[]}}", 0,
     "F:stream_options P:item.save F:thread.item.replaced", 0, 0, 0},
    {CK_REQ_THREADS_ADD_STRUCTURED_INPUT, "{\"thread_id\":\"thr_1\",\"item_id\":\"si_1\",\"input\":{}}",
     "{\"thread\":%s,\"item\":{\"id\":\"si_1\",\"type\":\"structured_input\",\"status\":\"answered\"}}", -1, "", 0, 0,
     409},
    {CK_REQ_THREADS_ADD_STRUCTURED_INPUT, "{\"thread_id\":\"thr_1\",\"item_id\":\"msg_1\",\"input\":{}}",
     "{\"thread\":%s,\"item\":{\"id\":\"msg_1\",\"type\":\"user_message\"}}", -1, "", 0, 0, 400},
    {CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT, "{\"thread_id\":\"thr_1\",\"result\":{}}", "{\"no\":\"thread\"}", -1, "", 0,
     0, 500},
};

START_TEST(open_per_type)
{
    const open_case_t *c = &OPEN[_i];
    ck_request_t r = request(c->type, c->params);
    char text[1024];
    snprintf(text, sizeof(text), c->result, THREAD);
    json_t *result = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(result);
    ck_proto_turn_t turn = {0};
    ck_proto_error_t err = {0};
    int rc = ck_proto_turn_open(&turn, &r, result, &err);
    ck_assert_int_eq(rc, c->rc);
    if (rc < 0) {
        ck_assert_int_eq(err.http_status, c->status);
    } else {
        ck_assert_str_eq(drain(turn.pipe), c->steps);
        ck_assert_str_eq(json_string_value(json_object_get(turn.thread, "id")), "thr_1");
    }
    ck_assert_int_eq(turn.user_message != NULL, c->has_user_message);
    ck_assert_int_eq(turn.sender_item != NULL, c->has_sender);
    ck_proto_turn_release(&turn);
    ck_assert_ptr_null(turn.pipe);
    json_decref(result);
    json_decref(r.params);
}
END_TEST

START_TEST(structured_answer_replaces_the_item)
{
    json_t *thread = json_loads(THREAD, 0, NULL);
    ck_proto_turn_t turn = {json_incref(thread), ck_proto_pipeline_new(thread), NULL, NULL};
    json_t *item =
        json_pack("{s:s,s:s,s:s,s:[]}", "id", "si_1", "type", "structured_input", "status", "pending", "inputs");
    json_t *input = json_pack("{s:s}", "status", "skipped");
    ck_proto_error_t err = {0};
    ck_assert_int_eq(ck_proto_turn_answer_structured(&turn, item, input, &err), 0);
    ck_proto_step_t step;
    ck_assert(ck_proto_pipeline_next(turn.pipe, &step)); /* stream_options */
    json_decref(step.json);
    int saw_skipped = 0;
    while (ck_proto_pipeline_next(turn.pipe, &step)) {
        json_t *it = json_object_get(step.json, "item");
        if (it != NULL && json_string_value(json_object_get(it, "status")) != NULL)
            saw_skipped |= strcmp(json_string_value(json_object_get(it, "status")), "skipped") == 0;
        json_decref(step.json);
    }
    ck_assert_int_eq(saw_skipped, 1);
    json_decref(item);
    json_decref(input);
    json_decref(thread);
    ck_proto_turn_release(&turn);
}
END_TEST

/* The pre-flight's `context` is kept for the agent; for structured input
 * with the item answered in it (a copy: the store's result is unchanged). */
START_TEST(open_keeps_the_context)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"thread\":%s,\"item\":{\"id\":\"si_1\",\"type\":\"structured_input\",\"status\":\"pending\","
             "\"inputs\":[]},\"context\":{\"items\":[{\"id\":\"m_1\",\"type\":\"user_message\"},"
             "{\"id\":\"si_1\",\"type\":\"structured_input\",\"status\":\"pending\",\"inputs\":[]}],"
             "\"notice_sent\":false}}",
             THREAD);
    json_t *result = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(result);
    for (int structured = 0; structured < 2; structured++) {
        ck_request_t r =
            structured ? request(CK_REQ_THREADS_ADD_STRUCTURED_INPUT,
                                 "{\"thread_id\":\"thr_1\",\"item_id\":\"si_1\",\"input\":{\"status\":\"skipped\"}}")
                       : request(CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT, "{\"thread_id\":\"thr_1\",\"result\":{}}");
        ck_proto_turn_t turn = {0};
        ck_proto_error_t err = {0};
        ck_assert_int_eq(ck_proto_turn_open(&turn, &r, result, &err), 0);
        json_t *items = json_object_get(turn.context, "items");
        ck_assert_int_eq(json_array_size(items), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "m_1");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "status")),
                         structured ? "skipped" : "pending");
        ck_assert_int_eq(turn.context == json_object_get(result, "context"), !structured);
        ck_proto_turn_release(&turn);
        json_decref(r.params);
    }
    json_t *stored =
        json_object_get(json_array_get(json_object_get(json_object_get(result, "context"), "items"), 1), "status");
    ck_assert_str_eq(json_string_value(stored), "pending");
    json_decref(result);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proto_turn");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, preflight_op_per_type, 0, (int)(sizeof(PREFLIGHT) / sizeof(PREFLIGHT[0])));
    tcase_add_test(tc, preflight_redacts_user_text_when_asked);
    tcase_add_test(tc, open_create_leads_with_thread_and_message);
    tcase_add_loop_test(tc, open_per_type, 0, (int)(sizeof(OPEN) / sizeof(OPEN[0])));
    tcase_add_test(tc, structured_answer_replaces_the_item);
    tcase_add_test(tc, open_keeps_the_context);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
