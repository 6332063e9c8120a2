/*
 * conn.c - one PostgreSQL connection of a worker's store: asynchronous
 * connect, pipeline-mode sends, FIFO result correlation, failure and
 * reconnect.  Everything runs on the worker's loop; nothing here blocks:
 * a host name is connected to through the addresses the admin thread
 * resolved (resolve.h), so libpq never runs DNS here.
 *
 * States (DESIGN.md draws them):
 *   DOWN --retry timer--> CONNECTING --PQconnectPoll OK--> READY
 *   CONNECTING/READY --any failure--> DOWN (in-flight calls get 503, timer armed)
 *
 * Every slot sent is "one to three statements + PQpipelineSync" (one
 * implicit transaction), so each yields: per statement a result and NULL,
 * then PGRES_PIPELINE_SYNC; an error aborts only its own slot (the
 * statements after it report PGRES_PIPELINE_ABORTED).  Results are matched
 * to slots in FIFO order; a slot completes at its Sync.
 * This file never runs a user callback: completed calls go to the store's
 * completion queue, drained at the end of the event handler.
 */
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_impl.h"

#define TEXT_OID 25
#define CK_STORE_RECONNECT_MAX_MS 30000
#define BYTEA_OID 17
#define INT4_OID 23

static const char *const stmt_name[CK_STORE_STMT_COUNT] = {"ck_op",
                                                           "ck_op_bytes",
                                                           "ck_user",
                                                           "ck_items_desc",
                                                           "ck_items_desc_after",
                                                           "ck_items_asc",
                                                           "ck_items_asc_after",
                                                           "ck_threads_desc",
                                                           "ck_threads_desc_after",
                                                           "ck_threads_asc",
                                                           "ck_threads_asc_after",
                                                           "ck_thread",
                                                           "ck_check"};

/* The columns of a thread row the reads turn into a wire Thread (read.c). */
#define THREAD_COLUMNS "x.id, x.title, x.status, x.allowed_image_domains, x.created_at, x.metadata -> 'assistant'"

/* Statements other than the keyset pages (those come from page_sql). */
static const char *const fixed_sql[CK_STORE_STMT_COUNT] = {
    [CK_STORE_STMT_OP] = "SELECT chatkit.op_text($1, $2, $3::jsonb)",
    [CK_STORE_STMT_OP_BYTES] = "SELECT * FROM chatkit.op_bytes($1, $2, $3::jsonb, $4)",
    [CK_STORE_STMT_USER] = "SELECT set_config('chatkit.user_id', $1, true)",
    [CK_STORE_STMT_THREAD] = "SELECT " THREAD_COLUMNS " FROM chatkit.threads x WHERE x.id = $2 AND x.user_id = $1",
    [CK_STORE_STMT_CHECK] = "SELECT EXISTS (SELECT 1 FROM chatkit.threads t WHERE t.id = $2 AND t.user_id = $1),"
                            " EXISTS (SELECT 1 FROM chatkit.items i WHERE i.thread_id = $2 AND i.id = $3"
                            " AND i.user_id = $1)",
};

/* Per statement: how many parameters, which of the slot's four values each
 * takes (ck_store_params_t), their types, and the result format (1 =
 * binary: raw text and bytea, int8 timestamps, jsonb with a version byte). */
