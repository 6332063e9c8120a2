/*
 * test_proto_pipeline.c - unit tests of the response pipeline state machine
 * (src/protocol/pipeline.c; docs/protocol.md "The response pipeline",
 * "Cancellation", "Errors during a stream"): the order of persistence and
 * forwarding steps, hidden items, pending-item bookkeeping (assistant
 * content parts, workflow tasks), thread change detection, failure, and
 * cancellation with partial text.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/events.h"
#include "protocol/pipeline.h"
#include "check_main.h"

static ck_proto_pipeline_t *pipe_;
static json_t *params_log; /* params of every PERSIST step drained, in order */

static void setup(void)
{
    json_t *thread =
        json_pack("{s:s,s:s,s:{s:s},s:{}}", "id", "thr_1", "created_at", "T", "status", "type", "active", "metadata");
    pipe_ = ck_proto_pipeline_new(thread);
    json_decref(thread);
    ck_assert_ptr_nonnull(pipe_);
    params_log = json_array();
}

static void teardown(void)
{
    ck_proto_pipeline_free(pipe_);
    json_decref(params_log);
}

/* Drains every queued step into "P:op:<id>" / "F:type" words separated by spaces. */
static char *drain(void)
{
    static char out[2048];
    ck_proto_step_t step;
    out[0] = '\0';
    while (ck_proto_pipeline_next(pipe_, &step)) {
        char word[160];
        if (step.kind == CK_PROTO_STEP_PERSIST) {
            json_t *item = json_object_get(step.json, "item");
            const char *id = item ? json_string_value(json_object_get(item, "id"))
                                  : json_string_value(json_object_get(step.json, "item_id"));
            if (strcmp(step.op, "thread.save") == 0)
                id = json_string_value(json_object_get(json_object_get(step.json, "thread"), "title"));
            else
                ck_assert_str_eq(json_string_value(json_object_get(step.json, "thread_id")), "thr_1");
            snprintf(word, sizeof(word), "P:%s:%s", step.op, id ? id : "-");
            json_array_append(params_log, step.json);
        } else {
            ck_assert_ptr_null(step.op);
            snprintf(word, sizeof(word), "F:%s", json_string_value(json_object_get(step.json, "type")));
        }
        json_decref(step.json);
        if (out[0])
            strcat(out, " ");
        strcat(out, word);
    }
    ck_assert_uint_eq(ck_proto_pipeline_queued(pipe_), 0);
    return out;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, err.text);
    return v;
}

static int feed(const char *text) { return ck_proto_pipeline_feed(pipe_, parse(text)); }

static void start(void)
{
    ck_proto_pipeline_begin(pipe_, 1);
    ck_assert_str_eq(drain(), "F:stream_options");
}

#define ADD_MSG                                                                                                        \
    "{\"type\":\"thread.item.added\",\"item\":{\"id\":\"m1\",\"thread_id\":\"thr_1\",\"created_at\":\"T\",\"type\":"   \
    "\"assistant_message\",\"content\":[]}}"
#define PART_ADDED(i)                                                                                                  \
    "{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part."      \
    "added\",\"content_index\":" #i ",\"content\":{\"annotations\":[],\"text\":\"\",\"type\":\"output_text\"}}}"
#define DELTA(i, d)                                                                                                    \
    "{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part.text_" \
    "delta\",\"content_index\":" #i ",\"delta\":\"" d "\"}}"

START_TEST(test_leading_then_stream_options)
{
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_LEADING);
    ck_assert_int_eq(ck_proto_pipeline_forward(pipe_, parse("{\"type\":\"thread.created\"}")), 0);
    ck_assert_int_eq(ck_proto_pipeline_forward(pipe_, parse("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"u\","
                                                            "\"type\":\"user_message\"}}")),
                     0);
    /* events from the source are refused before begin() */
    ck_assert_int_eq(feed("{\"type\":\"notice\",\"level\":\"info\",\"message\":\"x\"}"), -1);
    ck_proto_pipeline_begin(pipe_, 1);
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_STREAMING);
    ck_assert_str_eq(drain(), "F:thread.created F:thread.item.done F:stream_options");
    ck_assert_int_eq(ck_proto_pipeline_forward(pipe_, parse("{\"type\":\"notice\"}")), -1);
}
END_TEST

