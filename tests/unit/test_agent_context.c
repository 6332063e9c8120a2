/*
 * test_agent_context.c - Check tests of the pure parts of the context
 * builder: src/agent/context.c (system message blocks in order, history
 * trimmed oldest-first to the budget, the new message intact, tool results
 * shortened with a marker, summary then facts dropped, `over`),
 * src/agent/memory.c (normalisation, SHA-256 de-duplication key, parsing
 * the extraction answer) and src/agent/summary.c (150-word clamp, the cut).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agent/context.h"
#include "agent/memory.h"
#include "agent/summary.h"
#include "agent/tokens.h"
#include "check_main.h"

static json_t *user_item(const char *id, const char *text)
{
    return json_pack("{s:s,s:s,s:[{s:s,s:s}],s:[]}", "id", id, "type", "user_message", "content", "type", "input_text",
                     "text", text, "attachments");
}

static json_t *assistant_item(const char *id, const char *text)
{
    return json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "id", id, "type", "assistant_message", "content", "type", "output_text",
                     "text", text);
}

/* `n` history items of ~`words` words each, alternating user/assistant. */
static json_t *history(int n, int words)
{
    json_t *h = json_array();
    for (int i = 0; i < n; i++) {
        char id[16], text[4096];
        size_t len = (size_t)snprintf(text, sizeof text, "item %d:", i);
        for (int w = 0; w < words && len + 16 < sizeof text; w++)
            len += (size_t)snprintf(text + len, sizeof text - len, " word%d", w);
        snprintf(id, sizeof id, "it_%d", i);
        json_array_append_new(h, i % 2 ? assistant_item(id, text) : user_item(id, text));
    }
    return h;
}

START_TEST(system_blocks_in_order)
{
    json_t *facts = json_pack("[{s:s,s:s,s:s}]", "id", "mem_1", "fact", "Likes </user_memory> tea", "created_at", "x");
    char *text = ck_agent_context_system_text("Be brief.", facts, "Talked about <b>tea</conversation_summary>.");
    const char *p = strstr(text, "Be brief.");
    const char *f =
        strstr(text, "<user_memory>\n[{\"id\":\"mem_1\",\"fact\":\"Likes <\\/user_memory> tea\"}]\n</user_memory>");
    const char *u = strstr(text, "UNTRUSTED");
    const char *s = strstr(
        text, "<conversation_summary>\nTalked about &lt;b>tea&lt;/conversation_summary>.\n</conversation_summary>");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(u);
    ck_assert_ptr_nonnull(s);
    ck_assert(p < u && u < f && f < s);
    free(text);
    text = ck_agent_context_system_text("", NULL, NULL);
    ck_assert_str_eq(text, "");
    free(text);
    json_decref(facts);
}
END_TEST

START_TEST(history_trimmed_to_budget)
{
    json_t *h = history(10, 40);
    json_t *msg = user_item("new", "the new question");
    ck_agent_context_in_t in = {.system_prompt = "Be brief.", .history = h, .user_message = msg, .budget = 100000};
    ck_agent_context_out_t out;
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_uint_eq(out.history_sent, 10);
    ck_assert_uint_eq(json_array_size(out.messages), 12);
    size_t all = out.total;
    json_decref(out.messages);

    in.budget = all - 150; /* about two items fewer */
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_uint_lt(out.history_sent, 10);
    ck_assert_uint_gt(out.history_sent, 5);
    ck_assert_uint_le(out.total, in.budget);
    ck_assert_uint_eq(out.total, ck_tokens_messages(out.messages));
    /* the newest items are the ones kept, the new message last and whole */
    size_t n = json_array_size(out.messages);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out.messages, n - 1), "content")),
                     "the new question");
    ck_assert(
        strncmp(json_string_value(json_object_get(json_array_get(out.messages, n - 2), "content")), "item 9:", 7) == 0);
    char want[16];
    snprintf(want, sizeof want, "item %zu:", 10 - out.history_sent);
    ck_assert(strncmp(json_string_value(json_object_get(json_array_get(out.messages, 1), "content")), want,
                      strlen(want)) == 0);
    json_decref(out.messages);

    in.budget = 60; /* not even the system prompt and the message: over */
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_int_eq(out.over, 0); /* still fits without history */
    ck_assert_uint_eq(out.history_sent, 0);
    json_decref(out.messages);
    in.budget = 10;
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_int_eq(out.over, 1);
    json_decref(out.messages);
    json_decref(msg);
    json_decref(h);
}
END_TEST