static const int stmt_nparams[CK_STORE_STMT_COUNT] = {3, 4, 1, 3, 4, 3, 4, 2, 3, 2, 3, 2, 3};
static const int stmt_value[CK_STORE_STMT_COUNT][4] = {
    [CK_STORE_STMT_OP] = {0, 1, 2},
    [CK_STORE_STMT_OP_BYTES] = {0, 1, 2, 3},
    [CK_STORE_STMT_USER] = {0},
    [CK_STORE_STMT_ITEMS_DESC] = {0, 1, 2},
    [CK_STORE_STMT_ITEMS_DESC_AFTER] = {0, 1, 2, 3},
    [CK_STORE_STMT_ITEMS_ASC] = {0, 1, 2},
    [CK_STORE_STMT_ITEMS_ASC_AFTER] = {0, 1, 2, 3},
    [CK_STORE_STMT_THREADS_DESC] = {0, 2},
    [CK_STORE_STMT_THREADS_DESC_AFTER] = {0, 2, 3},
    [CK_STORE_STMT_THREADS_ASC] = {0, 2},
    [CK_STORE_STMT_THREADS_ASC_AFTER] = {0, 2, 3},
    [CK_STORE_STMT_THREAD] = {0, 1},
    [CK_STORE_STMT_CHECK] = {0, 1, 3},
};
/* $3 of the dispatchers is declared text and cast in SQL, so the JSON goes
 * as binary text: raw bytes with a length, no NUL terminator needed and no
 * jsonb version byte. */
static const Oid stmt_types[CK_STORE_STMT_COUNT][4] = {
    [CK_STORE_STMT_OP] = {TEXT_OID, TEXT_OID, TEXT_OID},
    [CK_STORE_STMT_OP_BYTES] = {TEXT_OID, TEXT_OID, TEXT_OID, BYTEA_OID},
    [CK_STORE_STMT_USER] = {TEXT_OID},
    [CK_STORE_STMT_ITEMS_DESC] = {TEXT_OID, TEXT_OID, INT4_OID},
    [CK_STORE_STMT_ITEMS_DESC_AFTER] = {TEXT_OID, TEXT_OID, INT4_OID, TEXT_OID},
    [CK_STORE_STMT_ITEMS_ASC] = {TEXT_OID, TEXT_OID, INT4_OID},
    [CK_STORE_STMT_ITEMS_ASC_AFTER] = {TEXT_OID, TEXT_OID, INT4_OID, TEXT_OID},
    [CK_STORE_STMT_THREADS_DESC] = {TEXT_OID, INT4_OID},
    [CK_STORE_STMT_THREADS_DESC_AFTER] = {TEXT_OID, INT4_OID, TEXT_OID},
    [CK_STORE_STMT_THREADS_ASC] = {TEXT_OID, INT4_OID},
    [CK_STORE_STMT_THREADS_ASC_AFTER] = {TEXT_OID, INT4_OID, TEXT_OID},
    [CK_STORE_STMT_THREAD] = {TEXT_OID, TEXT_OID},
    [CK_STORE_STMT_CHECK] = {TEXT_OID, TEXT_OID, TEXT_OID},
};
/* op_text: a text result (the wire JSON).  Everything else binary: op_bytes'
 * bytea arrives raw (not hex) and its jsonb column carries a version byte (1)
 * before its text; the reads get raw text, int8 timestamps and bools. */
