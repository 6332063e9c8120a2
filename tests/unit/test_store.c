/*
 * test_store.c - unit tests of src/store against a real PostgreSQL:
 * compact JSON, migrations (twice, and twice concurrently), op round trips
 * through a real loop, SQLSTATE -> HTTP mapping, cancel, 503 when not ready,
 * reconnect after pg_terminate_backend, 1,000 pipelined calls, the choice of
 * connection (one while it moves, another past a stalled one), destroy with
 * calls in flight.
 *
 * Needs CHATKITD_TEST_DATABASE_URL (set by `make test`): a superuser
 * connection to an empty database of a throwaway cluster.  Without it every
 * database test FAILS.  The tests create their own databases on that cluster:
 * ck_store_mig1/2 for migrations (the real sql/), and ck_store_fake, whose
 * chatkit.op_text / chatkit.op_bytes are test doubles with the real
 * signatures (op_text prints a jsonb test helper, chatkit.op), so
 * the store is tested independently of the real ops (and the database of
 * `make test` is left alone); one smoke test (ck_store_mig3) runs the real
 * dispatchers to check that the prepared statements fit them.
 */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "loop/loop_h2o.h"
#include "store/json_compact.h"
#include "store/store.h"
#include "check_main.h"

#define APP_NAME "ck_store_test"
#define URL_ENV "CHATKITD_TEST_DATABASE_URL"

static const char fake_ops_sql[] =
    "CREATE SCHEMA IF NOT EXISTS chatkit;"
    "CREATE OR REPLACE FUNCTION chatkit.op(p_op text, p_user text, p_params jsonb) RETURNS jsonb"
    " LANGUAGE plpgsql AS $$ BEGIN"
    "  CASE p_op"
    "  WHEN 'echo' THEN RETURN jsonb_build_object('op', p_op, 'user', p_user, 'params', p_params);"
    "  WHEN 'null' THEN RETURN NULL;"
    "  WHEN 'sleep' THEN PERFORM pg_sleep((p_params->>'s')::float8); RETURN '{}';"
    "  WHEN 'pid' THEN RETURN to_jsonb(pg_backend_pid());"
    "  WHEN 'lock' THEN PERFORM pg_advisory_xact_lock((p_params->>'key')::bigint); RETURN '{}';"
    "  WHEN 'raise' THEN RAISE EXCEPTION USING ERRCODE = p_params->>'state', MESSAGE = p_params->>'message';"
    "  WHEN 'divide' THEN RETURN to_jsonb(1 / (p_params->>'by')::int);"
    "  ELSE RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unknown op ' || p_op;"
    "  END CASE;"
    " END $$;"
    "CREATE OR REPLACE FUNCTION chatkit.op_text(p_op text, p_user text, p_params jsonb) RETURNS text"
    " LANGUAGE sql AS $$ SELECT chatkit.op(p_op, p_user, p_params)::text $$;"
    "CREATE OR REPLACE FUNCTION chatkit.op_bytes(p_op text, p_user text, p_params jsonb, p_data bytea)"
    " RETURNS TABLE (result jsonb, data bytea) LANGUAGE plpgsql AS $$ BEGIN"
    "  IF p_op = 'raise' THEN"
    "    RAISE EXCEPTION USING ERRCODE = p_params->>'state', MESSAGE = p_params->>'message';"
    "  END IF;"
    "  result := jsonb_build_object('op', p_op, 'user', p_user, 'len', length(p_data), 'params', p_params);"
    "  data := p_data;"
    "  RETURN NEXT;"
    " END $$;";

/* --- database helpers (blocking, test side only) ----------------------------- */

static const char *test_url(void)
{
    const char *url = getenv(URL_ENV);
    ck_assert_msg(url != NULL && *url != 0,
                  URL_ENV " is not set: the store tests need a PostgreSQL (run them with `make test`)");
    return url;
}

/* Appends " key='value'" (libpq quoting) to buf. */
static void append_kv(char *buf, size_t cap, const char *key, const char *value)
{
    size_t len = strlen(buf);
    len += snprintf(buf + len, cap - len, " %s='", key);
    for (; *value && len + 3 < cap; value++) {
        if (*value == '\'' || *value == '\\')
            buf[len++] = '\\';
        buf[len++] = *value;
    }
    snprintf(buf + len, cap - len, "'");
}

/* The test URL's connection parameters with another dbname; static buffer. */
static const char *conninfo_for(const char *dbname)
{
    static char buf[4096];
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(test_url(), &err);
    ck_assert_msg(opts != NULL, "bad " URL_ENV ": %s", err ? err : "out of memory");
    buf[0] = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "dbname") != 0 && strcmp(o->keyword, "application_name") != 0)
            append_kv(buf, sizeof(buf), o->keyword, o->val);
    append_kv(buf, sizeof(buf), "dbname", dbname);
    append_kv(buf, sizeof(buf), "application_name", APP_NAME);
    PQconninfoFree(opts);
    return buf;
}

static PGconn *admin_connect(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "connect: %s", PQerrorMessage(pg));
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    return pg;
}

static void admin_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