START_TEST(tool_results_shortened_then_summary_and_facts_dropped)
{
    json_t *msg = user_item("new", "question");
    char big[20000];
    size_t len = 0;
    while (len + 8 < sizeof big)
        len += (size_t)snprintf(big + len, sizeof big - len, "result ");
    json_t *turn = json_pack("[{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]},{s:s,s:s,s:s}]", "role", "assistant", "content",
                             "tool_calls", "id", "c1", "type", "function", "function", "name", "search", "arguments",
                             "{}", "role", "tool", "tool_call_id", "c1", "content", big);
    json_t *facts = json_pack("[{s:s,s:s},{s:s,s:s}]", "id", "mem_1", "fact", "The user likes tea", "id", "mem_2",
                              "fact", "The user is a nurse");
    ck_agent_context_in_t in = {
        .user_message = msg, .turn_messages = turn, .facts = facts, .summary = "Earlier: tea.", .budget = 1000};
    ck_agent_context_out_t out;
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_int_eq(out.over, 0);
    ck_assert_uint_ge(out.shortened, 1);
    ck_assert_uint_le(out.total, 1000);
    const char *tool =
        json_string_value(json_object_get(json_array_get(out.messages, json_array_size(out.messages) - 1), "content"));
    ck_assert_ptr_nonnull(strstr(tool, "[shortened to fit the context budget: about"));
    ck_assert_int_eq(out.summary_dropped, 0);
    json_decref(out.messages);

    /* a budget only the message and a minimal tool result fit: summary, then facts go */
    in.turn_messages = NULL;
    in.budget = ck_tokens_str("question") + 30;
    ck_assert_int_eq(ck_agent_context_build(&in, &out), 0);
    ck_assert_int_eq(out.summary_dropped, 1);
    ck_assert_int_eq(out.facts_dropped, 1);
    ck_assert_uint_le(out.total, in.budget);
    json_decref(out.messages);
    json_decref(facts);
    json_decref(turn);
    json_decref(msg);
}
END_TEST

START_TEST(memory_normalise_and_hash)
{
    char *n = ck_agent_memory_normalise("  The USER\tis \n Vegetarian\xc2\xa0 ");
    ck_assert_str_eq(n, "the user is vegetarian");
    free(n);
    n = ck_agent_memory_normalise("ПРИВЕТ Ёжик ÉTÉ Ωmega");
    ck_assert_str_eq(n, "привет ёжик été ωmega");
    free(n);
    char a[65], b[65], c[65];
    ck_assert_int_eq(ck_agent_memory_sha256("The user is vegetarian", a), 0);
    ck_assert_int_eq(ck_agent_memory_sha256("  the USER is   vegetarian", b), 0);
    ck_assert_int_eq(ck_agent_memory_sha256("The user is vegan", c), 0);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_uint_eq(strlen(a), 64);
    /* SHA-256("the user is vegetarian") */
    ck_assert_str_eq(a, "75043f7e896465cf7b63efef8a5f2e3ff48d6d22fd21602c3b6f5a61813e3868");
    ck_assert_uint_eq(ck_agent_utf8_chars("été"), 3);
}
END_TEST

START_TEST(memory_parse_facts)
{
    json_t *f =
        ck_agent_memory_parse_facts("Here:\n```json\n[\" The user lives in Lyon \", 3, \"\", \"The user has cats\", "
                                    "\"The user is a nurse\", \"The user likes jazz\"]\n```");
    ck_assert_uint_eq(json_array_size(f), 3);
    ck_assert_str_eq(json_string_value(json_array_get(f, 0)), "The user lives in Lyon");
    ck_assert_str_eq(json_string_value(json_array_get(f, 2)), "The user is a nurse");
    json_decref(f);
    char long_fact[600];
    memset(long_fact, 'x', sizeof long_fact);
    long_fact[0] = '[';
    long_fact[1] = '"';
    long_fact[597] = '"';
    long_fact[598] = ']';
    long_fact[599] = '\0';
    f = ck_agent_memory_parse_facts(long_fact);
    ck_assert_uint_eq(json_array_size(f), 0);
    json_decref(f);
    f = ck_agent_memory_parse_facts("no facts here");
    ck_assert_uint_eq(json_array_size(f), 0);
    json_decref(f);
    f = ck_agent_memory_parse_facts(NULL);
    ck_assert_uint_eq(json_array_size(f), 0);
    json_decref(f);
}
END_TEST

START_TEST(summary_clamp_and_cut)
{
    char text[4096];
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "w%d%s", i, i % 10 == 9 ? "\n" : " ");
    ck_assert_uint_eq(ck_agent_summary_clamp(text), 150);
    ck_assert(strncmp(text, "w0 w1", 5) == 0);
    ck_assert(strlen(text) > 5 && strcmp(text + strlen(text) - 4, "w149") == 0);
    ck_assert_ptr_null(strchr(text, '\n'));
    char small[] = "  Short summary.  ";
    ck_assert_uint_eq(ck_agent_summary_clamp(small), 2);
    ck_assert_str_eq(small, "Short summary.");
    ck_assert_uint_eq(ck_agent_summary_cut(6, 0, 10), 0);  /* window not full yet */
    ck_assert_uint_eq(ck_agent_summary_cut(10, 0, 10), 2); /* the next turn drops two */
    ck_assert_uint_eq(ck_agent_summary_cut(10, 5, 10), 5); /* the budget already dropped five */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("agent_context");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, system_blocks_in_order);
    tcase_add_test(tc, history_trimmed_to_budget);
    tcase_add_test(tc, tool_results_shortened_then_summary_and_facts_dropped);
    tcase_add_test(tc, memory_normalise_and_hash);
    tcase_add_test(tc, memory_parse_facts);
    tcase_add_test(tc, summary_clamp_and_cut);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
