/*
 * test_env.c - unit tests of src/base/env.c: each kind's accepted form, the
 * refusal of a bad value (ck_env_validate), defaults, empty = unset, the
 * flag names derived from the table, the command-line parser
 * (ck_env_parse_args: both spellings, a flag wins over its variable, the
 * commands' own arguments pass through, a missing value is refused) and
 * `--help` printed from the table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "http/upload_policy.h"

#include "check_main.h"

/* Every variable of the table unset, so one test's setenv cannot leak into the next. */
static void clear_all(void)
{
    size_t n;
    const ck_env_var_t *t = ck_env_table(&n);
    for (size_t i = 0; i < n; i++)
        unsetenv(t[i].name);
}

typedef struct {
    const char *name, *value;
    int ok;
} check_case_t;

static const check_case_t CASES[] = {
    {"CHATKITD_WORKERS", "1", 1},
    {"CHATKITD_WORKERS", "256", 1},
    {"CHATKITD_WORKERS", "0", 0},
    {"CHATKITD_WORKERS", "257", 0},
    {"CHATKITD_WORKERS", "2x", 0},
    {"CHATKITD_WORKERS", " 2", 1}, /* strtoll skips leading blanks, as before */
    {"CHATKITD_WORKERS", "-1", 0},
    {"CHATKITD_RATE_TURNS_PER_MIN", "lots", 0},
    {"CHATKITD_RATE_TURNS_PER_MIN", "0", 1},
    {"CHATKITD_MAX_BODY", "1", 1},
    {"CHATKITD_MAX_BODY", "64k", 1},
    {"CHATKITD_MAX_BODY", "2M", 1},
    {"CHATKITD_MAX_BODY", "1G", 1},
    {"CHATKITD_MAX_BODY", "0", 0},
    {"CHATKITD_MAX_BODY", "1T", 0},
    {"CHATKITD_MAX_BODY", "M", 0},
    {"CHATKITD_MAX_BODY", "-5", 0},
    {"CHATKITD_MAX_BODY", "99999999999999999999", 0},
    {"CHATKITD_ALLOW_MODEL_OVERRIDE", "1", 1},
    {"CHATKITD_ALLOW_MODEL_OVERRIDE", "TRUE", 1},
    {"CHATKITD_ALLOW_MODEL_OVERRIDE", "off", 1},
    {"CHATKITD_ALLOW_MODEL_OVERRIDE", "maybe", 0},
    {"CHATKITD_LOG_LEVEL", "debug", 1},
    {"CHATKITD_LOG_LEVEL", "error", 1},
    {"CHATKITD_LOG_LEVEL", "verbose", 0},
    {"CHATKITD_LOG_LEVEL", "info|warn", 0},
    {"CHATKITD_LOG_LEVEL", "inf", 0},
    {"CHATKITD_PUBLIC_URL", "https://chat.example.com/", 1},
    {"CHATKITD_PUBLIC_URL", "ftp://chat.example.com", 0},
    {"CHATKITD_PUBLIC_URL", "https://a b", 0},
    {"OPENAI_BASE_URL", "http://127.0.0.1:9/v1", 1},
    {"OPENAI_BASE_URL", "127.0.0.1:9/v1", 0},
    {"CHATKITD_UPLOAD_SECRET", "0123456789abcdef", 1},
    {"CHATKITD_UPLOAD_SECRET", "short", 0},
    {"CHATKITD_LISTEN", "anything at all", 1},
};

START_TEST(check_accepts_and_refuses)
{
    const check_case_t *c = &CASES[_i];
    const ck_env_var_t *var = ck_env_find(c->name);
    ck_assert_ptr_nonnull(var);
    char err[160] = "";
    int rc = ck_env_check(var, c->value, err, sizeof(err));
    ck_assert_msg((rc == 0) == c->ok, "%s=\"%s\": expected %s", c->name, c->value, c->ok ? "ok" : "refused");
    if (!c->ok)
        ck_assert_msg(strlen(err) > 0, "%s: a refusal names the accepted form", c->name);
}
END_TEST