/* The first column of the first row as an int. */
static int admin_int(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", sql,
                  PQresultErrorMessage(res));
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Creates database `name` on the test cluster (dropping it first if `fresh`). */
static void make_database(const char *name, int fresh)
{
    PGconn *pg = admin_connect(test_url());
    char sql[256];
    if (fresh) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        admin_exec(pg, sql);
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_database WHERE datname = '%s'", name);
    if (admin_int(pg, sql) == 0) {
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
        admin_exec(pg, sql);
    }
    PQfinish(pg);
}

/* --- loop fixture -------------------------------------------------------------- */

static h2o_evloop_t *evloop;
static ck_loop_t *loop;
static char fake_conninfo[4096];

static void loop_setup(void)
{
    evloop = h2o_evloop_create();
    loop = ck_loop_new(evloop);
}

static void loop_teardown(void)
{
    ck_loop_free(loop);
    h2o_evloop_destroy(evloop);
}

/* Loop + the ck_store_fake database with the test doubles of chatkit.op. */
static void fake_setup(void)
{
    make_database("ck_store_fake", 0);
    snprintf(fake_conninfo, sizeof(fake_conninfo), "%s", conninfo_for("ck_store_fake"));
    PGconn *pg = admin_connect(fake_conninfo);
    admin_exec(pg, fake_ops_sql);
    PQfinish(pg);
    ck_store_set_schema_ready(1);
    loop_setup();
}

static void set_flag(ck_timer_t *t, void *user)
{
    (void)t;
    *(int *)user = 1;
}

/* Runs the loop until *flag is nonzero or `ms` passed; returns *flag. */
static int run_until(const int *flag, uint64_t ms)
{
    int expired = 0;
    ck_timer_t *limit = ck_timer_new(loop, set_flag, &expired);
    ck_timer_arm(limit, ms);
    while (!*flag && !expired)
        ck_assert_int_eq(ck_loop_run_once(loop), 0);
    ck_timer_free(limit);
    return *flag;
}

static void run_for(uint64_t ms)
{
    int never = 0;
    run_until(&never, ms);
}

/* Runs the loop until `store` is ready (fails the test after 5 s). */
static void wait_ready(ck_store_t *store)
{
    for (int i = 0; i < 500 && !ck_store_ready(store); i++)
        run_for(10);
    ck_assert_msg(ck_store_ready(store), "store not ready after 5 s");
}

static ck_store_t *fake_store(int connections, int reconnect_ms)
{
    ck_store_config_t config = {.conninfo = fake_conninfo, .connections = connections, .reconnect_ms = reconnect_ms};
    ck_store_t *store = ck_store_create(loop, &config);
    ck_assert_ptr_nonnull(store);
    wait_ready(store);
    return store;
}

/* A copy of one reply, kept for assertions after the callback. */
typedef struct result {
    int calls;
    int ok, status;
    char code[64], message[256], json[512];
    size_t json_len;
    char bytes[64];
    size_t bytes_len;
    int bytes_null;
} result_t;

static void record_reply(const ck_store_reply_t *reply, void *user)
{
    result_t *r = user;
    r->calls++;
    r->ok = reply->ok;
    r->status = reply->http_status;
    if (!reply->ok) {
        snprintf(r->code, sizeof(r->code), "%s", reply->code);
        snprintf(r->message, sizeof(r->message), "%s", reply->message);
        return;
    }
    ck_assert_uint_eq(strlen(reply->json), reply->json_len);
    snprintf(r->json, sizeof(r->json), "%s", reply->json);
    r->json_len = reply->json_len;
    r->bytes_null = reply->bytes == NULL;
    r->bytes_len = reply->bytes_len < sizeof(r->bytes) ? reply->bytes_len : sizeof(r->bytes);
    if (reply->bytes != NULL)
        memcpy(r->bytes, reply->bytes, r->bytes_len);
}

/* One op through the store, waiting for its reply. */
static void call_op(ck_store_t *store, const char *op, const char *params, result_t *r)
{
    memset(r, 0, sizeof(*r));
    ck_assert_ptr_nonnull(ck_store_op(store, op, "u1", params, strlen(params), record_reply, r));
    ck_assert_int_eq(r->calls, 0); /* never called back synchronously */
    ck_assert_msg(run_until(&r->calls, 5000), "no reply to %s", op);
    run_for(5);
    ck_assert_int_eq(r->calls, 1);
}

/* --- hot reads: plain SELECTs (read.c) against their SQL oracle ----------- */

/* A reply of any size. */
typedef struct big_result {
    int calls, ok, status;
    char message[256];
    char *json;
} big_result_t;

static void record_big(const ck_store_reply_t *reply, void *user)
{
    big_result_t *r = user;
    r->calls++;
    r->ok = reply->ok;
    r->status = reply->http_status;
    if (reply->ok)
        r->json = strndup(reply->json, reply->json_len);
    else
        snprintf(r->message, sizeof r->message, "%s", reply->message);
}

/* Loads the oracle of the reads (tests/sql/reads_ref.sql, schema readref)
 * into the database of `pg`: the file is found from the working directory
 * (the repository root under `make test`) or from the test binary
 * (build/tests/). */
