/*
 * test_proto_json.c - unit tests of the wire-format helpers and builders of
 * src/protocol (json.c, events.c): id and timestamp formats, SSE framing,
 * compact serialization, null omission, the exact shapes of threads, items
 * and every event type, and the structured-input answer rules (docs/protocol.md, "threads.add_structured_input").
 */
#include <check.h>
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/events.h"
#include "protocol/protocol.h"
#include "check_main.h"

/* Asserts that `value` serializes to exactly `expected` and frees it. */
static void assert_json(json_t *value, const char *expected)
{
    ck_assert_ptr_nonnull(value);
    char *text = ck_proto_dumps(value);
    ck_assert_str_eq(text, expected);
    free(text);
    json_decref(value);
}

static int matches(const char *pattern, const char *text)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

START_TEST(test_ids)
{
    char a[CK_ID_MAX], b[CK_ID_MAX];
    ck_proto_new_id("msg", a);
    ck_proto_new_id("msg", b);
    ck_assert(matches("^msg_[0-9a-f]{16}$", a));
    ck_assert_str_ne(a, b);
    ck_proto_new_id("shcx", a);
    ck_assert(matches("^shcx_[0-9a-f]{16}$", a));
    char longp[100];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_proto_new_id(longp, a);
    ck_assert_uint_lt(strlen(a), CK_ID_MAX);
    ck_assert(matches("^p+_[0-9a-f]{16}$", a));
}
END_TEST

START_TEST(test_timestamps)
{
    char t1[CK_TIME_MAX], t2[CK_TIME_MAX];
    ck_proto_now(t1);
    ck_proto_now(t2);
    ck_assert(matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$", t1));
    ck_assert_uint_eq(strlen(t1), 27);
    ck_assert_int_le(strcmp(t1, t2), 0); /* sortable and monotonic enough */
}
END_TEST

START_TEST(test_sse_frame)
{
    json_t *ev = json_pack("{s:s,s:s}", "type", "notice", "message", "a\nb \xc3\xa9/");
    char *out;
    size_t len;
    ck_assert_int_eq(ck_proto_sse_frame(ev, &out, &len), 0);
    const char expected[] = "data: {\"type\":\"notice\",\"message\":\"a\\nb \xc3\xa9/\"}\n\n";
    ck_assert_uint_eq(len, sizeof(expected) - 1);
    ck_assert(memcmp(out, expected, len) == 0);
    free(out);
    json_decref(ev);
}
END_TEST

START_TEST(test_dumps_compact_raw_utf8)
{
    assert_json(json_pack("{s:[i,i],s:s}", "a", 1, 2, "b", "\xe2\x82\xac"), "{\"a\":[1,2],\"b\":\"\xe2\x82\xac\"}");
    json_t *str = json_string("x");
    char *s = ck_proto_dumps(str); /* a bare value serializes too */
    ck_assert_str_eq(s, "\"x\"");
    free(s);
    json_decref(str);
}
END_TEST

START_TEST(test_omit_nulls)
{
    json_t *o = json_pack("{s:n,s:i,s:{s:n},s:[],s:{},s:b}", "a", "b", 1, "c", "d", "e", "f", "g", 0);
    ck_proto_omit_nulls(o);
    assert_json(o, "{\"b\":1,\"c\":{\"d\":null},\"e\":[],\"f\":{},\"g\":false}");
}
END_TEST

START_TEST(test_thread_shapes)
{
    json_t *t = ck_proto_thread_new();
    const char *id = json_string_value(json_object_get(t, "id"));
    ck_assert(matches("^thr_[0-9a-f]{16}$", id));
    ck_assert_ptr_null(json_object_get(t, "title"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "status"), "type")), "active");
    ck_assert_int_eq(json_object_size(json_object_get(t, "metadata")), 0);
    json_decref(t);

    json_t *stored = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:[s],s:{s:s}}", "id", "thr_1", "created_at", "T", "title",
                               "Hi", "status", "type", "closed", "reason", "done", "allowed_image_domains", "a.b",
                               "metadata", "last_response_id", "secret");
    assert_json(ck_proto_ev_thread_updated(stored),
                "{\"type\":\"thread.updated\",\"thread\":{\"title\":\"Hi\",\"id\":\"thr_1\",\"created_at\":\"T\","
                "\"status\":{\"type\":\"closed\",\"reason\":\"done\"},\"allowed_image_domains\":[\"a.b\"],"
                "\"metadata\":{},\"items\":{\"data\":[],\"has_more\":false}}}");
    json_object_del(stored, "title");
    json_object_del(stored, "allowed_image_domains");
    json_object_set_new(stored, "status", json_pack("{s:s}", "type", "active"));
    assert_json(ck_proto_ev_thread_created(stored),
                "{\"type\":\"thread.created\",\"thread\":{\"id\":\"thr_1\",\"created_at\":\"T\",\"status\":{\"type\":"
                "\"active\"},\"metadata\":{},\"items\":{\"data\":[],\"has_more\":false}}}");
    json_decref(stored);
}
END_TEST

