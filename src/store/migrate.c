/*
 * migrate.c - start-up schema migration (blocking; main or admin thread only)
 * and the process-wide "schema is migrated" flag every worker's store reads.
 *
 * ck_store_migrate() holds a session advisory lock for its whole run, so
 * several processes starting at once do the work once: the others wait,
 * then find it recorded.  Two kinds of SQL (sql/README.md):
 *   - sql/schema/NNN_*.sql: each applied once, in number order, in its own
 *     transaction together with its row in chatkit.schema_migrations, so a
 *     failed file leaves no trace and is retried at the next start;
 *   - sql/functions/<area>.sql: applied together in one transaction whenever their
 *     checksum differs from the one in chatkit.schema_functions (with
 *     check_function_bodies off, so their order does not matter); functions
 *     of schema chatkit that the files did not (re)create are dropped in the
 *     same transaction.
 * The files must therefore not contain transaction control (BEGIN/COMMIT).
 */
#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_impl.h"

/* pg_advisory_lock key: "chatkitd" in ASCII, as a bigint. */
#define MIGRATION_LOCK_KEY "7163082359978947684"

static atomic_int schema_ready;

/* The last "cannot connect" message logged as an error (see ck_store_migrate). */
static pthread_mutex_t last_failure_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_failure[512];

/* Logs a connection failure loudly once per distinct message (a cleared
 * record, after a success, makes the next one loud again). */
static void log_connect_failure(const char *msg)
{
    pthread_mutex_lock(&last_failure_lock);
    int repeated = msg != NULL && strncmp(last_failure, msg, sizeof(last_failure) - 1) == 0;
    snprintf(last_failure, sizeof(last_failure), "%s", msg != NULL ? msg : "");
    pthread_mutex_unlock(&last_failure_lock);
    ck_store_log_pg(repeated ? CK_LOG_DEBUG : CK_LOG_ERROR, "migrate: cannot connect", msg != NULL ? msg : "?");
}

void ck_store_set_schema_ready(int ready) { atomic_store(&schema_ready, ready != 0); }

int ck_store_schema_ready(void) { return atomic_load(&schema_ready); }

static void migrate_notice(void *arg, const char *message)
{
    (void)arg;
    ck_store_log_pg(CK_LOG_DEBUG, "migrate: notice", message);
}

/* Consumes `res`: 0 when it succeeded, else -1 logged with `what`. */
static int result_ok(PGresult *res, const char *what)
{
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "migrate: %s failed", what);
        ck_store_log_pg(CK_LOG_ERROR, prefix, PQresultErrorMessage(res));
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* Runs `sql` (may hold several statements); 0, or -1 logged with `what`. */
static int exec_ok(PGconn *pg, const char *what, const char *sql) { return result_ok(PQexec(pg, sql), what); }

/* The version of a migration: the leading number of its file name, or -1. */
static int migration_version(const char *name)
{
    if (!isdigit((unsigned char)name[0]))
        return -1;
    long v = strtol(name, NULL, 10);
    return v > 0 && v < 1000000 ? (int)v : -1;
}

/* 1 if `version` is recorded, 0 if not, -1 on error. */
static int is_applied(PGconn *pg, int version)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", version);
    const char *params[1] = {buf};
    PGresult *res =
        PQexecParams(pg, "SELECT 1 FROM chatkit.schema_migrations WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
    int r = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) > 0 : -1;
    if (r < 0)
        ck_store_log_pg(CK_LOG_ERROR, "migrate: reading chatkit.schema_migrations failed", PQresultErrorMessage(res));
    PQclear(res);
    return r;
}

/* Runs `sql` with the text parameters `params`; 0, or -1 logged with `what`. */
static int exec_params(PGconn *pg, const char *what, const char *sql, int n, const char *const *params)
{
    return result_ok(PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0), what);
}

/* COMMIT if `ok`, else ROLLBACK; 0 when committed. */
static int finish(PGconn *pg, int ok)
{
    if (ok && exec_ok(pg, "COMMIT", "COMMIT") == 0)
        return 0;
    PQclear(PQexec(pg, "ROLLBACK"));
    return -1;
}

/* Applies one schema migration and records it, in one transaction; 0 or -1. */
static int apply_schema(PGconn *pg, const ck_sql_file_t *m, int version)
{
    if (exec_ok(pg, "BEGIN", "BEGIN") != 0)
        return -1;
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", version);
    const char *params[2] = {buf, m->name};
    int ok = exec_ok(pg, m->name, m->sql) == 0 &&
             exec_params(pg, "recording the migration",
                         "INSERT INTO chatkit.schema_migrations (version, name) VALUES ($1, $2)", 2, params) == 0;
    if (finish(pg, ok) != 0)
        return -1;
    ck_info("migrate: applied %s", m->name);
    return 0;
}

/* 1 if the recorded checksum of the function files is the embedded one, 0 if
 * not (or none recorded), -1 on error. */