static void load_reads_ref(PGconn *pg)
{
    static const char rel[] = "tests/sql/reads_ref.sql";
    char path[4096];
    FILE *f = fopen(rel, "r");
    ssize_t n = f == NULL ? readlink("/proc/self/exe", path, sizeof path - 64) : -1;
    if (n > 0) {
        path[n] = '\0';
        char *slash = strrchr(path, '/');
        if (slash != NULL) {
            snprintf(slash, sizeof path - (size_t)(slash - path), "/../../%s", rel);
            f = fopen(path, "r");
        }
    }
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", rel);
    size_t len;
    char *sql = ck_file_read_all(f, 1 << 20, &len);
    fclose(f);
    ck_assert_ptr_nonnull(sql);
    admin_exec(pg, sql);
    free(sql);
}

/* The same read through the oracle readref.op on the admin connection: the
 * JSON (malloc'd) or NULL with the status its SQLSTATE maps to and the message. */
static char *sql_read(PGconn *pg, const char *op, const char *user, const char *params, int *status, char *msg,
                      size_t cap)
{
    const char *values[3] = {op, user, params};
    PGresult *res = PQexecParams(pg, "SELECT readref.op($1, $2, $3::jsonb)", 3, NULL, values, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        out = strdup(PQgetvalue(res, 0, 0));
        *status = 200;
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        *status = state != NULL && strcmp(state, "P0002") == 0   ? 404
                  : state != NULL && strcmp(state, "22023") == 0 ? 400
                                                                 : 500;
        snprintf(msg, cap, "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    }
    PQclear(res);
    return out;
}

/* Runs one read both ways and checks the answers are the same JSON value
 * (or the same error status and message). */
static void check_read(ck_store_t *store, PGconn *pg, const char *op, const char *user, const char *params)
{
    big_result_t r = {0};
    ck_assert_ptr_nonnull(ck_store_op(store, op, user, params, strlen(params), record_big, &r));
    ck_assert_msg(run_until(&r.calls, 10000), "no reply to %s %s", op, params);
    int status = 0;
    char msg[256] = "";
    char *want = sql_read(pg, op, user, params, &status, msg, sizeof msg);
    if (want == NULL) {
        ck_assert_msg(!r.ok && r.status == status && strcmp(r.message, msg) == 0,
                      "%s %s %.200s: want %d %s, got %d %s %.600s", op, user, params, status, msg, r.status, r.message,
                      r.json ? r.json : "");
    } else {
        ck_assert_msg(r.ok, "%s %s %.200s: want %.600s, got %d %s", op, user, params, want, r.status, r.message);
        json_t *a = json_loads(want, 0, NULL), *b = json_loads(r.json, 0, NULL);
        ck_assert_msg(a != NULL && b != NULL && json_equal(a, b), "%s %s %.200s:\n want %.600s\n got  %.600s", op, user,
                      params, want, r.json);
        json_decref(a);
        json_decref(b);
    }
    free(want);
    free(r.json);
}

/* Threads with ties, odd titles, statuses and image domains; items in
 * timestamp groups with hidden ones, written by the real ops. */
static const char reads_data_sql[] =
    "SELECT chatkit.op_text('thread.save', 'u1', jsonb_build_object('thread', jsonb_build_object("
    "  'id', 'thr_' || k, 'created_at', format('2025-05-01T08:00:00.00000%sZ', k % 4))"
    "  || CASE WHEN k % 3 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('title', (ARRAY['', 'say \"hi\"',"
    "     E'two\\nlines\\ttab \\u0001', 'caf\u00e9 \u65e5\u672c', 'back\\\\slash'])[1 + k % 5]) END"
    "  || CASE WHEN k % 4 = 1 THEN '{\"status\":{\"type\":\"locked\",\"reason\":\"x\"},"
    "     \"allowed_image_domains\":[\"a.example\"]}'::jsonb ELSE '{}'::jsonb END))"
    "  FROM generate_series(1, 23) AS k;"
    "SELECT chatkit.op_text('thread.save', 'u2', "
    "'{\"thread\":{\"id\":\"thr_u2\",\"created_at\":\"2025-05-01T08:00:00Z\"}}');"
    "UPDATE chatkit.threads SET metadata = '{\"assistant\":\"support\",\"private\":1}' WHERE id = 'thr_2';"
    "UPDATE chatkit.threads SET metadata = '{\"assistant\":5}' WHERE id = 'thr_3';"
    "SELECT chatkit.op_text('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', jsonb_build_object("
    "  'id', 'itm_' || lpad(k::text, 2, '0'), 'thread_id', 'thr_1', 'created_at', "
    "format('2025-01-01T00:00:01.00000%sZ', k % 4),"
    "  'type', CASE WHEN k > 45 THEN 'hidden_context_item' WHEN k % 3 = 0 THEN 'widget' ELSE 'assistant_message' END,"
    "  'content', jsonb_build_array(jsonb_build_object('type', 'output_text', 'text', 'm \"' || k, 'n', 1.50)))))"
    "  FROM generate_series(1, 51) AS k;";

START_TEST(test_reads_match_sql)
{
    make_database("ck_store_mig4", 1);
    char conninfo[4096];
    snprintf(conninfo, sizeof(conninfo), "%s", conninfo_for("ck_store_mig4"));
    ck_assert_int_eq(ck_store_migrate(conninfo), 0);
    PGconn *pg = admin_connect(conninfo);
    admin_exec(pg, reads_data_sql);
    load_reads_ref(pg);
    ck_store_set_schema_ready(1);
    loop_setup();
    snprintf(fake_conninfo, sizeof(fake_conninfo), "%s", conninfo);
    ck_store_t *store = fake_store(2, 100);
    static const char *const items[] = {"{\"thread_id\":\"thr_1\"}",
                                        "{\"thread_id\":\"thr_1\",\"order\":\"asc\"}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":1}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":7,\"order\":\"asc\"}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":45}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":1000}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":2.5}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":0}",
                                        "{\"thread_id\":\"thr_1\",\"limit\":\"5\"}",
                                        "{\"thread_id\":\"thr_1\",\"order\":\"ASC\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"itm_07\",\"limit\":4}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"itm_07\",\"limit\":4,\"order\":\"asc\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"itm_48\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"itm_45\",\"order\":\"asc\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"itm_01\",\"order\":\"desc\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":null}",
                                        "{\"thread_id\":\"thr_1\",\"after\":\"nope\"}",
                                        "{\"thread_id\":\"thr_1\",\"after\":5}",
                                        "{\"thread_id\":\"thr_2\"}",
                                        "{\"thread_id\":\"thr_2\",\"after\":\"itm_01\"}",
                                        "{\"thread_id\":\"thr_none\"}",
                                        "{\"thread_id\":\"thr_none\",\"after\":\"x\"}",
                                        "{\"thread_id\":\"thr_u2\"}",
                                        "{}",
                                        "{\"thread_id\":\"\"}",
                                        "{\"thread_id\":7}",
                                        "[]",
                                        "null"};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        check_read(store, pg, "items.list", "u1", items[i]);
        check_read(store, pg, "items.list", "u2", items[i]);
    }
    check_read(store, pg, "items.list", "", "{\"thread_id\":\"thr_1\"}");
    static const char *const threads[] = {"{}",
                                          "{\"order\":\"asc\"}",
                                          "{\"limit\":1}",
                                          "{\"limit\":5,\"order\":\"asc\"}",
                                          "{\"limit\":23}",
                                          "{\"limit\":22,\"order\":\"asc\"}",
                                          "{\"after\":\"thr_7\",\"limit\":5}",
                                          "{\"after\":\"thr_7\",\"limit\":5,\"order\":\"asc\"}",
                                          "{\"after\":\"thr_23\",\"order\":\"asc\"}",
                                          "{\"after\":\"thr_u2\"}",
                                          "{\"after\":\"nope\"}",
                                          "{\"after\":[]}",
                                          "{\"limit\":-1}"};
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        check_read(store, pg, "threads.list", "u1", threads[i]);
        check_read(store, pg, "threads.list", "u3", threads[i]);
    }
    for (int k = 1; k <= 23; k++) {
        char p[64];
        snprintf(p, sizeof p, "{\"thread_id\":\"thr_%d\"}", k);
        check_read(store, pg, "threads.get_by_id", "u1", p);
    }
    check_read(store, pg, "threads.get_by_id", "u2", "{\"thread_id\":\"thr_1\"}");
    check_read(store, pg, "threads.get_by_id", "u1", "{\"thread_id\":\"thr_none\"}");
    check_read(store, pg, "threads.get_by_id", "u1", "{\"thread_id\":\"\"}");

    /* Row-level security filters the plain SELECTs: with a policy that hides
     * every item, the thread's page is empty (a superuser connection would
     * see the rows: the store runs them as chatkit_owner). */
    admin_exec(pg, "ALTER POLICY items_user ON chatkit.items USING (false)");
    big_result_t r = {0};
    static const char p1[] = "{\"thread_id\":\"thr_1\"}";
    ck_store_op(store, "items.list", "u1", p1, strlen(p1), record_big, &r);
    ck_assert(run_until(&r.calls, 10000));
    admin_exec(pg,
               "ALTER POLICY items_user ON chatkit.items USING (user_id = current_setting('chatkit.user_id', true))");
    ck_assert_msg(r.ok && strcmp(r.json, "{\"data\":[],\"has_more\":false}") == 0, "items under a hiding policy: %d %s",
                  r.status, r.json ? r.json : r.message);
    free(r.json);
    ck_store_destroy(store);
    loop_teardown();
    PQfinish(pg);
}
END_TEST