static const int stmt_result_format[CK_STORE_STMT_COUNT] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* The one keyset page query, for items (of one thread, hidden items skipped)
 * and threads, newest or oldest first, from the start or strictly after the
 * cursor row (the user's row with that id: no row, no page).  One ordered
 * range scan on items_thread_keyset / threads_user_keyset that stops at the
 * LIMIT (the caller asks for one row more than the page to know has_more).
 * Parameters: items $1 user, $2 thread, $3 limit, $4 cursor; threads $1
 * user, $2 limit, $3 cursor. */
static void page_sql(enum ck_store_stmt stmt, char *out, size_t size)
{
    int items = stmt >= CK_STORE_STMT_ITEMS_DESC && stmt <= CK_STORE_STMT_ITEMS_ASC_AFTER;
    int k = items ? (int)(stmt - CK_STORE_STMT_ITEMS_DESC) : (int)(stmt - CK_STORE_STMT_THREADS_DESC);
    int asc = k >= 2, after = k % 2 == 1;
    const char *dir = asc ? "" : " DESC";
    char cursor[256] = "";
    if (after)
        snprintf(cursor, sizeof cursor,
                 " AND (x.created_at, x.id) %c (SELECT c.created_at, c.id FROM chatkit.%s c WHERE %s c.id = $%d"
                 " AND c.user_id = $1)",
                 asc ? '>' : '<', items ? "items" : "threads", items ? "c.thread_id = $2 AND" : "", items ? 4 : 3);
    snprintf(out, size,
             "SELECT %s FROM chatkit.%s x WHERE x.user_id = $1%s%s ORDER BY x.created_at%s, x.id%s LIMIT $%d",
             items ? "x.wire, x.id" : THREAD_COLUMNS, items ? "items" : "threads",
             items ? " AND x.thread_id = $2 AND x.type NOT IN ('hidden_context_item', 'sdk_hidden_context')" : "",
             cursor, dir, dir, items ? 3 : 2);
}

/* The session set-up, sent once per connection before its first call: when
 * chatkit_owner owns the tables (row-level security in owner-role mode,
 * sql/schema/004_row_security.sql) and the connecting role may become it,
 * the session runs as chatkit_owner, so the plain SELECTs of the reads are
 * under the policies like the dispatchers (which run as chatkit_owner
 * anyway).  Otherwise nothing changes. */
static const char session_sql[] =
    "SELECT set_config('role', 'chatkit_owner', false) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
    " WHERE c.oid = to_regclass('chatkit.threads') AND r.rolname = 'chatkit_owner'"
    " AND pg_has_role(current_user, r.oid, 'MEMBER')";

static void conn_on_event(ck_watch_t *watch, int events, void *user);

/* Logs a libpq message about `conn` at `level`. */
static void conn_log(const ck_store_conn_t *conn, enum ck_log_level level, const char *what, const char *msg)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "store: connection %d: %s", conn->index, what);
    ck_store_log_pg(level, prefix, msg);
}

static void conn_notice(void *arg, const char *message) { conn_log(arg, CK_LOG_DEBUG, "notice", message); }

static void conn_enqueue(ck_store_conn_t *conn, ck_store_call_t *call)
{
    call->next = NULL;
    call->sent_at = ck_loop_now_ms(conn->store->loop);
    if (conn->tail != NULL)
        conn->tail->next = call;
    else
        conn->head = call;
    conn->tail = call;
    if (!call->is_internal)
        conn->queued++;
}

static ck_store_call_t *conn_dequeue(ck_store_conn_t *conn)
{
    ck_store_call_t *call = conn->head;
    conn->head = call->next;
    if (conn->head == NULL)
        conn->tail = NULL;
    if (!call->is_internal)
        conn->queued--;
    return call;
}

/* Drops the watch and the PGconn, and fails every slot in flight with 503. */
static void conn_teardown(ck_store_conn_t *conn)
{
    ck_watch_stop(conn->watch);
    conn->watch = NULL;
    PQfinish(conn->pg);
    conn->pg = NULL;
    while (conn->head != NULL) {
        ck_store_call_t *call = conn_dequeue(conn);
        ck_store_call_clear(call);
        call->failed_status = 503;
        if (call->is_internal)
            ck_store_call_free(call);
        else
            ck_store_complete(call);
    }
    conn->state = CK_STORE_CONN_DOWN;
}

/* The delay before the next connection attempt: at once (0-50 ms) after a
 * working connection broke (a terminated backend, a restart: PostgreSQL is
 * usually back), else reconnect_ms/4 doubled per consecutive failure up to
 * CK_STORE_RECONNECT_MAX_MS, each drawn at random from [d/2, d] so the
 * connections of every worker do not knock at once. */
static uint64_t conn_backoff(const ck_store_conn_t *conn, int was_ready)
{
    if (was_ready)
        return (uint64_t)(rand() % 50);
    uint64_t d = (uint64_t)(conn->store->reconnect_ms > 4 ? conn->store->reconnect_ms / 4 : 1);
    for (unsigned i = 1; i < conn->failures && d < CK_STORE_RECONNECT_MAX_MS; i++)
        d *= 2;
    if (d > CK_STORE_RECONNECT_MAX_MS)
        d = CK_STORE_RECONNECT_MAX_MS;
    return d / 2 + (uint64_t)rand() % (d / 2 + 1);
}

