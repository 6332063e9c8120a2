/*
 * test_assistants.c - Check tests of src/agent/assistants.c: a complete
 * registry (defaults, tools, ${VAR} expansion, headers), every refusal
 * naming its place (bad JSON with line and column, unknown tool, duplicate
 * id, two defaults, unset variable, unknown key, bad URL, client tool with
 * a URL), the public list, the model rule, and the argument check of tool
 * calls (types, required, enum, additionalProperties, nested, ranges).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "agent/assistants.h"
#include "check_main.h"

static const char GOOD[] =
    "{\"assistants\": ["
    " {\"id\": \"tax\", \"name\": \"Ledger\", \"description\": \"Taxes\", \"instructions\": \"You are Ledger\","
    "  \"model\": \"m-tax\", \"examples\": [\"Can I deduct my home office?\"],"
    "  \"tools\": [\"search\", \"exchange_rate\"], \"sources\": [\"docs/tax/\"]},"
    " {\"id\": \"ops\", \"tools\": [\"open_page\"], \"default\": true},"
    " {\"id\": \"plain\"}],"
    " \"tools\": ["
    " {\"name\": \"exchange_rate\", \"description\": \"Rates\","
    "  \"parameters\": {\"type\": \"object\", \"properties\": {\"from\": {\"type\": \"string\"}}, \"required\": "
    "[\"from\"]},"
    "  \"url\": \"https://rates.internal/v1/rate\", \"headers\": {\"Authorization\": \"Bearer ${CK_TEST_TOKEN}\"},"
    "  \"timeout_ms\": 5000},"
    " {\"name\": \"open_page\", \"client\": true}]}";

static ck_assistants_t *parse(const char *text, char *err, size_t len)
{
    return ck_assistants_parse(text, strlen(text), "a.json", err, len);
}

START_TEST(parses_a_complete_file)
{
    char err[600] = "";
    setenv("CK_TEST_TOKEN", "s3cret", 1);
    ck_assistants_t *r = parse(GOOD, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_uint_eq(r->count, 3);
    ck_assert_uint_eq(r->tool_count, 2);
    const ck_assistant_t *tax = ck_assistants_find(r, "tax");
    ck_assert_str_eq(tax->name, "Ledger");
    ck_assert_str_eq(tax->instructions, "You are Ledger");
    ck_assert_str_eq(tax->model, "m-tax");
    ck_assert_int_eq(tax->search, 1);
    ck_assert_uint_eq(tax->tool_count, 1);
    ck_assert_str_eq(tax->tools[0]->headers[0], "Authorization: Bearer s3cret");
    ck_assert_ptr_null(tax->tools[0]->headers[1]);
    ck_assert_int_eq(tax->tools[0]->timeout_ms, 5000);
    ck_assert_str_eq(json_string_value(json_array_get(tax->sources, 0)), "docs/tax/");
    ck_assert_str_eq(ck_assistants_default(r)->id, "ops");
    const ck_assistant_t *ops = ck_assistants_find(r, "ops");
    ck_assert_int_eq(ops->search, 0); /* an explicit list without "search" */
    ck_assert_ptr_nonnull(ck_assistant_tool(ops, "open_page"));
    ck_assert_int_eq(ck_assistant_tool(ops, "open_page")->client, 1);
    ck_assert_ptr_null(ck_assistant_tool(ops, "exchange_rate")); /* not listed by ops */
    const ck_assistant_t *plain = ck_assistants_find(r, "plain");
    ck_assert_int_eq(plain->search, 1); /* no "tools": the built-in search */
    ck_assert_str_eq(plain->name, "plain");
    ck_assert_ptr_null(ck_assistants_find(r, "nobody"));

    json_t *pub = ck_assistants_public(r);
    char *s = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"data\":[{\"default\":false,\"description\":\"Taxes\",\"id\":\"tax\",\"name\":\"Ledger\"},"
                        "{\"default\":true,\"description\":\"\",\"id\":\"ops\",\"name\":\"ops\"},"
                        "{\"default\":false,\"description\":\"\",\"id\":\"plain\",\"name\":\"plain\"}]}");
    free(s);
    json_decref(pub);

    ck_assert_int_eq(ck_assistants_model_allowed(r, "tax", 0), 1);
    ck_assert_int_eq(ck_assistants_model_allowed(r, NULL, 0), 1);
    ck_assert_int_eq(ck_assistants_model_allowed(r, "gpt-x", 0), 0);
    ck_assert_int_eq(ck_assistants_model_allowed(r, "gpt-x", 1), 1);
    ck_assert_ptr_nonnull(strstr(r->route_candidates, "\"Can I deduct my home office?\""));
    ck_assistants_free(r);
}
END_TEST

