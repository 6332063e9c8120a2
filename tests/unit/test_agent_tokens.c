/*
 * test_agent_tokens.c - Check tests of src/agent/tokens.c: estimates of
 * English, code, JSON, Cyrillic, Chinese, digits and emoji within a few
 * tokens of the o200k_base counts (the reference counts below were taken
 * with gpt-tokenizer, see bench/tokens); message and request framing;
 * image parts; the longest prefix under a budget, cut on a character.
 * The error over whole corpora is measured by `make bench-tokens`.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tokens.h"
#include "check_main.h"

static const struct {
    const char *text;
    size_t reference; /* o200k_base */
} CASES[] = {
    {"The quick brown fox jumps over the lazy dog.", 10},
    {"Please summarise the conversation so far in at most one hundred and fifty words.", 16},
    {"static int ck_tokens_text(const char *text, size_t len)\n{\n    return 0;\n}\n", 21},
    {"{\"role\":\"user\",\"content\":\"What is the weather in Paris today?\"}", 16},
    {"Привет, как дела? Сегодня хорошая погода.", 12},
    {"今天天气很好，我们去公园散步吧。", 12},
    {"order 1234567890 shipped on 2024-03-15", 15},
};

START_TEST(close_to_reference)
{
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        size_t est = ck_tokens_str(CASES[k].text);
        size_t ref = CASES[k].reference;
        /* within 20% (at least 2 tokens) either way */
        size_t slack = ref / 5 > 2 ? ref / 5 : 2;
        if (est + slack < ref || est > ref + slack)
            ck_abort_msg("\"%s\": estimate %zu, reference %zu", CASES[k].text, est, ref);
    }
    ck_assert_uint_eq(ck_tokens_str(""), 0);
    ck_assert_uint_eq(ck_tokens_str(NULL), 0);
    ck_assert_uint_ge(ck_tokens_str("\xff\xfe\x80"), 1); /* invalid UTF-8 still costs */
}
END_TEST

START_TEST(grows_with_text)
{
    char buf[4001];
    memset(buf, 'a', 4000);
    buf[4000] = '\0';
    size_t one_word = ck_tokens_str(buf);
    ck_assert_uint_ge(one_word, 500); /* a long run never counts as one token */
    for (int i = 0; i < 4000; i += 5)
        memcpy(buf + i, "word ", 5);
    ck_assert_uint_ge(ck_tokens_str(buf), 790);
    ck_assert_uint_le(ck_tokens_str(buf), 900);
}
END_TEST

START_TEST(messages_and_tools)
{
    json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:[{s:s,s:s},{s:s,s:{s:s}}]}]", "role", "system", "content", "Be brief.",
                             "role", "user", "content", "type", "text", "text", "hello", "type", "image_url",
                             "image_url", "url", "data:image/png;base64,AAAA");
    size_t sys = ck_tokens_message(json_array_get(msgs, 0));
    ck_assert_uint_eq(sys, CK_TOKENS_PER_MESSAGE + ck_tokens_str("system") + ck_tokens_str("Be brief."));
    size_t user = ck_tokens_message(json_array_get(msgs, 1));
    ck_assert_uint_eq(user, CK_TOKENS_PER_MESSAGE + ck_tokens_str("user") + ck_tokens_str("hello") + CK_TOKENS_IMAGE);
    ck_assert_uint_eq(ck_tokens_messages(msgs), CK_TOKENS_PER_REQUEST + sys + user);
    json_t *call =
        json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content", "tool_calls", "id", "call_1",
                  "type", "function", "function", "name", "search", "arguments", "{\"query\":\"zebra\"}");
    ck_assert_uint_gt(ck_tokens_message(call), CK_TOKENS_PER_MESSAGE + ck_tokens_str("{\"query\":\"zebra\"}"));
    json_t *tools = json_pack("[{s:s,s:{s:s}}]", "type", "function", "function", "name", "search");
    ck_assert_uint_gt(ck_tokens_tools(tools), 5);
    json_decref(tools);
    json_decref(call);
    json_decref(msgs);
}
END_TEST

START_TEST(prefix_under_budget)
{
    const char *text = "Привет, как дела? Сегодня хорошая погода. The quick brown fox jumps over the lazy dog.";
    size_t len = strlen(text);
    ck_assert_uint_eq(ck_tokens_prefix(text, len, 1000), len);
    size_t cut = ck_tokens_prefix(text, len, 8);
    ck_assert_uint_lt(cut, len);
    ck_assert_uint_gt(cut, 0);
    ck_assert_uint_le(ck_tokens_text(text, cut), 8);
    ck_assert_int_ne((unsigned char)text[cut] & 0xC0, 0x80); /* a character boundary */
    ck_assert_uint_eq(ck_tokens_prefix(text, len, 0), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("agent_tokens");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, close_to_reference);
    tcase_add_test(tc, grows_with_text);
    tcase_add_test(tc, messages_and_tools);
    tcase_add_test(tc, prefix_under_budget);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