/* --- compact JSON -------------------------------------------------------------- */

static void check_compact(const char *in, const char *want)
{
    char buf[256];
    size_t n = ck_store_json_compact(buf, in, strlen(in));
    buf[n] = 0;
    ck_assert_str_eq(buf, want);
    snprintf(buf, sizeof(buf), "%s", in); /* in place */
    n = ck_store_json_compact(buf, buf, strlen(buf));
    buf[n] = 0;
    ck_assert_str_eq(buf, want);
}

START_TEST(test_compact_json)
{
    check_compact("{\"a\": 1, \"b\": [1, 2]}", "{\"a\":1,\"b\":[1,2]}");
    check_compact("{\"t\": \"a, b: c \"}", "{\"t\":\"a, b: c \"}");
    check_compact("[\"say \\\"hi, there\\\" \", {\"k \": \" v\"}]", "[\"say \\\"hi, there\\\" \",{\"k \":\" v\"}]");
    check_compact("[\"back\\\\\", \"slash\\\\\\\" x\"]", "[\"back\\\\\",\"slash\\\\\\\" x\"]");
    check_compact(" {\n\t\"a\" :\r\n true } ", "{\"a\":true}");
    check_compact("\"\"", "\"\"");
    check_compact("", "");
    check_compact("{\"u\": \"\\u00e9 é\"}", "{\"u\":\"\\u00e9 é\"}");
    check_compact("[\"\\\\\", 1]", "[\"\\\\\",1]");             /* a string holding one backslash */
    check_compact("[1, \"open \\\" end", "[1,\"open \\\" end"); /* unterminated: copied as is */
}
END_TEST