START_TEST(test_persist_before_forward)
{
    start();
    ck_assert_int_eq(feed("{\"type\":\"progress_update\",\"text\":\"Thinking\"}"), 0);
    ck_assert_int_eq(feed(ADD_MSG), 0);
    ck_assert_int_eq(feed(PART_ADDED(0)), 0);
    ck_assert_int_eq(feed(DELTA(0, "Hel")), 0);
    ck_assert_int_eq(
        feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"m1\",\"thread_id\":\"thr_1\",\"created_at\":"
             "\"T\",\"type\":\"assistant_message\",\"content\":[]}}"),
        0);
    ck_assert_int_eq(feed("{\"type\":\"client_effect\",\"name\":\"fx\",\"data\":{}}"), 0);
    ck_assert_int_eq(feed("{\"type\":\"thread.item.replaced\",\"item\":{\"id\":\"w1\",\"type\":\"widget\"}}"), 0);
    ck_assert_int_eq(feed("{\"type\":\"thread.item.removed\",\"item_id\":\"w2\"}"), 0);
    ck_assert_int_eq(feed("{\"type\":\"notice\",\"level\":\"info\",\"message\":\"n\"}"), 0);
    ck_assert_int_eq(feed("{\"type\":\"error\",\"code\":\"custom\",\"message\":\"m\",\"allow_retry\":false}"), 0);
    ck_assert_int_eq(feed("{\"type\":\"thread.updated\",\"thread\":{}}"), 0);
    ck_assert_str_eq(drain(), "F:progress_update F:thread.item.added F:thread.item.updated F:thread.item.updated "
                              "P:item.add:m1 F:thread.item.done F:client_effect P:item.save:w1 F:thread.item.replaced "
                              "P:item.delete:w2 F:thread.item.removed F:notice F:error F:thread.updated");
    /* the replaced item got the thread id and a created_at */
    json_t *saved = json_object_get(json_array_get(params_log, 1), "item");
    ck_assert_str_eq(json_string_value(json_object_get(saved, "thread_id")), "thr_1");
    ck_assert(json_is_string(json_object_get(saved, "created_at")));
    ck_proto_pipeline_finish(pipe_);
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_FINISHED);
    ck_assert_int_eq(feed("{\"type\":\"notice\",\"level\":\"info\",\"message\":\"late\"}"), -1);
    ck_assert_str_eq(drain(), "");
}
END_TEST

START_TEST(test_hidden_items_persisted_not_forwarded)
{
    start();
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"h1\",\"type\":\"hidden_context_item\",\"content\":{\"a\":1}"
         "}}");
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"h2\",\"type\":\"sdk_hidden_context\",\"content\":\"x\"}}");
    /* only done is swallowed: added/removed of hidden items are forwarded */
    feed("{\"type\":\"thread.item.added\",\"item\":{\"id\":\"h3\",\"type\":\"hidden_context_item\"}}");
    feed("{\"type\":\"thread.item.removed\",\"item_id\":\"h3\"}");
    ck_assert_str_eq(drain(), "P:item.add:h1 P:item.add:h2 F:thread.item.added P:item.delete:h3 F:thread.item.removed");
}
END_TEST