START_TEST(validate_refuses_a_bad_value)
{
    FILE *devnull = fopen("/dev/null", "w");
    clear_all();
    ck_assert_int_eq(ck_env_validate(devnull), 0);
    setenv("CHATKITD_HEARTBEAT_MS", "700", 1);
    setenv("CHATKITD_LISTEN", "127.0.0.1:1", 1);
    ck_assert_int_eq(ck_env_validate(devnull), 0);
    setenv("CHATKITD_HEARTBEAT_MS", "0", 1);
    ck_assert_int_eq(ck_env_validate(devnull), -1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    setenv("CHATKITD_UPLOAD_SECRET", "too-short", 1);
    ck_assert_int_eq(ck_env_validate(f), -1);
    fclose(f);
    /* one line per bad variable, naming it and the accepted form; a text value by its length only */
    ck_assert_str_eq(
        text, "chatkitd: CHATKITD_UPLOAD_SECRET (9 bytes): expected text of at least 16 bytes (see chatkitd --help)\n"
              "chatkitd: CHATKITD_HEARTBEAT_MS=\"0\": expected an integer from 1 to 86400000 (see chatkitd --help)\n");
    free(text);
    unsetenv("CHATKITD_UPLOAD_SECRET");
    setenv("CHATKITD_HEARTBEAT_MS", "", 1); /* empty = unset */
    ck_assert_int_eq(ck_env_validate(devnull), 0);
    fclose(devnull);
    clear_all();
}
END_TEST

START_TEST(getters_read_value_or_default)
{
    clear_all();
    ck_assert_str_eq(ck_env_str("CHATKITD_LISTEN"), "127.0.0.1:8000");
    ck_assert_ptr_null(ck_env_str("DATABASE_URL"));
    ck_assert_int_eq(ck_env_is_set("DATABASE_URL"), 0);
    ck_assert_int_eq(ck_env_int("CHATKITD_HEARTBEAT_MS"), 15000);
    ck_assert_uint_eq(ck_env_size("CHATKITD_MAX_BODY"), 1u << 20);
    ck_assert_uint_eq(ck_env_size("CHATKITD_UPLOAD_MAX_BYTES"), 10u << 20);
    ck_assert_int_eq(ck_env_bool("CHATKITD_ALLOW_MODEL_OVERRIDE"), 0);
    ck_assert_int_eq(ck_env_int("CHATKITD_WORKERS"), 0); /* no literal default: the caller decides */

    setenv("DATABASE_URL", "postgresql:///x", 1);
    setenv("CHATKITD_HEARTBEAT_MS", "700", 1);
    setenv("CHATKITD_MAX_BODY", "3k", 1);
    setenv("CHATKITD_ALLOW_MODEL_OVERRIDE", "yes", 1);
    setenv("CHATKITD_LISTEN", "", 1);
    ck_assert_str_eq(ck_env_str("DATABASE_URL"), "postgresql:///x");
    ck_assert_int_eq(ck_env_is_set("DATABASE_URL"), 1);
    ck_assert_int_eq(ck_env_int("CHATKITD_HEARTBEAT_MS"), 700);
    ck_assert_uint_eq(ck_env_size("CHATKITD_MAX_BODY"), 3072);
    ck_assert_int_eq(ck_env_bool("CHATKITD_ALLOW_MODEL_OVERRIDE"), 1);
    ck_assert_str_eq(ck_env_str("CHATKITD_LISTEN"), "127.0.0.1:8000");
    ck_assert_int_eq(ck_env_is_set("CHATKITD_LISTEN"), 0);
    clear_all();
}
END_TEST

START_TEST(table_rows_are_well_formed)
{
    size_t n;
    const ck_env_var_t *t = ck_env_table(&n);
    ck_assert_uint_gt(n, 30);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(t[i].section != NULL && t[i].help != NULL && *t[i].help != '\0', "%s: section and help",
                      t[i].name);
        ck_assert_msg(ck_env_find(t[i].name) == &t[i], "%s is listed twice", t[i].name);
        char err[160];
        if (t[i].def != NULL)
            ck_assert_msg(ck_env_check(&t[i], t[i].def, err, sizeof(err)) == 0, "%s: default \"%s\" is not %s",
                          t[i].name, t[i].def, err);
        if (t[i].kind == CK_ENV_INT || t[i].kind == CK_ENV_SIZE)
            ck_assert_msg(t[i].min <= t[i].max, "%s: empty range", t[i].name);
        if (t[i].kind == CK_ENV_ENUM)
            ck_assert_ptr_nonnull(t[i].choices);
    }
    /* the upload policy's own copy of the default list says the same */
    ck_assert_str_eq(ck_env_find("CHATKITD_UPLOAD_MIME_TYPES")->def, CK_HTTP_DEFAULT_MIME_TYPES);
}
END_TEST