START_TEST(test_user_message_item)
{
    json_t *input = json_loads("{\"content\":[{\"type\":\"input_text\",\"text\":\"Hi\"}],\"attachments\":[\"atc_1\"],"
                               "\"quoted_text\":\"\",\"inference_options\":{\"model\":\"m\"}}",
                               0, NULL);
    json_t *item = ck_proto_user_message_new("thr_1", input);
    ck_assert(matches("^msg_[0-9a-f]{16}$", json_string_value(json_object_get(item, "id"))));
    ck_assert_str_eq(json_string_value(json_object_get(item, "thread_id")), "thr_1");
    ck_assert_str_eq(json_string_value(json_object_get(item, "type")), "user_message");
    ck_assert(matches("Z$", json_string_value(json_object_get(item, "created_at"))));
    ck_assert_str_eq(json_string_value(json_object_get(item, "quoted_text")), "");
    ck_assert_ptr_null(json_object_get(item, "attachments"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "inference_options"), "model")), "m");
    /* a deep copy: changing the input later does not change the item */
    json_object_set_new(json_array_get(json_object_get(input, "content"), 0), "text", json_string("changed"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(item, "content"), 0), "text")),
                     "Hi");
    json_decref(item);
    json_object_del(input, "quoted_text");
    item = ck_proto_user_message_new("thr_1", input);
    ck_assert_ptr_null(json_object_get(item, "quoted_text"));
    json_decref(item);
    json_decref(input);
}
END_TEST

/* docs/protocol.md "Request envelope", "Shared shapes": unknown keys of the input never reach the item. */
START_TEST(test_user_message_drops_unknown_keys)
{
    json_t *input = json_loads("{\"content\":[{\"type\":\"input_text\",\"text\":\"Hi\",\"junk\":1},"
                               "{\"type\":\"input_tag\",\"id\":\"t\",\"text\":\"T\",\"data\":{\"k\":\"v\"},"
                               "\"interactive\":false,\"extra\":2}],\"attachments\":[],\"other\":3,"
                               "\"inference_options\":{\"tool_choice\":{\"id\":\"s\",\"x\":1},\"temperature\":1}}",
                               0, NULL);
    json_t *item = ck_proto_user_message_new("thr_1", input);
    char *content = json_dumps(json_object_get(item, "content"), JSON_COMPACT);
    char *options = json_dumps(json_object_get(item, "inference_options"), JSON_COMPACT);
    ck_assert_str_eq(content, "[{\"type\":\"input_text\",\"text\":\"Hi\"},{\"type\":\"input_tag\",\"id\":\"t\","
                              "\"text\":\"T\",\"data\":{\"k\":\"v\"},\"interactive\":false}]");
    ck_assert_str_eq(options, "{\"tool_choice\":{\"id\":\"s\"}}");
    ck_assert_ptr_null(json_object_get(item, "other"));
    free(content);
    free(options);
    json_decref(item);
    json_decref(input);
}
END_TEST

START_TEST(test_other_items)
{
    json_t *m = ck_proto_assistant_message_new("thr_1", "msg_x");
    json_object_set_new(m, "created_at", json_string("T"));
    assert_json(m, "{\"id\":\"msg_x\",\"thread_id\":\"thr_1\",\"created_at\":\"T\",\"type\":\"assistant_message\","
                   "\"content\":[]}");
    json_t *note = ck_proto_sdk_hidden_new("thr_1", CK_PROTO_CANCEL_NOTE);
    ck_assert(matches("^shcx_", json_string_value(json_object_get(note, "id"))));
    ck_assert_str_eq(json_string_value(json_object_get(note, "content")),
                     "The user cancelled the stream. Stop responding to the prior request.");
    ck_assert(ck_proto_item_is_hidden(note));
    ck_assert(ck_proto_item_is_valid(note));
    json_decref(note);
    json_t *hidden = json_pack("{s:s,s:s}", "id", "h", "type", "hidden_context_item");
    ck_assert(ck_proto_item_is_hidden(hidden));
    json_object_set_new(hidden, "type", json_string("widget"));
    ck_assert(!ck_proto_item_is_hidden(hidden));
    json_object_del(hidden, "id");
    ck_assert(!ck_proto_item_is_valid(hidden));
    json_decref(hidden);
}
END_TEST