START_TEST(test_malformed_events_ignored)
{
    start();
    ck_assert_int_eq(feed("{\"type\":\"thread.item.done\",\"item\":{\"type\":\"widget\"}}"), -1);
    ck_assert_int_eq(feed("{\"type\":\"thread.item.done\"}"), -1);
    ck_assert_int_eq(feed("{\"type\":\"thread.item.removed\"}"), -1);
    ck_assert_int_eq(feed("{\"type\":\"thread.item.updated\",\"item_id\":\"x\"}"), -1);
    ck_assert_int_eq(feed("{\"type\":\"thread.created\",\"thread\":{}}"), -1);
    ck_assert_int_eq(feed("{\"type\":\"bogus\"}"), -1);
    ck_assert_int_eq(feed("{\"no_type\":1}"), -1);
    ck_assert_int_eq(ck_proto_pipeline_feed(pipe_, json_array()), -1);
    ck_assert_str_eq(drain(), "");
}
END_TEST

START_TEST(test_thread_change_detection)
{
    start();
    json_t *same = json_pack("{s:{s:s}}", "status", "type", "active");
    ck_proto_pipeline_thread_changed(pipe_, same);
    json_decref(same);
    ck_assert_str_eq(drain(), ""); /* no real change: nothing */
    json_t *title = json_pack("{s:s}", "title", "New title");
    ck_proto_pipeline_thread_changed(pipe_, title);
    ck_assert_str_eq(drain(), "P:thread.save:New title F:thread.updated");
    ck_proto_pipeline_thread_changed(pipe_, title); /* same again: nothing */
    ck_assert_str_eq(drain(), "");
    json_decref(title);
    json_t *saved = json_object_get(json_array_get(params_log, 0), "thread");
    ck_assert_str_eq(json_string_value(json_object_get(saved, "id")), "thr_1");
    ck_assert_str_eq(json_string_value(json_object_get(saved, "created_at")), "T");
    /* metadata-only change: saved with its metadata, event shows metadata {} */
    json_t *meta = json_pack("{s:{s:s},s:s}", "metadata", "k", "v", "id", "evil");
    ck_proto_pipeline_thread_changed(pipe_, meta);
    json_decref(meta);
    ck_proto_step_t step;
    ck_assert(ck_proto_pipeline_next(pipe_, &step));
    ck_assert_str_eq(step.op, "thread.save");
    json_t *t = json_object_get(step.json, "thread");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "metadata"), "k")), "v");
    ck_assert_str_eq(json_string_value(json_object_get(t, "id")), "thr_1");
    json_decref(step.json);
    ck_assert(ck_proto_pipeline_next(pipe_, &step));
    char *text = ck_proto_dumps(step.json);
    ck_assert_str_eq(text,
                     "{\"type\":\"thread.updated\",\"thread\":{\"title\":\"New title\",\"id\":\"thr_1\","
                     "\"created_at\":\"T\",\"status\":{\"type\":\"active\"},\"metadata\":{},\"items\":{\"data\":[],"
                     "\"has_more\":false}}}");
    free(text);
    json_decref(step.json);
    /* a null removes a field */
    json_t *untitle = json_pack("{s:n}", "title");
    ck_proto_pipeline_thread_changed(pipe_, untitle);
    json_decref(untitle);
    ck_assert_str_eq(drain(), "P:thread.save:- F:thread.updated");
    ck_assert_ptr_null(json_object_get(ck_proto_pipeline_thread(pipe_), "title"));
}
END_TEST

START_TEST(test_fail_drops_forwards_and_ends)
{
    start();
    feed(ADD_MSG);
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"m1\",\"type\":\"assistant_message\",\"content\":[]}}");
    ck_proto_pipeline_fail(pipe_, NULL, NULL, 1);
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_FAILED);
    ck_proto_step_t step;
    ck_assert(ck_proto_pipeline_next(pipe_, &step)); /* queued persistence is kept, its forward is not */
    ck_assert_int_eq(step.kind, CK_PROTO_STEP_PERSIST);
    json_decref(step.json);
    ck_assert(ck_proto_pipeline_next(pipe_, &step));
    char *text = ck_proto_dumps(step.json);
    ck_assert_str_eq(text, "{\"type\":\"error\",\"code\":\"stream.error\",\"allow_retry\":true}");
    free(text);
    json_decref(step.json);
    ck_assert(!ck_proto_pipeline_next(pipe_, &step));
    ck_proto_pipeline_cancel(pipe_); /* no cancellation after failure */
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_FAILED);
    ck_assert_str_eq(drain(), "");
}
END_TEST