/* The connection failed or broke: log why (as a warning when the cause
 * changed since the last warning, else at debug level, so a database down
 * for an hour logs once), fail its calls with 503 and retry with backoff. */
static void conn_fail(ck_store_conn_t *conn, const char *why)
{
    int was_ready = conn->state == CK_STORE_CONN_READY;
    const char *msg = conn->pg != NULL ? PQerrorMessage(conn->pg) : "out of memory";
    char cause[sizeof(conn->last_cause)];
    snprintf(cause, sizeof(cause), "%s: %s", why, msg);
    int changed = strcmp(cause, conn->last_cause) != 0;
    conn->failures++;
    conn_log(conn, changed || was_ready ? CK_LOG_WARN : CK_LOG_DEBUG, why, msg);
    memcpy(conn->last_cause, cause, sizeof(cause));
    conn_teardown(conn);
    uint64_t delay = conn_backoff(conn, was_ready);
    if (!was_ready && changed)
        ck_info("store: connection %d: next attempt in %llu ms (then backing off up to %d s)", conn->index,
                (unsigned long long)delay, CK_STORE_RECONNECT_MAX_MS / 1000);
    ck_timer_arm(conn->retry, delay);
    if (was_ready)
        ck_store_conn_changed(conn->store);
}

/* Replaces the watch by one on the current PQsocket (libpq may switch
 * sockets between connect steps); 0 or -1. */
static int conn_rewatch(ck_store_conn_t *conn)
{
    ck_watch_stop(conn->watch);
    conn->watch = NULL;
    int fd = PQsocket(conn->pg);
    if (fd < 0)
        return -1;
    conn->watch = ck_watch_start(conn->store->loop, fd, conn_on_event, conn);
    return conn->watch != NULL ? 0 : -1;
}

/* Starts libpq's connect: for a host name with the addresses the admin
 * thread published (hostaddr), else from the conninfo string as is.  Returns
 * NULL with *waiting = 1 when the name is not resolved yet (no DNS here). */
static PGconn *conn_start(ck_store_conn_t *conn, int *waiting)
{
    ck_store_t *store = conn->store;
    if (store->params.lookup_name == NULL)
        return PQconnectStart(store->conninfo);
    char *addrs = ck_store_resolved(store->params.lookup_name);
    *waiting = addrs == NULL;
    int rc = addrs != NULL ? ck_store_conninfo_set_addrs(&store->params, addrs) : -1;
    free(addrs);
    if (rc != 0)
        return NULL;
    return PQconnectStartParams((const char *const *)store->params.keywords, (const char *const *)store->params.values,
                                0);
}

/* The host name is not resolved yet: stay DOWN and look again later. */
static void conn_wait_resolve(ck_store_conn_t *conn)
{
    ck_debug("store: connection %d: waiting for the admin thread to resolve %s", conn->index,
             conn->store->params.lookup_name);
    ck_timer_arm(conn->retry, (uint64_t)conn->store->reconnect_ms);
}

static void conn_connect(ck_store_conn_t *conn)
{
    int waiting = 0;
    conn->pg = conn_start(conn, &waiting);
    if (waiting) {
        conn_wait_resolve(conn);
        return;
    }
    if (conn->pg == NULL || PQstatus(conn->pg) == CONNECTION_BAD) {
        conn_fail(conn, "connect");
        return;
    }
    PQsetNoticeProcessor(conn->pg, conn_notice, conn);
    conn->state = CK_STORE_CONN_CONNECTING;
    if (conn_rewatch(conn) != 0) {
        conn_fail(conn, "connect");
        return;
    }
    ck_watch_want(conn->watch, CK_WRITABLE); /* libpq: start as if POLLING_WRITING */
}

static void conn_on_retry(ck_timer_t *timer, void *user)
{
    (void)timer;
    conn_connect(user);
}