START_TEST(test_event_shapes)
{
    assert_json(ck_proto_ev_stream_options(1),
                "{\"type\":\"stream_options\",\"stream_options\":{\"allow_cancel\":true}}");
    assert_json(ck_proto_ev_progress(NULL, "Thinking"), "{\"type\":\"progress_update\",\"text\":\"Thinking\"}");
    assert_json(ck_proto_ev_progress("search", "S"),
                "{\"type\":\"progress_update\",\"icon\":\"search\",\"text\":\"S\"}");
    assert_json(ck_proto_ev_client_effect("fx", NULL), "{\"type\":\"client_effect\",\"name\":\"fx\",\"data\":{}}");
    json_t *data = json_pack("{s:i}", "a", 1);
    assert_json(ck_proto_ev_client_effect("fx", data),
                "{\"type\":\"client_effect\",\"name\":\"fx\",\"data\":{\"a\":1}}");
    json_decref(data);
    assert_json(ck_proto_ev_error("stream.error", NULL, 1),
                "{\"type\":\"error\",\"code\":\"stream.error\",\"allow_retry\":true}");
    assert_json(ck_proto_ev_error(NULL, "Quota exceeded", 0),
                "{\"type\":\"error\",\"code\":\"custom\",\"message\":\"Quota exceeded\",\"allow_retry\":false}");
    assert_json(ck_proto_ev_notice("info", "note", NULL),
                "{\"type\":\"notice\",\"level\":\"info\",\"message\":\"note\"}");
    assert_json(ck_proto_ev_notice("danger", "m", "T"),
                "{\"type\":\"notice\",\"level\":\"danger\",\"message\":\"m\",\"title\":\"T\"}");
    assert_json(ck_proto_ev_item_removed("m1"), "{\"type\":\"thread.item.removed\",\"item_id\":\"m1\"}");
    json_t *item = json_pack("{s:s,s:s}", "id", "i", "type", "end_of_turn");
    assert_json(ck_proto_ev_item_added(item),
                "{\"type\":\"thread.item.added\",\"item\":{\"id\":\"i\",\"type\":\"end_of_turn\"}}");
    assert_json(ck_proto_ev_item_done(item),
                "{\"type\":\"thread.item.done\",\"item\":{\"id\":\"i\",\"type\":\"end_of_turn\"}}");
    assert_json(ck_proto_ev_item_replaced(item),
                "{\"type\":\"thread.item.replaced\",\"item\":{\"id\":\"i\",\"type\":\"end_of_turn\"}}");
    json_decref(item);
}
END_TEST

START_TEST(test_update_shapes)
{
    json_t *ev = ck_proto_ev_item_updated("msg_b", ck_proto_upd_content_part_added(0, ""));
    assert_json(ev, "{\"type\":\"thread.item.updated\",\"item_id\":\"msg_b\",\"update\":{\"type\":\"assistant_message."
                    "content_part.added\",\"content_index\":0,\"content\":{\"annotations\":[],\"text\":\"\",\"type\":"
                    "\"output_text\"}}}");
    assert_json(ck_proto_upd_text_delta(0, "Hel"),
                "{\"type\":\"assistant_message.content_part.text_delta\",\"content_index\":0,\"delta\":\"Hel\"}");
    assert_json(ck_proto_upd_content_part_done(1, "Hello", NULL),
                "{\"type\":\"assistant_message.content_part.done\",\"content_index\":1,\"content\":{\"annotations\":[],"
                "\"text\":\"Hello\",\"type\":\"output_text\"}}");
    json_t *ann = json_pack("{s:s,s:{s:s,s:s,s:s},s:i}", "type", "annotation", "source", "title", "X", "type", "url",
                            "url", "https://x.com", "index", 3);
    assert_json(
        ck_proto_upd_annotation_added(0, 0, ann),
        "{\"type\":\"assistant_message.content_part.annotation_added\",\"content_index\":0,\"annotation_index\":0,"
        "\"annotation\":{\"type\":\"annotation\",\"source\":{\"title\":\"X\",\"type\":\"url\",\"url\":\"https://"
        "x.com\"},\"index\":3}}");
    json_decref(ann);
    json_t *task = json_pack("{s:s,s:s,s:s}", "status_indicator", "loading", "type", "custom", "title", "Search");
    assert_json(
        ck_proto_upd_task_added(0, task),
        "{\"type\":\"workflow.task.added\",\"task_index\":0,\"task\":{\"status_indicator\":\"loading\",\"type\":"
        "\"custom\",\"title\":\"Search\"}}");
    assert_json(
        ck_proto_upd_task_updated(2, task),
        "{\"type\":\"workflow.task.updated\",\"task_index\":2,\"task\":{\"status_indicator\":\"loading\",\"type\":"
        "\"custom\",\"title\":\"Search\"}}");
    json_decref(task);
}
END_TEST

/* --- structured input (docs/protocol.md, "threads.add_structured_input") --- */

