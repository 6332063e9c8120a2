/*
 * ops_report.c - the commands `chatkitd audit` and `chatkitd stats` (see
 * ops_report.h): parse the options, run one report function of
 * sql/functions/ops.sql over a blocking connection, print the rows.
 */
#include "store/ops_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/duration.h"
#include "base/log.h"
#include "store/ops_record.h"

#define MAX_SINCE (3660L * 86400)

/* The value of option `name` at argv[*i] ("--name V" or "--name=V"), moving
 * *i past it; NULL when argv[*i] is not that option.  *missing is set when
 * the option has no value. */
static const char *option(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

typedef struct report_opts {
    const char *user, *action, *since;
    int json;
} report_opts_t;

/* Parses `argv` (after the command name).  Returns 0, or 2 after a message. */
static int parse(const char *cmd, int argc, char **argv, int with_filters, report_opts_t *o)
{
    o->since = "24h";
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (strcmp(argv[i], "--json") == 0)
            o->json = 1;
        else if ((v = option(argc, argv, &i, "--since", &missing)) != NULL)
            o->since = v;
        else if (with_filters && (v = option(argc, argv, &i, "--user", &missing)) != NULL)
            o->user = v;
        else if (with_filters && (v = option(argc, argv, &i, "--action", &missing)) != NULL)
            o->action = v;
        else {
            fprintf(stderr, "chatkitd %s: %s option: %s\n", cmd, missing ? "missing the value of the" : "unknown",
                    argv[i]);
            return 2;
        }
        if (missing) {
            fprintf(stderr, "chatkitd %s: missing the value of the option: %s\n", cmd, argv[i]);
            return 2;
        }
    }
    return 0;
}

/* Runs report `function` with `params` (stolen) and returns its JSON. */
static json_t *run(const char *cmd, const char *conninfo, const char *function, json_t *params)
{
    char *text = json_dumps(params, JSON_COMPACT), err[512] = "";
    json_decref(params);
    char *out = text != NULL ? ck_store_report(conninfo, function, text, err, sizeof err) : NULL;
    free(text);
    json_t *doc = out != NULL ? json_loads(out, 0, NULL) : NULL;
    free(out);
    if (doc == NULL)
        fprintf(stderr, "chatkitd %s: %s\n", cmd, err[0] ? err : "the report failed");
    return doc;
}

static int since_seconds(const char *cmd, const char *since, long *seconds)
{
    if (ck_duration_parse(since, MAX_SINCE, seconds) == 0)
        return 0;
    fprintf(stderr, "chatkitd %s: --since %s is not a duration such as 30m, 24h or 7d\n", cmd, since);
    return -1;
}

int ck_store_cli_audit(const char *conninfo, int argc, char **argv)
{
    report_opts_t o = {0};
    long seconds;
    if (parse("audit", argc, argv, 1, &o) != 0 || since_seconds("audit", o.since, &seconds) != 0)
        return 2;
    json_t *params = json_pack("{s:I,s:i}", "since_seconds", (json_int_t)seconds, "limit", 10000);
    if (o.user != NULL)
        json_object_set_new(params, "user", json_string(o.user));
    if (o.action != NULL)
        json_object_set_new(params, "action", json_string(o.action));
    json_t *rows = run("audit", conninfo, "ops_audit_list", params);
    if (rows == NULL)
        return 1;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (o.json) {
            char *line = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(15));
            printf("%s\n", line != NULL ? line : "{}");
            free(line);
            continue;
        }
        char *ids = json_dumps(json_object_get(r, "object_ids"), JSON_COMPACT);
        const char *req = json_string_value(json_object_get(r, "request_id"));
        const char *detail = json_string_value(json_object_get(r, "detail"));
        printf("%s  %-20s  user=%s  request=%s  objects=%s%s%s\n", json_string_value(json_object_get(r, "at")),
               json_string_value(json_object_get(r, "action")), json_string_value(json_object_get(r, "user_id")),
               req != NULL ? req : "-", ids != NULL ? ids : "[]", detail != NULL ? "  " : "",
               detail != NULL ? detail : "");
        free(ids);
    }
    if (!o.json)
        fprintf(stderr, "%zu row(s) in the last %s\n", json_array_size(rows), o.since);
    json_decref(rows);
    return 0;
}

/* A number of `r` as text ("-" when absent or null). */
static const char *num(const json_t *r, const char *key, char *buf, size_t cap, int decimals)
{
    const json_t *v = json_object_get(r, key);
    if (!json_is_number(v))
        return "-";
    snprintf(buf, cap, "%.*f", decimals, json_number_value(v));
    return buf;
}

int ck_store_cli_stats(const char *conninfo, int argc, char **argv)
{
    report_opts_t o = {0};
    long seconds;
    if (parse("stats", argc, argv, 0, &o) != 0 || since_seconds("stats", o.since, &seconds) != 0)
        return 2;
    json_t *doc = run("stats", conninfo, "ops_usage_stats", json_pack("{s:I}", "since_seconds", (json_int_t)seconds));
    if (doc == NULL)
        return 1;
    if (o.json) {
        char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
        json_decref(doc);
        return 0;
    }
    printf("usage in the last %s\n", o.since);
    printf("%-12s %-24s %7s %8s %16s %16s %20s %6s\n", "assistant", "model", "turns", "success", "first token ms",
           "turn ms", "tokens in / out", "tools");
    printf("%-12s %-24s %7s %8s %16s %16s %20s %6s\n", "", "", "", "", "p50 / p95", "p50 / p95", "", "");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(doc, "groups"), i, g)
    {
        char a[32], b[32], c[32], d[32], e[32], f[32], col1[72], col2[72], col3[72], rate[16];
        snprintf(col1, sizeof col1, "%s / %s", num(g, "first_token_p50_ms", a, sizeof a, 0),
                 num(g, "first_token_p95_ms", b, sizeof b, 0));
        snprintf(col2, sizeof col2, "%s / %s", num(g, "turn_p50_ms", c, sizeof c, 0),
                 num(g, "turn_p95_ms", d, sizeof d, 0));
        snprintf(col3, sizeof col3, "%s / %s", num(g, "tokens_in", e, sizeof e, 0),
                 num(g, "tokens_out", f, sizeof f, 0));
        snprintf(rate, sizeof rate, "%.1f%%", 100.0 * json_number_value(json_object_get(g, "success_rate")));
        printf("%-12s %-24s %7lld %8s %16s %16s %20s %6lld\n", json_string_value(json_object_get(g, "assistant")),
               json_string_value(json_object_get(g, "model")),
               (long long)json_integer_value(json_object_get(g, "turns")), rate, col1, col2, col3,
               (long long)json_integer_value(json_object_get(g, "tool_calls")));
    }
    if (json_array_size(json_object_get(doc, "groups")) == 0)
        printf("(no turns)\n");
    json_decref(doc);
    return 0;
}