START_TEST(first_is_the_default_when_none_is_marked)
{
    char err[600];
    ck_assistants_t *r = parse("{\"assistants\":[{\"id\":\"a\"},{\"id\":\"b\"}]}", err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(ck_assistants_default(r)->id, "a");
    ck_assert_int_eq(r->list[0].is_default, 1);
    ck_assistants_free(r);
}
END_TEST

/* Each bad file is refused with a message holding `want`. */
static const struct {
    const char *text, *want;
} BAD[] = {
    {"{\"assistants\": [", "a.json:1:"},
    {"[]", "a.json: $: the file must hold"},
    {"{\"assistants\": []}", "$.assistants: must be a non-empty array"},
    {"{\"assistants\": [{\"id\": \"a\", \"tools\": [\"nope\"]}]}", "$.assistants[0].tools[0]: unknown tool \"nope\""},
    {"{\"assistants\": [{\"id\": \"a\"}, {\"id\": \"a\"}]}", "$.assistants[1]: duplicate assistant id \"a\""},
    {"{\"assistants\": [{\"id\": \"a\", \"default\": true}, {\"id\": \"b\", \"default\": true}]}",
     "$.assistants[1]: a second assistant with \"default\": true"},
    {"{\"assistants\": [{\"id\": \"a\", \"instructions\": \"${CK_TEST_UNSET_VAR}\"}]}",
     "$.assistants[0].instructions: environment variable CK_TEST_UNSET_VAR is not set"},
    {"{\"assistants\": [{\"id\": \"a\", \"instuctions\": \"x\"}]}", "$.assistants[0]: unknown key \"instuctions\""},
    {"{\"assistants\": [{\"name\": \"x\"}]}", "$.assistants[0]: \"id\" must be"},
    {"{\"assistants\": [{\"id\": \"a b\"}]}", "$.assistants[0]: \"id\" must be"},
    {"{\"assistants\": [{\"id\": \"a\", \"examples\": [\"x\", 3]}]}",
     "$.assistants[0].examples[1]: must be a non-empty string"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"url\": \"ftp://x\"}]}",
     "$.tools[0]: \"url\" must be an http:// or https:// URL"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"client\": true, \"url\": \"http://x\"}]}",
     "$.tools[0]: a client tool (\"client\": true) has no \"url\""},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"client\": true}, {\"name\": \"t\", "
     "\"client\": true}]}",
     "$.tools[1]: duplicate tool name \"t\""},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"search\", \"client\": true}]}",
     "$.tools[0]: \"search\" is the built-in search tool"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"url\": \"http://x\", \"timeout_ms\": 0}]}",
     "$.tools[0]: \"timeout_ms\" must be an integer"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"url\": \"http://x\", \"parameters\": "
     "{\"type\": \"string\"}}]}",
     "$.tools[0]: \"parameters\" must be a JSON Schema object"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"url\": \"http://x\", \"headers\": {\"X\": "
     "\"${CK_TEST_UNSET_VAR}\"}}]}",
     "$.tools[0].headers.X: environment variable CK_TEST_UNSET_VAR is not set"},
    {"{\"assistants\": [{\"id\": \"a\"}], \"tools\": [{\"name\": \"t\", \"url\": \"http://x\", \"headers\": {\"X\": "
     "1}}]}",
     "$.tools[0].headers.X: must be a string"},
};