START_TEST(flag_names_derive_from_the_table)
{
    char flag[64];
    ck_assert_int_eq(ck_env_flag_name(ck_env_find("CHATKITD_MAX_BODY"), flag, sizeof(flag)), 10);
    ck_assert_str_eq(flag, "--max-body");
    ck_env_flag_name(ck_env_find("DATABASE_URL"), flag, sizeof(flag));
    ck_assert_str_eq(flag, "--database-url");
    ck_env_flag_name(ck_env_find("OPENAI_BASE_URL"), flag, sizeof(flag));
    ck_assert_str_eq(flag, "--openai-base-url");
    ck_assert_int_eq(ck_env_flag_name(ck_env_find("CHATKITD_MAX_BODY"), flag, 10), -1);
    /* every flag is distinct */
    size_t n;
    const ck_env_var_t *t = ck_env_table(&n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            char a[64], b[64];
            ck_env_flag_name(&t[i], a, sizeof(a));
            ck_env_flag_name(&t[j], b, sizeof(b));
            ck_assert_msg(strcmp(a, b) != 0, "%s and %s map to one flag", t[i].name, t[j].name);
        }
}
END_TEST

START_TEST(help_lists_every_variable)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_env_print_help(f);
    fclose(f);
    size_t n;
    const ck_env_var_t *t = ck_env_table(&n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strstr(text, t[i].name) != NULL, "--help misses %s", t[i].name);
    ck_assert_ptr_nonnull(strstr(text, "[127.0.0.1:8000]"));
    ck_assert_ptr_nonnull(strstr(text, "an integer from 1 to 256"));
    free(text);
}
END_TEST

/* Runs ck_env_parse_args over `argv` (NULL-terminated, argv[0] included);
 * returns its status, the rest in `rest` and what it wrote in `msg`. */
static int parse(const char *const *argv, char **rest, int *nrest, char *msg, size_t msglen)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc = ck_env_parse_args(argc, (char **)argv, rest, nrest, f);
    fclose(f);
    snprintf(msg, msglen, "%s", text);
    free(text);
    return rc;
}

START_TEST(flags_set_their_variables)
{
    clear_all();
    setenv("CHATKITD_WORKERS", "3", 1);
    const char *argv[] = {"chatkitd", "--listen",       "10.0.0.1:9",      "--workers=5", "--allow-model-override",
                          "serve",    "--database-url", "postgresql:///x", NULL};
    char *rest[16], msg[256];
    int n = -1;
    ck_assert_int_eq(parse(argv, rest, &n, msg, sizeof msg), 0);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(rest[0], "serve");
    ck_assert_ptr_null(rest[1]);
    ck_assert_str_eq(ck_env_str("CHATKITD_LISTEN"), "10.0.0.1:9");
    ck_assert_int_eq(ck_env_int("CHATKITD_WORKERS"), 5); /* the flag wins over the variable */
    ck_assert_int_eq(ck_env_bool("CHATKITD_ALLOW_MODEL_OVERRIDE"), 1);
    ck_assert_str_eq(ck_env_str("DATABASE_URL"), "postgresql:///x");
    clear_all();
}
END_TEST