/* --- migrations ---------------------------------------------------------------- */

static void check_migrated(const char *dbname)
{
    PGconn *pg = admin_connect(conninfo_for(dbname));
    ck_assert_int_eq(admin_int(pg, "SELECT count(*) FROM chatkit.schema_migrations"), ck_sql_schema_count);
    for (int i = 0; i < ck_sql_schema_count; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM chatkit.schema_migrations WHERE name = '%s'",
                 ck_sql_schema[i].name);
        ck_assert_int_eq(admin_int(pg, sql), 1);
    }
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM chatkit.schema_functions WHERE checksum = '%s'",
             ck_sql_functions_checksum);
    ck_assert_int_eq(admin_int(pg, sql), 1);
    ck_assert_int_eq(admin_int(pg, "SELECT count(*) FROM pg_proc WHERE oid = 'chatkit.op_text(text, text, jsonb)'"
                                   "::regprocedure"),
                     1);
    PQfinish(pg);
}

START_TEST(test_migrate_twice)
{
    make_database("ck_store_mig1", 1);
    const char *ci = conninfo_for("ck_store_mig1");
    char conninfo[4096];
    snprintf(conninfo, sizeof(conninfo), "%s", ci);
    ck_assert_int_eq(ck_store_migrate(conninfo), 0);
    check_migrated("ck_store_mig1");
    ck_assert_int_eq(ck_store_migrate(conninfo), 0); /* idempotent */
    check_migrated("ck_store_mig1");
}
END_TEST

static void *migrate_thread(void *conninfo) { return (void *)(intptr_t)ck_store_migrate(conninfo); }

START_TEST(test_migrate_concurrently)
{
    make_database("ck_store_mig2", 1);
    char conninfo[4096];
    snprintf(conninfo, sizeof(conninfo), "%s", conninfo_for("ck_store_mig2"));
    pthread_t a, b;
    void *ra, *rb;
    ck_assert_int_eq(pthread_create(&a, NULL, migrate_thread, conninfo), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, migrate_thread, conninfo), 0);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    ck_assert_int_eq((intptr_t)ra, 0);
    ck_assert_int_eq((intptr_t)rb, 0);
    check_migrated("ck_store_mig2");
}
END_TEST

/* The prepared statements fit the real dispatchers of sql/ (smoke test: only
 * outcomes fixed by src/store/README.md are checked). */
