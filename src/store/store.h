/*
 * store.h - the PostgreSQL thread store, as seen by src/http and src/agent.
 *
 * One ck_store_t per worker thread, living on that worker's event loop.  It
 * owns a few libpq connections in non-blocking pipeline mode, driven by the
 * loop (src/base/loop.h); it never blocks the loop and never includes h2o.
 *
 * Every protocol operation is ONE round trip.  The hot reads (items.list,
 * threads.list, threads.get_by_id) are prepared plain SELECTs whose rows C
 * wraps in the page envelope (read.c); every other op is a call of the SQL
 * dispatcher `chatkit.op_text(op text, user_id text, params jsonb) -> text`
 * (sql/functions/dispatch.sql), which returns the wire JSON itself.  The list
 * of ops and their params/results is in src/store/README.md (the contract
 * with sql/).
 *
 * Errors raised by the SQL functions carry a SQLSTATE that maps to an HTTP
 * status (see ck_store_reply_t.http_status): not found -> 404, bad params ->
 * 400, conflict/state -> 409, too large -> 413, database down (no
 * connection, connection lost, server shutting down or starting: classes 08
 * and 57P) -> 503, else 500.  A 503 means the op may or may not have
 * committed: callers that retry must retry only idempotent ops.
 *
 * Must never: block, include h2o, or keep a pointer into a reply after the
 * callback returns.
 */
#ifndef CK_STORE_STORE_H
#define CK_STORE_STORE_H

#include <stddef.h>

#include "base/loop.h"

typedef struct ck_store ck_store_t;
typedef struct ck_store_call ck_store_call_t;

typedef struct ck_store_reply {
    int ok;              /* 1: success, result below; 0: failure, fields below */
    int http_status;     /* on failure: 400, 404, 409, 413, 503 or 500 */
    const char *code;    /* on failure: short machine code, e.g. "not_found" */
    const char *message; /* on failure: human readable, safe to show the client */
    const char *json;    /* on success: the op's result as compact JSON text (NUL-terminated) */
    size_t json_len;
    const char *bytes; /* binary ops only: the bytea column (may be NULL) */
    size_t bytes_len;
} ck_store_reply_t;

/* Called exactly once per call (unless cancelled), on the loop thread.
 * The reply and everything it points to are valid only during the callback. */
typedef void (*ck_store_cb)(const ck_store_reply_t *reply, void *user);

typedef struct ck_store_config {
    const char *conninfo; /* libpq URI or key=value string; NULL = no database */
    int connections;      /* connections per worker (default 2) */
    int reconnect_ms;     /* first reconnect delay, doubled per failure up to 30 s, with jitter (default 1000) */
    int wait_ms;          /* how long a call waits for a connection (default 2000; <0: not at all) */
} ck_store_config_t;

/* Creates the per-worker store and starts connecting in the background.
 * Never fails because the database is down: a call made while no connection
 * is up waits for one up to wait_ms, then fails with 503 (it keeps
 * reconnecting, with backoff, also after a restart of PostgreSQL). */
ck_store_t *ck_store_create(ck_loop_t *loop, const ck_store_config_t *config);
void ck_store_destroy(ck_store_t *store);

/* 1 when at least one connection is up and the schema is migrated. */
int ck_store_ready(const ck_store_t *store);

/* Process-wide: how many stores (one per worker) have a connection up right
 * now (schema not counted).  Readable from any thread. */
int ck_store_stores_up(void);

/* Run `op` (a name from src/store/README.md) for `user_id` with the JSON
 * object `params_json` (len bytes, need not be NUL-terminated).  The callback
 * gets the op's JSON result.  Returns a handle usable with ck_store_cancel()
 * until the callback has run; the store owns it.  NULL (out of memory): no
 * callback.  Otherwise the callback runs exactly once, never inside this
 * call, even when the op fails at once (database down: 503; too large: 413)
 * - the convention of src/base/loop.h. */
ck_store_call_t *ck_store_op(ck_store_t *store, const char *op, const char *user_id, const char *params_json,
                             size_t params_len, ck_store_cb cb, void *user);

/* Same, for the ops that move attachment bytes: `data` (may be NULL) is passed
 * as a bytea and the reply's `bytes` carries the bytea the op returns. */
ck_store_call_t *ck_store_op_bytes(ck_store_t *store, const char *op, const char *user_id, const char *params_json,
                                   size_t params_len, const void *data, size_t data_len, ck_store_cb cb, void *user);

/* The callback will not be called.  The query itself still completes on the
 * server (its result is dropped). */
void ck_store_cancel(ck_store_call_t *call);

/* 0 when `conninfo` parses as a libpq URI or key=value string, else -1
 * with libpq's reason in `why` (a start-up check: such a string can never
 * connect, so retrying it forever would only hide the mistake). */
int ck_store_conninfo_check(const char *conninfo, char *why, size_t cap);

/* --- process-wide set-up, outside any event loop (blocking; main thread or
 *     the admin thread only) ---------------------------------------------- */

/* Brings the database up to date, under a PostgreSQL advisory lock so several
 * processes can start at once (sql/README.md):
 *   1. each sql/schema/NNN_*.sql not yet recorded in chatkit.schema_migrations
 *      is applied, in number order, in its own transaction with its record;
 *   2. when the checksum of sql/functions/ differs from the one recorded in
 *      chatkit.schema_functions, every function file is applied (CREATE OR
 *      REPLACE) in one transaction, the functions of schema chatkit that no
 *      file defines any more are dropped, and the checksum is recorded.
 * The files are embedded in the binary at build time (build/gen/migrations.c).
 * Returns 0 on success, -2 when it cannot connect, -1 when a migration
 * failed.  Logged; a failure to connect is logged as an error only when its
 * message differs from the last one (a database down for an hour is retried
 * every second by the admin thread). */
int ck_store_migrate(const char *conninfo);

/* The embedded SQL files (generated from sql/ by scripts/embed-sql.sh). */
typedef struct ck_sql_file {
    const char *name; /* file name, e.g. "001_schema.sql"; a migration's number is its version */
    const char *sql;
} ck_sql_file_t;
extern const ck_sql_file_t ck_sql_schema[]; /* sql/schema/, in version order */
extern const int ck_sql_schema_count;
extern const ck_sql_file_t ck_sql_functions[]; /* sql/functions/, in name order */
extern const int ck_sql_functions_count;
extern const char ck_sql_functions_checksum[]; /* SHA-256 (hex) of the function files */

/* Marks the schema as migrated for every worker's store (set by the admin
 * thread once ck_store_migrate() succeeded). */
void ck_store_set_schema_ready(int ready);

/* Describes `conninfo` (URI or key=value) for logs without its password:
 * "host:port/dbname (user U)" (parts omitted when unset).  Writes at most `cap`
 * bytes; "(unparsable)" when libpq cannot parse it. */
void ck_store_describe(const char *conninfo, char *out, size_t cap);
int ck_store_schema_ready(void);

#endif