static int functions_current(PGconn *pg)
{
    const char *params[1] = {ck_sql_functions_checksum};
    PGresult *res =
        PQexecParams(pg, "SELECT 1 FROM chatkit.schema_functions WHERE checksum = $1", 1, NULL, params, NULL, NULL, 0);
    int r = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) > 0 : -1;
    if (r < 0)
        ck_store_log_pg(CK_LOG_ERROR, "migrate: reading chatkit.schema_functions failed", PQresultErrorMessage(res));
    PQclear(res);
    return r;
}

/* Before the function files run: remembers every function and procedure of
 * schema chatkit as "oid:xmin" (transaction-local setting). */
static const char remember_sql[] =
    "SELECT set_config('chatkit.functions_before', coalesce(string_agg(p.oid::text || ':' || p.xmin::text, ','), ''),"
    " true) FROM pg_proc p WHERE p.pronamespace = 'chatkit'::regnamespace AND p.prokind IN ('f', 'p')";

/* After them: drops every function or procedure whose row is unchanged,
 * i.e. that no CREATE OR REPLACE of the files touched (a replaced function
 * keeps its oid but gets a new row version).  So a function deleted from
 * sql/functions/, or an old signature of one whose arguments changed, leaves
 * the database at the next start. */
static const char prune_sql[] =
    "DO $prune$ DECLARE r record; BEGIN"
    "  FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p"
    "            WHERE p.pronamespace = 'chatkit'::regnamespace AND p.prokind IN ('f', 'p')"
    "              AND p.oid::text || ':' || p.xmin::text"
    "                  = ANY (string_to_array(current_setting('chatkit.functions_before'), ','))"
    "  LOOP"
    "    EXECUTE format('DROP %s %s', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.sig);"
    "    RAISE NOTICE 'dropped %, no longer defined in sql/functions/', r.sig;"
    "  END LOOP;"
    "END $prune$";

/* Applies every function file, drops the functions no file defines any more
 * and records the checksum, in one transaction; 0 or -1. */
static int apply_functions(PGconn *pg)
{
    if (exec_ok(pg, "BEGIN", "BEGIN") != 0)
        return -1;
    int ok = exec_ok(pg, "check_function_bodies", "SET LOCAL check_function_bodies = off") == 0 &&
             exec_ok(pg, "listing the functions", remember_sql) == 0;
    for (int i = 0; ok && i < ck_sql_functions_count; i++)
        ok = exec_ok(pg, ck_sql_functions[i].name, ck_sql_functions[i].sql) == 0;
    ok = ok && exec_ok(pg, "dropping the functions no file defines", prune_sql) == 0;
    const char *params[1] = {ck_sql_functions_checksum};
    ok = ok && exec_params(pg, "recording the function checksum",
                           "INSERT INTO chatkit.schema_functions (singleton, checksum) VALUES (true, $1)"
                           " ON CONFLICT (singleton) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
                           1, params) == 0;
    if (finish(pg, ok) != 0)
        return -1;
    ck_info("migrate: applied sql/functions/ (%d files, checksum %.12s)", ck_sql_functions_count,
            ck_sql_functions_checksum);
    return 0;
}

/* Everything under the advisory lock: bookkeeping tables, each pending schema
 * migration in version order, then the functions if they changed. */
static int migrate_locked(PGconn *pg)
{
    if (exec_ok(pg, "creating the bookkeeping tables",
                "CREATE SCHEMA IF NOT EXISTS chatkit;"
                "CREATE TABLE IF NOT EXISTS chatkit.schema_migrations ("
                "  version int PRIMARY KEY, name text NOT NULL,"
                "  applied_at timestamptz NOT NULL DEFAULT now());"
                "CREATE TABLE IF NOT EXISTS chatkit.schema_functions ("
                "  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), checksum text NOT NULL,"
                "  applied_at timestamptz NOT NULL DEFAULT now())") != 0)
        return -1;
    int previous = 0;
    for (int i = 0; i < ck_sql_schema_count; i++) {
        const ck_sql_file_t *m = &ck_sql_schema[i];
        int version = migration_version(m->name);
        if (version <= previous) {
            ck_error("migrate: %s: file names must start with increasing numbers", m->name);
            return -1;
        }
        previous = version;
        int applied = is_applied(pg, version);
        if (applied < 0 || (!applied && apply_schema(pg, m, version) != 0))
            return -1;
    }
    int current = functions_current(pg);
    if (current < 0 || (!current && apply_functions(pg) != 0))
        return -1;
    return 0;
}
int ck_store_migrate(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo != NULL ? conninfo : "");
    if (PQstatus(pg) != CONNECTION_OK) {
        log_connect_failure(PQerrorMessage(pg));
        PQfinish(pg);
        return -2;
    }
    pthread_mutex_lock(&last_failure_lock);
    last_failure[0] = 0;
    pthread_mutex_unlock(&last_failure_lock);
    PQsetNoticeProcessor(pg, migrate_notice, NULL);
    int r = -1;
    if (exec_ok(pg, "pg_advisory_lock", "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")") == 0) {
        r = migrate_locked(pg);
        exec_ok(pg, "pg_advisory_unlock", "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")");
    }
    PQfinish(pg);
    return r;
}