START_TEST(test_real_dispatchers)
{
    make_database("ck_store_mig3", 1);
    snprintf(fake_conninfo, sizeof(fake_conninfo), "%s", conninfo_for("ck_store_mig3"));
    ck_assert_int_eq(ck_store_migrate(fake_conninfo), 0);
    ck_store_set_schema_ready(1);
    loop_setup();
    ck_store_t *store = fake_store(1, 100);
    result_t r;
    call_op(store, "threads.list", "{\"limit\": 5, \"order\": \"desc\"}", &r);
    ck_assert_msg(r.ok, "threads.list: %d %s", r.status, r.message);
    ck_assert_msg(r.json[0] == '{' && strstr(r.json, ": ") == NULL, "%s", r.json);
    call_op(store, "threads.get_by_id", "{\"thread_id\": \"thr_missing\"}", &r);
    ck_assert_int_eq(r.status, 404);
    memset(&r, 0, sizeof(r));
    static const char dl[] = "{\"attachment_id\": \"atc_missing\"}";
    ck_store_op_bytes(store, "attachments.download", "u1", dl, strlen(dl), NULL, 0, record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert_int_eq(r.status, 404);
    ck_store_destroy(store);
    loop_teardown();
}
END_TEST

START_TEST(test_migrate_unreachable_fails)
{
    ck_assert_int_eq(ck_store_migrate("host=/nonexistent port=1 connect_timeout=2"), -2);
}
END_TEST

/* --- ops --------------------------------------------------------------------- */

START_TEST(test_op_round_trip)
{
    ck_store_t *store = fake_store(2, 100);
    result_t r;
    call_op(store, "echo", "{\"text\": \"a, b: c\", \"n\": [1, 2]}", &r);
    ck_assert(r.ok);
    ck_assert_str_eq(r.json, "{\"op\":\"echo\",\"user\":\"u1\",\"params\":{\"n\":[1,2],\"text\":\"a, b: c\"}}");
    call_op(store, "null", "{}", &r);
    ck_assert(r.ok);
    ck_assert_str_eq(r.json, "null");

    /* params need not be NUL-terminated */
    static const char padded[] = "{\"a\": 1}GARBAGE";
    memset(&r, 0, sizeof(r));
    ck_store_op(store, "echo", "u2", padded, 8, record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert_str_eq(r.json, "{\"op\":\"echo\",\"user\":\"u2\",\"params\":{\"a\":1}}");

    /* a value PostgreSQL cannot take: 413 at once (the bytes are never read) */
    memset(&r, 0, sizeof(r));
    ck_store_op(store, "echo", "u2", padded, (size_t)1 << 30, record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(r.code, "too_large");
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_op_bytes_round_trip)
{
    ck_store_t *store = fake_store(2, 100);
    static const char data[] = {'a', 0, 'b', (char)0xff, 0};
    result_t r = {0};
    ck_store_op_bytes(store, "put", "u1", "{\"k\": 1}", 8, data, sizeof(data), record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert(r.ok);
    ck_assert_str_eq(r.json, "{\"op\":\"put\",\"len\":5,\"user\":\"u1\",\"params\":{\"k\":1}}");
    ck_assert(!r.bytes_null);
    ck_assert_uint_eq(r.bytes_len, sizeof(data));
    ck_assert(memcmp(r.bytes, data, sizeof(data)) == 0);

    memset(&r, 0, sizeof(r));
    ck_store_op_bytes(store, "get", "u1", "{}", 2, NULL, 0, record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert(r.ok);
    ck_assert_str_eq(r.json, "{\"op\":\"get\",\"len\":null,\"user\":\"u1\",\"params\":{}}");
    ck_assert(r.bytes_null);

    static const char P54[] = "{\"state\": \"54000\", \"message\": \"file too large\"}";
    memset(&r, 0, sizeof(r));
    ck_store_op_bytes(store, "raise", "u1", P54, strlen(P54), "x", 1, record_reply, &r);
    ck_assert(run_until(&r.calls, 5000));
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(r.code, "too_large");
    ck_assert_str_eq(r.message, "file too large");
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_error_mapping)
{
    static const struct {
        const char *state;
        int status;
        const char *code;
    } cases[] = {
        {"P0002", 404, "not_found"}, {"22023", 400, "invalid_params"}, {"55000", 409, "conflict"},
        {"54000", 413, "too_large"}, {"XX000", 500, "internal"},       {"23505", 500, "internal"},
    };
    ck_store_t *store = fake_store(1, 100);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char params[128];
        snprintf(params, sizeof(params), "{\"state\": \"%s\", \"message\": \"thread thr_%zu not found\"}",
                 cases[i].state, i);
        result_t r;
        call_op(store, "raise", params, &r);
        ck_assert(!r.ok);
        ck_assert_int_eq(r.status, cases[i].status);
        ck_assert_str_eq(r.code, cases[i].code);
        char want[64];
        snprintf(want, sizeof(want), "thread thr_%zu not found", i);
        ck_assert_str_eq(r.message, cases[i].status == 500 ? "internal error" : want);
    }
    result_t r;
    call_op(store, "divide", "{\"by\": 0}", &r); /* a real runtime error: 500, details only logged */
    ck_assert_int_eq(r.status, 500);
    ck_assert_str_eq(r.message, "internal error");
    call_op(store, "divide", "{\"by\": 1}", &r); /* the connection is fine afterwards */
    ck_assert(r.ok);
    ck_assert_str_eq(r.json, "1");
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_cancel)
{
    ck_store_t *store = fake_store(1, 100);
    result_t slow = {0}, after = {0};
    ck_store_call_t *call = ck_store_op(store, "sleep", "u1", "{\"s\": 0.2}", 10, record_reply, &slow);
    ck_store_op(store, "echo", "u1", "{}", 2, record_reply, &after);
    ck_store_cancel(call);
    ck_assert(run_until(&after.calls, 5000));
    ck_assert(after.ok);
    run_for(20);
    ck_assert_int_eq(slow.calls, 0);
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_not_ready_without_database)
{
    ck_store_config_t config = {.conninfo = NULL};
    ck_store_t *store = ck_store_create(loop, &config);
    ck_assert_ptr_nonnull(store);
    ck_assert(!ck_store_ready(store));
    result_t r = {0}, cancelled = {0};
    ck_store_op(store, "echo", "u1", "{}", 2, record_reply, &r);
    ck_store_cancel(ck_store_op(store, "echo", "u1", "{}", 2, record_reply, &cancelled));
    ck_assert_int_eq(r.calls, 0); /* the 503 comes from the loop, not from inside ck_store_op */
    ck_assert(run_until(&r.calls, 1000));
    ck_assert(!r.ok);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.code, "db_unavailable");
    run_for(10);
    ck_assert_int_eq(cancelled.calls, 0);
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_not_ready_unreachable_or_unmigrated)
{
    ck_store_config_t config = {.conninfo = "host=/nonexistent port=1", .reconnect_ms = 20, .wait_ms = 100};
    ck_store_t *store = ck_store_create(loop, &config);
    run_for(100); /* several failed attempts */
    ck_assert(!ck_store_ready(store));
    result_t r;
    call_op(store, "echo", "{}", &r); /* waits 100 ms for a connection, then 503 */
    ck_assert_int_eq(r.status, 503);
    ck_store_destroy(store);

    ck_store_config_t quick = {.conninfo = fake_conninfo, .connections = 1, .reconnect_ms = 100, .wait_ms = 100};
    store = ck_store_create(loop, &quick);
    wait_ready(store);
    ck_store_set_schema_ready(0);
    ck_assert(!ck_store_ready(store));
    call_op(store, "echo", "{}", &r);
    ck_assert_int_eq(r.status, 503);
    ck_store_set_schema_ready(1);
    call_op(store, "echo", "{}", &r);
    ck_assert(r.ok);
    ck_store_destroy(store);
}
END_TEST

/* A call made while the connections are still being established waits for
 * one instead of failing (readiness right after start-up, reconnects). */
START_TEST(test_call_waits_for_a_connection)
{
    ck_store_config_t config = {.conninfo = fake_conninfo, .connections = 2, .reconnect_ms = 100};
    int up_before = ck_store_stores_up();
    ck_store_t *store = ck_store_create(loop, &config);
    ck_assert(!ck_store_ready(store));
    result_t r = {0};
    ck_assert_ptr_nonnull(ck_store_op(store, "echo", "u1", "{}", 2, record_reply, &r));
    ck_assert(run_until(&r.calls, 3000));
    ck_assert_msg(r.ok, "status %d: %s", r.status, r.message);
    ck_assert_int_eq(ck_store_stores_up(), up_before + 1);
    /* cancelled while waiting: never called back */
    ck_store_destroy(store);
    ck_assert_int_eq(ck_store_stores_up(), up_before);
    store = ck_store_create(loop, &config);
    result_t cancelled = {0};
    ck_store_cancel(ck_store_op(store, "echo", "u1", "{}", 2, record_reply, &cancelled));
    wait_ready(store);
    run_for(100);
    ck_assert_int_eq(cancelled.calls, 0);
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_reconnect_after_terminate)
{
    ck_store_t *store = fake_store(2, 100);
    result_t slow = {0};
    ck_store_op(store, "sleep", "u1", "{\"s\": 10}", 9, record_reply, &slow);
    run_for(50);
    PGconn *admin = admin_connect(fake_conninfo);
    ck_assert_int_eq(admin_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" APP_NAME
                                      "' AND pid <> pg_backend_pid()"),
                     2);
    admin_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" APP_NAME
                      "' AND pid <> pg_backend_pid()");
    ck_assert(run_until(&slow.calls, 5000));
    ck_assert_int_eq(slow.status, 503); /* in flight on a broken connection */
    ck_assert_str_eq(slow.code, "db_unavailable");
    run_for(500); /* both connections notice, wait reconnect_ms and come back */
    wait_ready(store);
    result_t r;
    for (int i = 0; i < 4; i++) { /* both connections serve again */
        call_op(store, "echo", "{}", &r);
        ck_assert_msg(r.ok, "status %d: %s", r.status, r.message);
    }
    ck_assert_int_eq(admin_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" APP_NAME
                                      "' AND pid <> pg_backend_pid()"),
                     2);
    PQfinish(admin);
    ck_store_destroy(store);
}
END_TEST

