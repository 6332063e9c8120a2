/*
 * test_agent_sse.c - Check tests of the upstream Chat Completions SSE parser
 * (src/agent/upstream_sse.c): text deltas, tool-call fragments, finish
 * reason, [DONE], comments, CRLF/CR line ends, every split point of a
 * transcript, upstream error objects and garbage.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agent/upstream_sse.h"
#include "check_main.h"

typedef struct text_sink {
    char buf[4096];
    size_t len;
    int calls;
} text_sink_t;

static void collect(const char *delta, size_t len, void *user)
{
    text_sink_t *t = user;
    ck_assert_uint_lt(t->len + len, sizeof(t->buf));
    memcpy(t->buf + t->len, delta, len);
    t->len += len;
    t->buf[t->len] = '\0';
    t->calls++;
}

static const char TEXT_STREAM[] =
    ": keep-alive comment\n"
    "data: "
    "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":"
    "null}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
    "event: message\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo "
    "\\u00e9\\n\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n"
    "data: [DONE]\n\n";

static const char TOOL_STREAM[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
    "[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":\"\"}}]}}]}"
    "\n\n"
    "data: "
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"que\"}}]}}]}"
    "\n\n"
    "data: "
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":"
    "\"sea\"}}]}}]}\n\n"
    "data: "
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ry\\\":\\\"x\\\"}"
    "\"}},"
    "{\"index\":1,\"function\":{\"name\":\"rch\",\"arguments\":\"{}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: [DONE]\n\n";

/* Feeds `s` in pieces cut at `cut` (0 = whole) and checks the text result. */
static void feed_split(ck_agent_sse_t *p, const char *s, size_t cut)
{
    size_t n = strlen(s);
    if (cut == 0 || cut >= n) {
        ck_assert_int_eq(ck_agent_sse_feed(p, s, n), 0);
        return;
    }
    ck_assert_int_eq(ck_agent_sse_feed(p, s, cut), 0);
    ck_assert_int_eq(ck_agent_sse_feed(p, s + cut, n - cut), 0);
}