static void conn_ready(ck_store_conn_t *conn)
{
    if (PQsetnonblocking(conn->pg, 1) != 0 || PQenterPipelineMode(conn->pg) != 1) {
        conn_fail(conn, "pipeline mode");
        return;
    }
    memset(conn->prepared, 0, sizeof(conn->prepared));
    conn->session_set = 0;
    conn->state = CK_STORE_CONN_READY;
    ck_info("store: connection %d up", conn->index);
    conn->failures = 0;
    conn->last_cause[0] = 0;
    ck_watch_want(conn->watch, CK_READABLE);
    ck_store_conn_changed(conn->store);
}

/* One PQconnectPoll step, then wait for what libpq asked for. */
static void conn_connect_step(ck_store_conn_t *conn)
{
    PostgresPollingStatusType st = PQconnectPoll(conn->pg);
    if (st == PGRES_POLLING_FAILED || conn_rewatch(conn) != 0) {
        conn_fail(conn, "connect");
        return;
    }
    if (st == PGRES_POLLING_OK)
        conn_ready(conn);
    else
        ck_watch_want(conn->watch, st == PGRES_POLLING_READING ? CK_READABLE : CK_WRITABLE);
}

/* Pushes buffered output; waits for writability while some remains. */
static void conn_flush(ck_store_conn_t *conn)
{
    int r = PQflush(conn->pg);
    if (r < 0)
        conn_fail(conn, "send");
    else
        ck_watch_want(conn->watch, r == 1 ? CK_READABLE | CK_WRITABLE : CK_READABLE);
}

/* The head slot's Sync arrived: it is complete. */
static void conn_complete_head(ck_store_conn_t *conn)
{
    ck_store_call_t *call = conn_dequeue(conn);
    if (!call->is_internal) {
        ck_store_complete(call);
        return;
    }
    ExecStatusType st = call->nres > 0 ? PQresultStatus(call->res[0]) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *what = call->nstmts > 0 ? "prepare" : "session set-up";
        conn_log(conn, CK_LOG_ERROR, what, call->nres > 0 ? PQresultErrorMessage(call->res[0]) : "no result");
        if (call->nstmts > 0)
            conn->prepared[call->stmts[0]] = 0; /* try again with the next call */
    }
    ck_store_call_free(call);
}

/* 1 if OpenSSL holds decrypted bytes libpq has not taken yet (its buffer was
 * full): the socket will not signal them, so they must be read now. */
static int conn_ssl_pending(PGconn *pg)
{
    SSL *ssl = PQsslInUse(pg) ? PQsslStruct(pg, "OpenSSL") : NULL;
    return ssl != NULL && SSL_pending(ssl) > 0;
}

/* Matches the results libpq has buffered to slots, oldest first. */
static void conn_take_results(ck_store_conn_t *conn)
{
    int nulls = 0; /* two NULLs in a row: nothing more to take now */
    while (conn->head != NULL && !PQisBusy(conn->pg) && nulls < 2) {
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL) {
            nulls++;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            conn_complete_head(conn);
        } else if (conn->head->nres < CK_STORE_MAX_STMTS) {
            conn->head->res[conn->head->nres++] = res;
        } else {
            PQclear(res); /* a statement yields one result; ignore extras */
        }
    }
}

/* Reads what arrived and completes the slots it finishes. */
static void conn_read(ck_store_conn_t *conn)
{
    do {
        if (!PQconsumeInput(conn->pg)) {
            conn_fail(conn, "connection lost");
            return;
        }
        conn_take_results(conn);
        if (PQstatus(conn->pg) == CONNECTION_BAD) {
            conn_fail(conn, "connection lost");
            return;
        }
    } while (conn_ssl_pending(conn->pg));
}