START_TEST(refuses_naming_the_place)
{
    char err[600] = "";
    ck_assistants_t *r = parse(BAD[_i].text, err, sizeof err);
    ck_assert_msg(r == NULL, "accepted: %s", BAD[_i].text);
    ck_assert_msg(strstr(err, BAD[_i].want) != NULL, "message \"%s\" lacks \"%s\"", err, BAD[_i].want);
}
END_TEST

START_TEST(load_names_a_missing_file)
{
    char err[600] = "";
    ck_assert_ptr_null(ck_assistants_load("/nonexistent/assistants.json", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/assistants.json: cannot open"));
}
END_TEST

/* --- argument check --------------------------------------------------------------- */

static const char SCHEMA[] =
    "{\"type\": \"object\", \"additionalProperties\": false, \"required\": [\"from\"],"
    " \"properties\": {\"from\": {\"type\": \"string\", \"enum\": [\"EUR\", \"USD\"]},"
    "                \"amount\": {\"type\": \"number\", \"minimum\": 0},"
    "                \"days\": {\"type\": \"integer\", \"maximum\": 30},"
    "                \"note\": {\"type\": \"string\", \"maxLength\": 3},"
    "                \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "                \"opts\": {\"type\": \"object\", \"properties\": {\"fast\": {\"type\": \"boolean\"}},"
    "                          \"additionalProperties\": false}}}";

static const struct {
    const char *args, *want; /* want NULL: accepted */
} ARGS[] = {
    {"{\"from\": \"EUR\"}", NULL},
    {"{\"from\": \"USD\", \"amount\": 2.5, \"days\": 3, \"note\": \"\xc3\xa9t\xc3\xa9\", \"tags\": [\"a\"], \"opts\": "
     "{\"fast\": true}}",
     NULL},
    {"{}", "$.from: required"},
    {"{\"from\": 1}", "$.from: expected string"},
    {"{\"from\": \"GBP\"}", "$.from: not one of the allowed values"},
    {"{\"from\": \"EUR\", \"to\": \"USD\"}", "$.to: unknown argument"},
    {"{\"from\": \"EUR\", \"amount\": -1}", "$.amount: out of range"},
    {"{\"from\": \"EUR\", \"days\": 1.5}", "$.days: expected integer"},
    {"{\"from\": \"EUR\", \"days\": 31}", "$.days: out of range"},
    {"{\"from\": \"EUR\", \"note\": \"abcd\"}", "$.note: length out of range"},
    {"{\"from\": \"EUR\", \"tags\": [\"a\", 2]}", "$.tags[1]: expected string"},
    {"{\"from\": \"EUR\", \"opts\": {\"slow\": true}}", "$.opts.slow: unknown argument"},
    {"{\"from\": \"EUR\", \"opts\": {\"fast\": \"yes\"}}", "$.opts.fast: expected boolean"},
    {"[\"EUR\"]", "$: the arguments must be a JSON object"},
};

START_TEST(checks_arguments)
{
    json_t *schema = json_loads(SCHEMA, 0, NULL);
    json_t *args = json_loads(ARGS[_i].args, 0, NULL);
    ck_assert_ptr_nonnull(schema);
    ck_assert_ptr_nonnull(args);
    char err[300] = "";
    int rc = ck_tool_args_check(schema, args, err, sizeof err);
    if (ARGS[_i].want == NULL)
        ck_assert_msg(rc == 0, "%s refused: %s", ARGS[_i].args, err);
    else {
        ck_assert_msg(rc < 0, "%s accepted", ARGS[_i].args);
        ck_assert_msg(strcmp(err, ARGS[_i].want) == 0, "\"%s\" != \"%s\"", err, ARGS[_i].want);
    }
    json_decref(schema);
    json_decref(args);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("assistants");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, parses_a_complete_file);
    tcase_add_test(tc, first_is_the_default_when_none_is_marked);
    tcase_add_loop_test(tc, refuses_naming_the_place, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, load_names_a_missing_file);
    tcase_add_loop_test(tc, checks_arguments, 0, (int)(sizeof ARGS / sizeof ARGS[0]));
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