START_TEST(text_deltas_whole)
{
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    feed_split(&p, TEXT_STREAM, 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_str_eq(t.buf, "Hello \xc3\xa9\n");
    ck_assert_int_eq(t.calls, 2);
    ck_assert_str_eq(p.finish_reason, "stop");
    ck_assert_int_eq(p.done, 1);
    ck_assert_uint_eq(p.tool_call_count, 0);
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(text_deltas_every_split)
{
    size_t n = strlen(TEXT_STREAM);
    for (size_t cut = 1; cut < n; cut++) {
        text_sink_t t = {0};
        ck_agent_sse_t p;
        ck_agent_sse_init(&p, collect, &t);
        feed_split(&p, TEXT_STREAM, cut);
        ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
        ck_assert_str_eq(t.buf, "Hello \xc3\xa9\n");
        ck_assert_int_eq(p.done, 1);
        ck_agent_sse_free(&p);
    }
}
END_TEST

START_TEST(byte_by_byte_crlf)
{
    /* Same transcript with CRLF line ends, fed one byte at a time. */
    char crlf[4096];
    size_t o = 0;
    for (const char *s = TEXT_STREAM; *s; s++) {
        if (*s == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *s;
    }
    crlf[o] = '\0';
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    for (size_t i = 0; i < o; i++)
        ck_assert_int_eq(ck_agent_sse_feed(&p, crlf + i, 1), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_str_eq(t.buf, "Hello \xc3\xa9\n");
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(bare_cr_line_ends)
{
    const char *s = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\r"
                    "data:{\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\r\r";
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0); /* finish_reason without [DONE] is complete */
    ck_assert_str_eq(t.buf, "ab");
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(tool_calls_every_split)
{
    size_t n = strlen(TOOL_STREAM);
    for (size_t cut = 0; cut < n; cut++) {
        text_sink_t t = {0};
        ck_agent_sse_t p;
        ck_agent_sse_init(&p, collect, &t);
        feed_split(&p, TOOL_STREAM, cut);
        ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
        ck_assert_int_eq(t.calls, 0);
        ck_assert_uint_eq(p.tool_call_count, 2);
        ck_assert_str_eq(p.tool_calls[0].id, "call_a");
        ck_assert_str_eq(p.tool_calls[0].name, "search");
        ck_assert_str_eq(p.tool_calls[0].arguments, "{\"query\":\"x\"}");
        ck_assert_uint_eq(p.tool_calls[0].arguments_len, 13);
        ck_assert_str_eq(p.tool_calls[1].id, "call_b");
        ck_assert_str_eq(p.tool_calls[1].name, "search");
        ck_assert_str_eq(p.tool_calls[1].arguments, "{}");
        ck_assert_str_eq(p.finish_reason, "tool_calls");
        ck_agent_sse_free(&p);
    }
}
END_TEST

START_TEST(multiline_data_joined)
{
    /* Two data lines form one JSON document joined by LF. */
    const char *s = "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n";
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_str_eq(t.buf, "x");
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(garbage_is_an_error)
{
    const char *s = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: <html>oops</html>\n\n"
                    "data: {\"choices\":[{\"delta\":{\"content\":\"never\"}}]}\n\n";
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), -1);
    ck_assert_ptr_nonnull(p.error);
    ck_assert_ptr_nonnull(strstr(p.error, "malformed"));
    ck_assert_str_eq(t.buf, "ok");
    ck_assert_int_eq(ck_agent_sse_feed(&p, "data: [DONE]\n\n", 14), -1);
    ck_assert_int_eq(ck_agent_sse_finish(&p), -1);
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(non_object_json_is_an_error)
{
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, NULL, NULL);
    ck_assert_int_eq(ck_agent_sse_feed(&p, "data: 42\n\n", 10), -1);
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(upstream_error_object)
{
    const char *s = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}\n\n";
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, NULL, NULL);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), -1);
    ck_assert_str_eq(p.error, "upstream error: Rate limit reached");
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(usage_chunk)
{
    const char *s = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n"
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":57,\"completion_tokens\":4,"
                    "\"total_tokens\":61}}\n\ndata: [DONE]\n\n";
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, NULL, NULL);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_int_eq(p.usage_seen, 1);
    ck_assert_int_eq(p.prompt_tokens, 57);
    ck_assert_int_eq(p.completion_tokens, 4);
    ck_agent_sse_free(&p);
    ck_assert_int_eq(p.usage_seen, 0); /* a retry starts without usage */
}
END_TEST

START_TEST(truncated_stream)
{
    const char *s = "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\ndata: {\"choi";
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), -1);
    ck_assert_ptr_nonnull(p.error);
    ck_agent_sse_free(&p);

    /* An empty body is truncated too. */
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_finish(&p), -1);
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(unterminated_last_event_dispatched)
{
    const char *s = "data: {\"choices\":[{\"delta\":{\"content\":\"z\"},\"finish_reason\":\"length\"}]}";
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), 0);
    ck_assert_int_eq(t.calls, 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_str_eq(t.buf, "z");
    ck_assert_str_eq(p.finish_reason, "length");
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(too_many_tool_calls)
{
    const char *s =
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":99,\"function\":{\"name\":\"x\"}}]}}]}\n\n";
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, NULL, NULL);
    ck_assert_int_eq(ck_agent_sse_feed(&p, s, strlen(s)), -1);
    ck_agent_sse_free(&p);
}
END_TEST

START_TEST(overlong_line)
{
    size_t n = CK_AGENT_SSE_MAX_LINE + 10;
    char *big = malloc(n);
    memset(big, 'a', n);
    memcpy(big, "data: ", 6);
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, NULL, NULL);
    ck_assert_int_eq(ck_agent_sse_feed(&p, big, n), -1);
    ck_assert_ptr_nonnull(strstr(p.error, "too long"));
    ck_agent_sse_free(&p);
    free(big);
}
END_TEST

START_TEST(reuse_after_free)
{
    text_sink_t t = {0};
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, collect, &t);
    ck_assert_int_eq(ck_agent_sse_feed(&p, "data: nope\n\n", 12), -1);
    ck_agent_sse_free(&p);
    ck_assert_int_eq(ck_agent_sse_feed(&p, TEXT_STREAM, strlen(TEXT_STREAM)), 0);
    ck_assert_int_eq(ck_agent_sse_finish(&p), 0);
    ck_assert_str_eq(t.buf, "Hello \xc3\xa9\n");
    ck_agent_sse_free(&p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("agent_sse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, text_deltas_whole);
    tcase_add_test(tc, text_deltas_every_split);
    tcase_add_test(tc, byte_by_byte_crlf);
    tcase_add_test(tc, bare_cr_line_ends);
    tcase_add_test(tc, tool_calls_every_split);
    tcase_add_test(tc, multiline_data_joined);
    tcase_add_test(tc, garbage_is_an_error);
    tcase_add_test(tc, non_object_json_is_an_error);
    tcase_add_test(tc, upstream_error_object);
    tcase_add_test(tc, usage_chunk);
    tcase_add_test(tc, truncated_stream);
    tcase_add_test(tc, unterminated_last_event_dispatched);
    tcase_add_test(tc, too_many_tool_calls);
    tcase_add_test(tc, overlong_line);
    tcase_add_test(tc, reuse_after_free);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