static void conn_on_event(ck_watch_t *watch, int events, void *user)
{
    (void)watch;
    ck_store_conn_t *conn = user;
    if (conn->state == CK_STORE_CONN_CONNECTING) {
        conn_connect_step(conn);
        return;
    }
    if (events & CK_WRITABLE)
        conn_flush(conn);
    if ((events & CK_READABLE) && conn->state == CK_STORE_CONN_READY)
        conn_read(conn);
    ck_store_drain(conn->store); /* last: may free the store */
}

int ck_store_conn_init(ck_store_conn_t *conn, ck_store_t *store, int index)
{
    memset(conn, 0, sizeof(*conn));
    conn->store = store;
    conn->index = index;
    conn->retry = ck_timer_new(store->loop, conn_on_retry, conn);
    if (conn->retry == NULL)
        return -1;
    conn_connect(conn);
    return 0;
}

void ck_store_conn_close(ck_store_conn_t *conn)
{
    ck_timer_free(conn->retry);
    conn->retry = NULL;
    ck_watch_stop(conn->watch);
    conn->watch = NULL;
    PQfinish(conn->pg);
    conn->pg = NULL;
    while (conn->head != NULL)
        ck_store_call_free(conn_dequeue(conn));
}

/* A new internal slot (PREPARE or session set-up) at the tail of the FIFO. */
static ck_store_call_t *conn_internal_slot(ck_store_conn_t *conn)
{
    ck_store_call_t *slot = calloc(1, sizeof(*slot) + 1);
    if (slot == NULL)
        return NULL;
    slot->store = conn->store;
    slot->is_internal = 1;
    conn_enqueue(conn, slot);
    return slot;
}

/* Queues the PREPARE of `stmt` ahead of its first call on this connection. */
static int conn_prepare(ck_store_conn_t *conn, enum ck_store_stmt stmt)
{
    ck_store_call_t *slot = conn_internal_slot(conn);
    if (slot == NULL)
        return -1;
    slot->nstmts = 1;
    slot->stmts[0] = stmt;
    conn->prepared[stmt] = 1;
    char buf[1024];
    const char *sql = fixed_sql[stmt];
    if (sql == NULL) {
        page_sql(stmt, buf, sizeof buf);
        sql = buf;
    }
    if (!PQsendPrepare(conn->pg, stmt_name[stmt], sql, stmt_nparams[stmt], stmt_types[stmt]) ||
        !PQpipelineSync(conn->pg))
        return -1;
    return 0;
}

/* Queues the session set-up ahead of the first call on this connection. */
static int conn_session(ck_store_conn_t *conn)
{
    ck_store_call_t *slot = conn_internal_slot(conn);
    if (slot == NULL)
        return -1;
    conn->session_set = 1;
    if (!PQsendQueryParams(conn->pg, session_sql, 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(conn->pg))
        return -1;
    return 0;
}

void ck_store_conn_send(ck_store_conn_t *conn, ck_store_call_t *call, const ck_store_params_t *p)
{
    int ok = conn->session_set || conn_session(conn) == 0;
    for (int i = 0; ok && i < call->nstmts; i++)
        ok = conn->prepared[call->stmts[i]] || conn_prepare(conn, call->stmts[i]) == 0;
    conn_enqueue(conn, call);
    if (!ok) {
        conn_fail(conn, "prepare"); /* completes the call with 503 */
        return;
    }
    for (int i = 0; i < call->nstmts; i++) {
        enum ck_store_stmt stmt = call->stmts[i];
        const char *values[4];
        int lengths[4], formats[4];
        for (int j = 0; j < stmt_nparams[stmt]; j++) {
            int v = stmt_value[stmt][j];
            values[j] = p->values[v];
            lengths[j] = p->lengths[v];
            formats[j] = p->formats[v];
        }
        if (!PQsendQueryPrepared(conn->pg, stmt_name[stmt], stmt_nparams[stmt], values, lengths, formats,
                                 stmt_result_format[stmt])) {
            conn_fail(conn, "send");
            return;
        }
    }
    if (!PQpipelineSync(conn->pg)) {
        conn_fail(conn, "send");
        return;
    }
    conn_flush(conn);
}