static json_t *si_item(const char *status)
{
    char text[512];
    snprintf(
        text, sizeof(text),
        "{\"id\":\"si_1\",\"thread_id\":\"t\",\"created_at\":\"T\",\"type\":\"structured_input\",\"status\":\"%s\","
        "\"inputs\":[{\"id\":\"q1\",\"question\":\"Pick\",\"type\":\"multiple_choice\",\"options\":[{\"value\":\"A\"},"
        "{\"value\":\"B\"}],\"multiple\":false},{\"id\":\"q2\",\"question\":\"Notes\",\"type\":\"freeform\"},"
        "{\"id\":\"q3\",\"question\":\"Many\",\"type\":\"multiple_choice\",\"options\":[],\"multiple\":true}]}",
        status);
    return json_loads(text, 0, NULL);
}

static char *answers_of(const char *input_text)
{
    json_t *item = si_item("pending"), *input = json_loads(input_text, 0, NULL), *out = NULL;
    ck_proto_error_t err;
    ck_assert_ptr_nonnull(input);
    ck_assert_int_eq(ck_proto_structured_answer(item, input, &out, &err), 0);
    /* the original is untouched */
    ck_assert_str_eq(json_string_value(json_object_get(item, "status")), "pending");
    json_t *summary = json_pack("{s:O,s:[]}", "status", json_object_get(out, "status"), "answers");
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(out, "inputs"), i, q)
        json_array_append(json_object_get(summary, "answers"), json_object_get(q, "answer"));
    char *text = ck_proto_dumps(summary);
    json_decref(summary);
    json_decref(out);
    json_decref(input);
    json_decref(item);
    return text;
}

static void assert_answers(const char *input, const char *expected)
{
    char *got = answers_of(input);
    ck_assert_str_eq(got, expected);
    free(got);
}

START_TEST(test_structured_answers)
{
    /* single choice keeps only the first value; missing = skipped; custom values are legal */
    assert_answers("{\"status\":\"answered\",\"answers\":{\"q1\":{\"values\":[\"A\",\"B\"],\"skipped\":false},"
                   "\"q3\":{\"values\":[\"X\",\"Y\"],\"skipped\":false},\"zz\":{\"values\":[\"?\"]}}}",
                   "{\"status\":\"answered\",\"answers\":[{\"values\":[\"A\"],\"skipped\":false},{\"values\":[],"
                   "\"skipped\":true},{\"values\":[\"X\",\"Y\"],\"skipped\":false}]}");
    /* empty values and skipped:true both mean skipped */
    assert_answers("{\"status\":\"answered\",\"answers\":{\"q1\":{\"values\":[],\"skipped\":false},"
                   "\"q2\":{\"values\":[\"n\"],\"skipped\":true},\"q3\":{\"values\":[\"custom\"],\"skipped\":false}}}",
                   "{\"status\":\"answered\",\"answers\":[{\"values\":[],\"skipped\":true},{\"values\":[],\"skipped\":"
                   "true},{\"values\":[\"custom\"],\"skipped\":false}]}");
    /* a skipped submission skips everything */
    assert_answers(
        "{\"status\":\"skipped\",\"answers\":{\"q1\":{\"values\":[\"A\"],\"skipped\":false}}}",
        "{\"status\":\"skipped\",\"answers\":[{\"values\":[],\"skipped\":true},{\"values\":[],\"skipped\":true},"
        "{\"values\":[],\"skipped\":true}]}");
}
END_TEST

START_TEST(test_structured_answer_errors)
{
    json_t *input = json_loads("{\"status\":\"answered\",\"answers\":{}}", 0, NULL), *out = NULL;
    ck_proto_error_t err;
    json_t *item = si_item("answered");
    ck_assert_int_eq(ck_proto_structured_answer(item, input, &out, &err), -1);
    ck_assert_int_eq(err.http_status, 409);
    ck_assert(strstr(err.message, "si_1 is not pending"));
    json_object_set_new(item, "type", json_string("widget"));
    ck_assert_int_eq(ck_proto_structured_answer(item, input, &out, &err), -1);
    ck_assert_int_eq(err.http_status, 400);
    ck_assert_ptr_null(out);
    json_decref(item);
    json_decref(input);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proto_json");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_timestamps);
    tcase_add_test(tc, test_sse_frame);
    tcase_add_test(tc, test_dumps_compact_raw_utf8);
    tcase_add_test(tc, test_omit_nulls);
    tcase_add_test(tc, test_thread_shapes);
    tcase_add_test(tc, test_user_message_item);
    tcase_add_test(tc, test_user_message_drops_unknown_keys);
    tcase_add_test(tc, test_other_items);
    tcase_add_test(tc, test_event_shapes);
    tcase_add_test(tc, test_update_shapes);
    tcase_add_test(tc, test_structured_answers);
    tcase_add_test(tc, test_structured_answer_errors);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