START_TEST(other_arguments_go_to_the_command)
{
    clear_all();
    /* audit's own options, an unknown flag and a value that looks like a command stay, in order */
    const char *argv[] = {"chatkitd", "audit",    "--user", "u1", "--since=1h", "--json", "--model",
                          "serve",    "--lsiten", "x",      "-h", "--",         NULL};
    char *rest[16], msg[256];
    int n = -1;
    ck_assert_int_eq(parse(argv, rest, &n, msg, sizeof msg), 0);
    const char *want[] = {"audit", "--user", "u1", "--since=1h", "--json", "--lsiten", "x", "-h", "--"};
    ck_assert_int_eq(n, 9);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(rest[i], want[i]);
    ck_assert_str_eq(ck_env_str("CHATKITD_MODEL"), "serve"); /* --model takes the next argument */
    /* the commands' own options are not settings flags */
    const char *own[] = {"--user", "--since", "--action", "--json", "--help", "--version"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        ck_assert_msg(ck_env_find_flag(own[i]) == NULL, "%s is a settings flag", own[i]);
    clear_all();
}
END_TEST

typedef struct {
    const char *argv[6];
    const char *msg;
} missing_case_t;

static const missing_case_t MISSING[] = {
    {{"chatkitd", "--listen", NULL}, "chatkitd: flag --listen needs a value (see chatkitd --help)\n"},
    {{"chatkitd", "--listen=", "serve", NULL}, "chatkitd: flag --listen needs a value (see chatkitd --help)\n"},
    {{"chatkitd", "--database-url", "--workers", "2", NULL},
     "chatkitd: flag --database-url needs a value (see chatkitd --help)\n"},
    {{"chatkitd", "serve", "--allow-model-override=", NULL},
     "chatkitd: flag --allow-model-override needs a value (see chatkitd --help)\n"},
};

START_TEST(a_flag_without_its_value_is_refused)
{
    clear_all();
    char *rest[8], msg[256];
    int n;
    ck_assert_int_eq(parse(MISSING[_i].argv, rest, &n, msg, sizeof msg), 2);
    ck_assert_str_eq(msg, MISSING[_i].msg);
    clear_all();
}
END_TEST

START_TEST(a_bad_flag_value_names_the_flag)
{
    clear_all();
    const char *argv[] = {"chatkitd", "--workers", "0", NULL};
    char *rest[4], msg[256];
    int n;
    ck_assert_int_eq(parse(argv, rest, &n, msg, sizeof msg), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(ck_env_validate(f), -1);
    fclose(f);
    ck_assert_str_eq(text, "chatkitd: --workers=\"0\": expected an integer from 1 to 256 (see chatkitd --help)\n");
    free(text);
    clear_all();
}
END_TEST

START_TEST(every_row_has_a_flag)
{
    size_t n;
    const ck_env_var_t *t = ck_env_table(&n);
    for (size_t i = 0; i < n; i++) {
        char flag[64];
        ck_assert_int_gt(ck_env_flag_name(&t[i], flag, sizeof(flag)), 2);
        ck_assert_msg(ck_env_find_flag(flag) == &t[i], "%s does not map back to %s", flag, t[i].name);
    }
    ck_assert_ptr_null(ck_env_find_flag("--lsiten"));
    ck_assert_ptr_null(ck_env_find_flag("--listen=x"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, check_accepts_and_refuses, 0, (int)(sizeof(CASES) / sizeof(CASES[0])));
    tcase_add_test(tc, validate_refuses_a_bad_value);
    tcase_add_test(tc, getters_read_value_or_default);
    tcase_add_test(tc, table_rows_are_well_formed);
    tcase_add_test(tc, flag_names_derive_from_the_table);
    tcase_add_test(tc, help_lists_every_variable);
    tcase_add_test(tc, flags_set_their_variables);
    tcase_add_test(tc, other_arguments_go_to_the_command);
    tcase_add_loop_test(tc, a_flag_without_its_value_is_refused, 0, (int)(sizeof(MISSING) / sizeof(MISSING[0])));
    tcase_add_test(tc, a_bad_flag_value_names_the_flag);
    tcase_add_test(tc, every_row_has_a_flag);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