/* A write that fails after the source finished: the done queued behind it
 * must not go out (it did before: fail() ignored FINISHED). */
START_TEST(test_fail_after_finish_withholds_the_done)
{
    start();
    feed(ADD_MSG);
    ck_assert_str_eq(drain(), "F:thread.item.added");
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"m1\",\"type\":\"assistant_message\",\"content\":[]}}");
    ck_proto_pipeline_finish(pipe_);
    ck_proto_step_t step;
    ck_assert(ck_proto_pipeline_next(pipe_, &step)); /* the write of m1 is carried out ... */
    ck_assert_int_eq(step.kind, CK_PROTO_STEP_PERSIST);
    json_decref(step.json);
    ck_proto_pipeline_fail(pipe_, NULL, "not saved", 1); /* ... and fails */
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_FAILED);
    ck_assert_str_eq(drain(), "F:error");
}
END_TEST

/* An error from the source (model failure mid-answer, maximum duration,
 * shutdown): the text shown so far is kept and finished before the error. */
START_TEST(test_error_keeps_partial_text)
{
    start();
    feed(ADD_MSG);
    feed(PART_ADDED(0));
    feed(DELTA(0, "partial "));
    feed(DELTA(0, "answer"));
    feed("{\"type\":\"thread.item.added\",\"item\":{\"id\":\"m2\",\"type\":\"assistant_message\",\"content\":[]}}");
    ck_assert_str_eq(drain(), "F:thread.item.added F:thread.item.updated F:thread.item.updated F:thread.item.updated "
                              "F:thread.item.added");
    ck_assert_int_eq(feed("{\"type\":\"error\",\"code\":\"stream.error\",\"message\":\"m\",\"allow_retry\":true}"), 0);
    ck_assert_str_eq(drain(), "P:item.add:m1 F:thread.item.done F:error");
    json_t *msg = json_object_get(json_array_get(params_log, 0), "item");
    json_t *part = json_array_get(json_object_get(msg, "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(part, "text")), "partial answer");
    ck_assert_ptr_null(ck_proto_pipeline_pending(pipe_, "m1"));
    /* failing while a partial is pending keeps it too, without a done */
    feed(ADD_MSG);
    feed(PART_ADDED(0));
    feed(DELTA(0, "again"));
    drain();
    ck_proto_pipeline_fail(pipe_, NULL, "x", 1);
    ck_assert_str_eq(drain(), "P:item.add:m1 F:error");
}
END_TEST

/* The cancellation scenario of docs/protocol.md "Cancellation". */
START_TEST(test_cancel_with_partial_text)
{
    start();
    feed(ADD_MSG);
    feed(PART_ADDED(0));
    feed(DELTA(0, "partial "));
    feed(DELTA(0, "answer"));
    feed("{\"type\":\"thread.item.added\",\"item\":{\"id\":\"wf1\",\"type\":\"workflow\",\"workflow\":{\"type\":"
         "\"reasoning\",\"tasks\":[]}}}");
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"x1\",\"type\":\"task\",\"task\":{}}}");
    ck_proto_pipeline_cancel(pipe_);
    ck_assert_int_eq(ck_proto_pipeline_state(pipe_), CK_PROTO_PIPE_CANCELLED);
    char *steps = drain();
    ck_assert_msg(strncmp(steps, "P:item.add:x1 P:item.add:m1 P:item.add:shcx_", 44) == 0, "steps: %s", steps);
    ck_assert_uint_eq(json_array_size(params_log), 3);
    json_t *msg = json_object_get(json_array_get(params_log, 1), "item");
    json_t *part = json_array_get(json_object_get(msg, "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(part, "text")), "partial answer");
    ck_assert_str_eq(json_string_value(json_object_get(part, "type")), "output_text");
    json_t *note = json_object_get(json_array_get(params_log, 2), "item");
    ck_assert_str_eq(json_string_value(json_object_get(note, "type")), "sdk_hidden_context");
    ck_assert_str_eq(json_string_value(json_object_get(note, "content")),
                     "The user cancelled the stream. Stop responding to the prior request.");
    ck_assert_str_eq(json_string_value(json_object_get(note, "thread_id")), "thr_1");
    ck_assert_int_eq(feed(DELTA(0, "more")), -1);
}
END_TEST

START_TEST(test_cancel_whitespace_and_done_messages_dropped)
{
    start();
    feed(ADD_MSG);
    feed(PART_ADDED(0));
    feed(DELTA(0, " \\n\\t "));
    feed("{\"type\":\"thread.item.added\",\"item\":{\"id\":\"m2\",\"type\":\"assistant_message\",\"content\":[]}}");
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"m2\",\"type\":\"assistant_message\",\"content\":[]}}");
    ck_assert(strlen(drain()) > 0);
    ck_proto_pipeline_cancel(pipe_);
    char *steps = drain();
    ck_assert_msg(strncmp(steps, "P:item.add:shcx_", 16) == 0 && strchr(steps, ' ') == NULL, "steps: %s", steps);
}
END_TEST

START_TEST(test_cancel_before_begin_keeps_queued_persistence)
{
    ck_proto_pipeline_forward(pipe_, parse("{\"type\":\"thread.created\"}"));
    ck_proto_pipeline_cancel(pipe_);
    char *steps = drain();
    ck_assert_msg(strncmp(steps, "P:item.add:shcx_", 16) == 0 && strchr(steps, ' ') == NULL, "steps: %s", steps);
}
END_TEST

START_TEST(test_message_updates_applied)
{
    start();
    feed(ADD_MSG);
    feed(PART_ADDED(1)); /* beyond the end: padded with an empty part */
    feed(DELTA(1, "ab"));
    feed(DELTA(5, "ignored"));
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part."
         "annotation_added\",\"content_index\":1,\"annotation_index\":9,\"annotation\":{\"type\":\"annotation\","
         "\"source\":{\"title\":\"B\",\"type\":\"url\",\"url\":\"https://b\"}}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part."
         "annotation_added\",\"content_index\":1,\"annotation_index\":0,\"annotation\":{\"type\":\"annotation\","
         "\"source\":{\"title\":\"A\",\"type\":\"url\",\"url\":\"https://a\"}}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part."
         "added\",\"content_index\":999999,\"content\":{\"annotations\":[],\"text\":\"x\",\"type\":\"output_text\"}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"nope\",\"update\":{\"type\":\"assistant_message.content_part."
         "text_delta\",\"content_index\":0,\"delta\":\"x\"}}");
    drain();
    ck_proto_pipeline_cancel(pipe_);
    drain();
    json_t *content = json_object_get(json_object_get(json_array_get(params_log, 0), "item"), "content");
    char *text = ck_proto_dumps(content);
    ck_assert_str_eq(text,
                     "[{\"annotations\":[],\"text\":\"\",\"type\":\"output_text\"},{\"annotations\":[{\"type\":"
                     "\"annotation\",\"source\":{\"title\":\"A\",\"type\":\"url\",\"url\":\"https://a\"}},{\"type\":"
                     "\"annotation\",\"source\":{\"title\":\"B\",\"type\":\"url\",\"url\":\"https://b\"}}],\"text\":"
                     "\"ab\",\"type\":\"output_text\"}]");
    free(text);
}
END_TEST

START_TEST(test_content_part_done_replaces)
{
    start();
    feed(ADD_MSG);
    feed(PART_ADDED(0));
    feed(DELTA(0, "draft"));
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(ck_proto_pipeline_pending(pipe_, "m1"), "content"), 0), "text")),
        "draft");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"m1\",\"update\":{\"type\":\"assistant_message.content_part."
         "done\",\"content_index\":0,\"content\":{\"annotations\":[],\"text\":\"Final\",\"type\":\"output_text\"}}}");
    drain();
    ck_proto_pipeline_cancel(pipe_);
    drain();
    json_t *part =
        json_array_get(json_object_get(json_object_get(json_array_get(params_log, 0), "item"), "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(part, "text")), "Final");
}
END_TEST

/* Workflow task updates are tracked on the pending copy. */
START_TEST(test_workflow_updates_tracked)
{
    start();
    feed("{\"type\":\"thread.item.added\",\"item\":{\"id\":\"wf1\",\"type\":\"workflow\",\"workflow\":{\"type\":"
         "\"custom\",\"tasks\":[]}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"wf1\",\"update\":{\"type\":\"workflow.task.added\","
         "\"task_index\":0,\"task\":{\"type\":\"custom\",\"title\":\"a\"}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"wf1\",\"update\":{\"type\":\"workflow.task.updated\","
         "\"task_index\":0,\"task\":{\"type\":\"custom\",\"title\":\"b\"}}}");
    feed("{\"type\":\"thread.item.updated\",\"item_id\":\"wf1\",\"update\":{\"type\":\"workflow.task.updated\","
         "\"task_index\":4,\"task\":{\"type\":\"custom\",\"title\":\"c\"}}}");
    ck_assert_str_eq(drain(), "F:thread.item.added F:thread.item.updated F:thread.item.updated F:thread.item.updated");
    char *tasks =
        ck_proto_dumps(json_object_get(json_object_get(ck_proto_pipeline_pending(pipe_, "wf1"), "workflow"), "tasks"));
    ck_assert_str_eq(tasks, "[{\"type\":\"custom\",\"title\":\"b\"}]");
    free(tasks);
    ck_assert_ptr_null(ck_proto_pipeline_pending(pipe_, "nope"));
    /* pending workflows are not persisted on cancel */
    ck_proto_pipeline_cancel(pipe_);
    char *steps = drain();
    ck_assert_msg(strncmp(steps, "P:item.add:shcx_", 16) == 0 && strchr(steps, ' ') == NULL, "steps: %s", steps);
}
END_TEST

START_TEST(test_new_rejects_bad_thread)
{
    json_t *t = json_pack("{s:i}", "id", 3);
    ck_assert_ptr_null(ck_proto_pipeline_new(t));
    json_decref(t);
    ck_assert_ptr_null(ck_proto_pipeline_new(NULL));
    ck_proto_pipeline_free(NULL);
}
END_TEST

START_TEST(test_free_with_queued_steps)
{
    start();
    feed(ADD_MSG);
    feed("{\"type\":\"thread.item.done\",\"item\":{\"id\":\"m1\",\"type\":\"assistant_message\",\"content\":[]}}");
    ck_assert_uint_eq(ck_proto_pipeline_queued(pipe_), 3);
    /* teardown frees the queued steps (valgrind/ASan check the leak) */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proto_pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_leading_then_stream_options);
    tcase_add_test(tc, test_persist_before_forward);
    tcase_add_test(tc, test_hidden_items_persisted_not_forwarded);
    tcase_add_test(tc, test_malformed_events_ignored);
    tcase_add_test(tc, test_thread_change_detection);
    tcase_add_test(tc, test_fail_drops_forwards_and_ends);
    tcase_add_test(tc, test_fail_after_finish_withholds_the_done);
    tcase_add_test(tc, test_error_keeps_partial_text);
    tcase_add_test(tc, test_cancel_with_partial_text);
    tcase_add_test(tc, test_cancel_whitespace_and_done_messages_dropped);
    tcase_add_test(tc, test_cancel_before_begin_keeps_queued_persistence);
    tcase_add_test(tc, test_message_updates_applied);
    tcase_add_test(tc, test_content_part_done_replaces);
    tcase_add_test(tc, test_workflow_updates_tracked);
    tcase_add_test(tc, test_new_rejects_bad_thread);
    tcase_add_test(tc, test_free_with_queued_steps);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