#define MANY 1000

typedef struct slot {
    int index, calls, ok;
    char json[64];
} slot_t;

static int many_done;

static void record_slot(const ck_store_reply_t *reply, void *user)
{
    slot_t *s = user;
    s->calls++;
    s->ok = reply->ok;
    if (reply->ok)
        snprintf(s->json, sizeof(s->json), "%s", reply->json);
    many_done++;
}

START_TEST(test_many_pipelined_calls)
{
    ck_store_t *store = fake_store(2, 100);
    static slot_t slots[MANY];
    many_done = 0;
    for (int i = 0; i < MANY; i++) {
        char params[32];
        int n = snprintf(params, sizeof(params), "{\"i\": %d}", i);
        slots[i] = (slot_t){.index = i};
        ck_assert_ptr_nonnull(ck_store_op(store, "echo", "u1", params, (size_t)n, record_slot, &slots[i]));
    }
    int all = 0;
    for (int t = 0; t < 1000 && !all; t++) {
        run_for(10);
        all = many_done == MANY;
    }
    ck_assert_int_eq(many_done, MANY);
    for (int i = 0; i < MANY; i++) {
        char want[64];
        snprintf(want, sizeof(want), "{\"op\":\"echo\",\"user\":\"u1\",\"params\":{\"i\":%d}}", i);
        ck_assert_int_eq(slots[i].calls, 1);
        ck_assert(slots[i].ok);
        ck_assert_str_eq(slots[i].json, want);
    }
    ck_store_destroy(store);
}
END_TEST

/* Runs the loop until the store's `n` connections are up, as `admin` (a
 * connection with the same application_name, not counted) sees them. */
static void wait_connections(PGconn *admin, int n)
{
    int up = 0;
    for (int i = 0; i < 500 && up != n; i++) {
        run_for(10);
        up = admin_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" APP_NAME
                              "' AND pid <> pg_backend_pid()");
    }
    ck_assert_int_eq(up, n);
}

/* While its pipeline moves, one connection takes every call: one busy
 * backend per worker instead of two taking turns on the cores (store.c
 * pick_conn).  The calls below go out in one loop pass, so none can look
 * stalled. */
START_TEST(test_calls_share_one_moving_connection)
{
    ck_store_t *store = fake_store(2, 100);
    PGconn *admin = admin_connect(fake_conninfo);
    wait_connections(admin, 2);
    PQfinish(admin);
    enum { N = 20 };
    static result_t r[N];
    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof r[i]);
        ck_assert_ptr_nonnull(ck_store_op(store, "pid", "u1", "{}", 2, record_reply, &r[i]));
    }
    for (int i = 0; i < N; i++) {
        ck_assert_msg(run_until(&r[i].calls, 5000), "no reply to call %d", i);
        ck_assert(r[i].ok);
        ck_assert_str_eq(r[i].json, r[0].json); /* the same backend */
    }
    ck_store_destroy(store);
}
END_TEST

/* A connection whose oldest call is stuck (here: waiting for a lock the
 * test holds) gets no new calls: they go to the other connection and are
 * answered while it stays stuck. */
START_TEST(test_calls_pass_a_stalled_connection)
{
    ck_store_t *store = fake_store(2, 100);
    PGconn *holder = admin_connect(fake_conninfo);
    wait_connections(holder, 2);
    admin_exec(holder, "SELECT pg_advisory_lock(7163)");
    result_t stuck, r;
    memset(&stuck, 0, sizeof stuck);
    ck_assert_ptr_nonnull(ck_store_op(store, "lock", "u1", "{\"key\": 7163}", strlen("{\"key\": 7163}"), record_reply, &stuck));
    run_for(50); /* the stuck call is now older than the stall threshold */
    for (int i = 0; i < 5; i++) {
        call_op(store, "echo", "{}", &r);
        ck_assert(r.ok);
    }
    ck_assert_int_eq(stuck.calls, 0);
    admin_exec(holder, "SELECT pg_advisory_unlock(7163)");
    ck_assert_msg(run_until(&stuck.calls, 5000), "the stuck call never finished");
    ck_assert(stuck.ok);
    PQfinish(holder);
    ck_store_destroy(store);
}
END_TEST

START_TEST(test_destroy_with_calls_in_flight)
{
    ck_store_t *store = fake_store(2, 100);
    result_t r[10] = {{0}};
    for (int i = 0; i < 10; i++)
        ck_store_op(store, "sleep", "u1", "{\"s\": 0.05}", 11, record_reply, &r[i]);
    ck_store_destroy(store);
    run_for(200);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(r[i].calls, 0);
}
END_TEST

static ck_store_t *victim;
static int destroy_calls;

static void destroy_from_callback(const ck_store_reply_t *reply, void *user)
{
    (void)reply;
    (void)user;
    destroy_calls++;
    ck_store_destroy(victim);
}

START_TEST(test_destroy_inside_callback)
{
    victim = fake_store(1, 100);
    destroy_calls = 0;
    for (int i = 0; i < 3; i++) /* same connection: the later two are dropped */
        ck_store_op(victim, "echo", "u1", "{}", 2, destroy_from_callback, NULL);
    ck_assert(run_until(&destroy_calls, 5000));
    run_for(50);
    ck_assert_int_eq(destroy_calls, 1);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_compact_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("migrate");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_migrate_twice);
    tcase_add_test(tc, test_migrate_concurrently);
    tcase_add_test(tc, test_migrate_unreachable_fails);
    tcase_add_test(tc, test_real_dispatchers);
    tcase_add_test(tc, test_reads_match_sql);
    suite_add_tcase(s, tc);

    tc = tcase_create("ops");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, fake_setup, loop_teardown);
    tcase_add_test(tc, test_op_round_trip);
    tcase_add_test(tc, test_op_bytes_round_trip);
    tcase_add_test(tc, test_error_mapping);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_not_ready_unreachable_or_unmigrated);
    tcase_add_test(tc, test_call_waits_for_a_connection);
    tcase_add_test(tc, test_reconnect_after_terminate);
    tcase_add_test(tc, test_many_pipelined_calls);
    tcase_add_test(tc, test_calls_share_one_moving_connection);
    tcase_add_test(tc, test_calls_pass_a_stalled_connection);
    tcase_add_test(tc, test_destroy_with_calls_in_flight);
    tcase_add_test(tc, test_destroy_inside_callback);
    suite_add_tcase(s, tc);

    tc = tcase_create("no_database");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, test_not_ready_without_database);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (getenv(URL_ENV) == NULL)
        fprintf(stderr, "test_store: " URL_ENV " is not set; the database tests will fail (use `make test`)\n");
    return ck_check_run(store_suite());
}
