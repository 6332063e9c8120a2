/*
 * store.c - the per-worker store of store.h: a few connections (conn.c), the
 * choice of connection per call, the completion queue that runs callbacks,
 * and the translation of PostgreSQL results into ck_store_reply_t (compact
 * JSON on success, SQLSTATE -> HTTP status on failure).
 *
 * Callbacks never run inside ck_store_op*() or inside libpq processing: a
 * finished call is queued and the queue is drained at the end of the event
 * handler that finished it (or from a 0 ms timer).  A callback may therefore
 * start calls, cancel calls or destroy the store; destruction from a callback
 * is deferred to the end of the drain.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/json_compact.h"
#include "store/store_impl.h"

#define DEFAULT_CONNECTIONS 2
#define DEFAULT_RECONNECT_MS 1000
#define DEFAULT_WAIT_MS 2000
/* A connection whose oldest call in flight went out this long ago is passed
 * over for new calls (pick_conn). */
#define STALL_MS 5
#define WAIT_POLL_MS 50 /* waiting calls look for readiness this often (the schema flag has no event) */
/* PostgreSQL cannot take a single value of 1 GiB or more (MaxAllocSize). */
#define MAX_PARAM_LEN ((size_t)0x3fffffff)

/* SQLSTATEs raised on purpose by sql/ (src/store/README.md); their message
 * is written for the client. */
static const struct {
    const char *sqlstate;
    int status;
    const char *code;
} error_map[] = {
    {"P0002", 404, "not_found"},
    {"22023", 400, "invalid_params"},
    {"55000", 409, "conflict"},
    {"54000", 413, "too_large"},
};

static void drain_on_timer(ck_timer_t *timer, void *user);
static void wait_on_timer(ck_timer_t *timer, void *user);

/* Stores with a connection up (ck_store_stores_up). */
static atomic_int stores_up;

/* --- lifetime ---------------------------------------------------------------- */

ck_store_t *ck_store_create(ck_loop_t *loop, const ck_store_config_t *config)
{
    ck_store_t *store = calloc(1, sizeof(*store));
    if (store == NULL)
        return NULL;
    store->loop = loop;
    store->reconnect_ms = config->reconnect_ms > 0 ? config->reconnect_ms : DEFAULT_RECONNECT_MS;
    store->wait_ms = config->wait_ms != 0 ? config->wait_ms : DEFAULT_WAIT_MS;
    store->drain_timer = ck_timer_new(loop, drain_on_timer, store);
    store->wait_timer = ck_timer_new(loop, wait_on_timer, store);
    if (store->drain_timer == NULL || store->wait_timer == NULL)
        goto fail;
    if (config->conninfo == NULL)
        return store; /* no database: never ready, every call gets 503 */
    int n = config->connections > 0 ? config->connections : DEFAULT_CONNECTIONS;
    store->conninfo = strdup(config->conninfo);
    store->conns = calloc((size_t)n, sizeof(*store->conns));
    if (store->conninfo == NULL || store->conns == NULL || ck_store_conninfo_parse(store->conninfo, &store->params) < 0)
        goto fail;
    for (; store->nconns < n; store->nconns++)
        if (ck_store_conn_init(&store->conns[store->nconns], store, store->nconns) != 0)
            goto fail;
    return store;
fail:
    ck_store_destroy(store);
    return NULL;
}

static void store_free(ck_store_t *store)
{
    for (int i = 0; i < store->nconns; i++)
        ck_store_conn_close(&store->conns[i]);
    if (store->up)
        atomic_fetch_sub(&stores_up, 1);
    while (store->done_head != NULL) {
        ck_store_call_t *call = store->done_head;
        store->done_head = call->next;
        ck_store_call_free(call);
    }
    while (store->wait_head != NULL) {
        ck_store_call_t *call = store->wait_head;
        store->wait_head = call->next;
        ck_store_call_free(call);
    }
    if (store->drain_timer != NULL)
        ck_timer_free(store->drain_timer);
    if (store->wait_timer != NULL)
        ck_timer_free(store->wait_timer);
    free(store->conns);
    free(store->conninfo);
    ck_store_conninfo_free(&store->params);
    free(store);
}

/* Frees everything; pending calls are dropped without their callbacks.  From
 * inside a store callback the work is deferred to the end of the drain. */
void ck_store_destroy(ck_store_t *store)
{
    if (store == NULL)
        return;
    if (store->draining)
        store->destroy_requested = 1;
    else
        store_free(store);
}

int ck_store_ready(const ck_store_t *store)
{
    if (!ck_store_schema_ready())
        return 0;
    for (int i = 0; i < store->nconns; i++)
        if (store->conns[i].state == CK_STORE_CONN_READY)
            return 1;
    return 0;
}

/* --- calls ------------------------------------------------------------------- */

int ck_store_conninfo_check(const char *conninfo, char *why, size_t cap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts != NULL) {
        PQconninfoFree(opts);
        return 0;
    }
    snprintf(why, cap, "%s", err != NULL ? err : "out of memory");
    size_t n = strlen(why);
    while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
        why[--n] = 0;
    PQfreemem(err);
    return -1;
}

int ck_store_stores_up(void) { return atomic_load(&stores_up); }

void ck_store_call_clear(ck_store_call_t *call)
{
    for (int i = 0; i < call->nres; i++)
        PQclear(call->res[i]);
    call->nres = 0;
}

void ck_store_call_free(ck_store_call_t *call)
{
    ck_store_call_clear(call);
    ck_store_read_free(call->read);
    free(call->user_id);
    free(call->params);
    free(call->data);
    free(call);
}

void ck_store_cancel(ck_store_call_t *call)
{
    if (call != NULL)
        call->cb = NULL;
}

/* The connection for a new call, or NULL when none is READY: the first
 * READY one, in order, that is moving - nothing in flight, or its oldest
 * call went out less than STALL_MS ago - so one backend per worker takes
 * the traffic while it keeps up; else (a slow op or a backend off the CPU
 * holds every pipeline) the one with the fewest calls in flight.
 * Spreading every call over all connections instead keeps twice as many
 * backends busy, taking turns on the same cores: more context switches,
 * more CPU per read and a longer tail (BENCHMARKS.md "Reads"). */
static ck_store_conn_t *pick_conn(ck_store_t *store)
{
    ck_store_conn_t *best = NULL;
    uint64_t now = ck_loop_now_ms(store->loop);
    for (int i = 0; i < store->nconns; i++) {
        ck_store_conn_t *c = &store->conns[i];
        if (c->state != CK_STORE_CONN_READY)
            continue;
        if (c->head == NULL || now - c->head->sent_at < STALL_MS)
            return c;
        if (best == NULL || c->queued < best->queued)
            best = c;
    }
    return best;
}

/* Queues a call until a connection is up. */
static void wait_for_conn(ck_store_t *store, ck_store_call_t *call)
{
    call->wait_until = ck_loop_now_ms(store->loop) + (uint64_t)store->wait_ms;
    call->next = NULL;
    if (store->wait_tail != NULL)
        store->wait_tail->next = call;
    else
        store->wait_head = call;
    store->wait_tail = call;
    if (!ck_timer_is_armed(store->wait_timer))
        ck_timer_arm(store->wait_timer, WAIT_POLL_MS);
}

/* Keeps a dispatcher call until a connection is up (copies of its
 * arguments); 0 or -1 when out of memory. */
static int wait_with_args(ck_store_t *store, ck_store_call_t *call, const char *user_id, const char *params,
                          size_t params_len, const void *data, size_t data_len)
{
    call->user_id = strdup(user_id != NULL ? user_id : "");
    call->params = malloc(params_len + 1);
    call->data = data != NULL ? malloc(data_len + 1) : NULL;
    if (call->user_id == NULL || call->params == NULL || (data != NULL && call->data == NULL))
        return -1;
    memcpy(call->params, params, params_len);
    call->params_len = params_len;
    if (data != NULL)
        memcpy(call->data, data, data_len);
    call->data_len = data_len;
    wait_for_conn(store, call);
    return 0;
}

/* Sends a dispatcher call (op, user, params JSON, bytes) on `conn`. */
static void send_op(ck_store_conn_t *conn, ck_store_call_t *call, const char *user_id, const char *params,
                    size_t params_len, const void *data, size_t data_len)
{
    ck_store_params_t p = {{call->op, user_id, params, data}, {0, 0, (int)params_len, (int)data_len}, {0, 0, 1, 1}};
    ck_store_conn_send(conn, call, &p);
}

void ck_store_submit(ck_store_call_t *call)
{
    ck_store_t *store = call->store;
    ck_store_conn_t *conn = ck_store_ready(store) && store->wait_head == NULL ? pick_conn(store) : NULL;
    if (conn != NULL) {
        ck_store_read_send(conn, call);
    } else if (store->nconns > 0 && store->wait_ms > 0) {
        wait_for_conn(store, call);
    } else {
        call->failed_status = 503;
        ck_store_complete(call);
    }
}

/* Sends the waiting calls while a connection is ready; drops cancelled
 * ones; fails those whose wait is over with 503. */
static void serve_waiting(ck_store_t *store)
{
    static _Thread_local int busy; /* a send that fails a connection calls back into here */
    if (busy)
        return;
    busy = 1;
    uint64_t now = ck_loop_now_ms(store->loop);
    ck_store_call_t **link = &store->wait_head, *last = NULL;
    while (*link != NULL) {
        ck_store_call_t *call = *link;
        ck_store_conn_t *conn = ck_store_ready(store) ? pick_conn(store) : NULL;
        if (call->cb != NULL && conn == NULL && now < call->wait_until) {
            last = call;
            link = &call->next;
            continue;
        }
        *link = call->next;
        call->next = NULL;
        if (call->cb == NULL) {
            ck_store_call_free(call);
        } else if (conn == NULL) {
            call->failed_status = 503;
            ck_store_complete(call);
        } else if (call->read != NULL) {
            ck_store_read_send(conn, call);
        } else {
            send_op(conn, call, call->user_id, call->params, call->params_len, call->data, call->data_len);
        }
    }
    store->wait_tail = last;
    if (store->wait_head == NULL)
        ck_timer_cancel(store->wait_timer);
    else if (!ck_timer_is_armed(store->wait_timer))
        ck_timer_arm(store->wait_timer, WAIT_POLL_MS);
    busy = 0;
}

static void wait_on_timer(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_store_t *store = user;
    serve_waiting(store);
    ck_store_drain(store); /* last: may free the store */
}

void ck_store_conn_changed(ck_store_t *store)
{
    int up = 0;
    for (int i = 0; i < store->nconns; i++)
        up |= store->conns[i].state == CK_STORE_CONN_READY;
    if (up != store->up) {
        store->up = up;
        atomic_fetch_add(&stores_up, up ? 1 : -1);
    }
    if (up && store->wait_head != NULL)
        serve_waiting(store);
}

static ck_store_call_t *start_call(ck_store_t *store, enum ck_store_stmt stmt, const char *op, const char *user_id,
                                   const char *params, size_t params_len, const void *data, size_t data_len,
                                   ck_store_cb cb, void *user)
{
    if (op == NULL)
        op = ""; /* the dispatcher answers 400 unknown operation */
    size_t op_len = strlen(op);
    ck_store_call_t *call = calloc(1, sizeof(*call) + op_len + 1);
    if (call == NULL)
        return NULL;
    call->store = store;
    call->nstmts = 1;
    call->stmts[0] = stmt;
    call->cb = cb;
    call->user = user;
    const char *scope = ck_log_scope_current();
    snprintf(call->request_id, sizeof call->request_id, "%s", scope != NULL ? scope : "");
    memcpy(call->op, op, op_len + 1);
    if (params_len >= MAX_PARAM_LEN || data_len >= MAX_PARAM_LEN) {
        call->failed_status = 413;
        ck_store_complete(call);
        return call;
    }
    if (stmt == CK_STORE_STMT_OP && ck_store_is_read_op(op)) {
        if (ck_store_read_start(call, user_id, params, params_len) != 0) {
            ck_store_call_free(call);
            return NULL;
        }
        return call;
    }
    ck_store_conn_t *conn = ck_store_ready(store) && store->wait_head == NULL ? pick_conn(store) : NULL;
    if (conn != NULL) {
        send_op(conn, call, user_id, params, params_len, data, data_len);
    } else if (store->nconns > 0 && store->wait_ms > 0) {
        if (wait_with_args(store, call, user_id, params, params_len, data, data_len) != 0) {
            ck_store_call_free(call);
            return NULL;
        }
    } else {
        call->failed_status = 503;
        ck_store_complete(call);
    }
    return call;
}

ck_store_call_t *ck_store_op(ck_store_t *store, const char *op, const char *user_id, const char *params_json,
                             size_t params_len, ck_store_cb cb, void *user)
{
    return start_call(store, CK_STORE_STMT_OP, op, user_id, params_json, params_len, NULL, 0, cb, user);
}

ck_store_call_t *ck_store_op_bytes(ck_store_t *store, const char *op, const char *user_id, const char *params_json,
                                   size_t params_len, const void *data, size_t data_len, ck_store_cb cb, void *user)
{
    return start_call(store, CK_STORE_STMT_OP_BYTES, op, user_id, params_json, params_len, data, data_len, cb, user);
}

/* --- replies ----------------------------------------------------------------- */

void ck_store_reply_status(ck_store_reply_t *reply, int status)
{
    reply->ok = 0;
    reply->http_status = status;
    switch (status) {
    case 503:
        reply->code = "db_unavailable";
        reply->message = "the database is unavailable, try again later";
        break;
    case 413:
        reply->code = "too_large";
        reply->message = "the request is too large";
        break;
    default:
        reply->http_status = 500;
        reply->code = "internal";
        reply->message = "internal error";
    }
}

/* A statement failed: map its SQLSTATE, or log it and answer 500.  The
 * server going away under the statement (class 08 connection exception,
 * 57P01-57P05: shutdown, crash, starting up, idle timeouts) is the database
 * being unavailable: 503, which callers may retry. */
void ck_store_reply_sql_error(const ck_store_call_t *call, const PGresult *res, ck_store_reply_t *reply)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)) {
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "store: op %s interrupted", call->op);
        ck_store_log_pg(CK_LOG_WARN, prefix, PQresultErrorMessage(res));
        ck_store_reply_status(reply, 503);
        return;
    }
    for (size_t i = 0; state != NULL && primary != NULL && i < sizeof(error_map) / sizeof(error_map[0]); i++) {
        if (strcmp(state, error_map[i].sqlstate) == 0) {
            reply->ok = 0;
            reply->http_status = error_map[i].status;
            reply->code = error_map[i].code;
            reply->message = primary;
            return;
        }
    }
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "store: op %s failed", call->op);
    ck_store_log_pg(CK_LOG_ERROR, prefix, PQresultErrorMessage(res));
    ck_store_reply_status(reply, 500);
}

/* Fills reply->json from a JSON cell (op_text's text, op_bytes' jsonb);
 * *json_out receives the malloc'd compact copy (caller frees).  `binary`: the
 * cell has the jsonb binary format (version byte 1, then the text).  0 or -1
 * (logged). */
static int reply_json(const ck_store_call_t *call, int col, int binary, ck_store_reply_t *reply, char **json_out)
{
    const PGresult *res = call->res[0];
    const char *text = "null";
    size_t len = 4;
    if (!PQgetisnull(res, 0, col)) {
        text = PQgetvalue(res, 0, col);
        len = (size_t)PQgetlength(res, 0, col);
        if (binary) {
            if (len == 0 || text[0] != 1) {
                ck_error("store: op %s: unknown jsonb binary format", call->op);
                return -1;
            }
            text++;
            len--;
        }
    }
    char *json = malloc(len + 1);
    if (json == NULL)
        return -1;
    len = ck_store_json_compact(json, text, len);
    json[len] = 0;
    reply->ok = 1;
    reply->json = *json_out = json;
    reply->json_len = len;
    return 0;
}

/* A statement succeeded: one row of (text) or (jsonb, bytea). */
static int reply_from_rows(const ck_store_call_t *call, ck_store_reply_t *reply, char **json_out)
{
    const PGresult *res = call->res[0];
    int want_cols = call->stmts[0] == CK_STORE_STMT_OP ? 1 : 2;
    if (PQntuples(res) != 1 || PQnfields(res) != want_cols) {
        ck_error("store: op %s returned %d rows of %d columns", call->op, PQntuples(res), PQnfields(res));
        return -1;
    }
    if (reply_json(call, 0, call->stmts[0] == CK_STORE_STMT_OP_BYTES, reply, json_out) != 0)
        return -1;
    if (want_cols == 2 && !PQgetisnull(res, 0, 1)) {
        reply->bytes = PQgetvalue(res, 0, 1);
        reply->bytes_len = (size_t)PQgetlength(res, 0, 1);
    }
    return 0;
}

/* Runs the callback of a completed call; 1 instead when a read went round
 * again for a follow-up (the call is queued anew and must not be freed). */
static int deliver(ck_store_call_t *call)
{
    ck_store_reply_t reply = {0};
    char *json = NULL;
    const char *scope = ck_log_scope_enter(call->request_id);
    if (call->read != NULL && call->failed_status == 0) {
        if (ck_store_read_finish(call, &reply, &json) != 0) {
            ck_log_scope_leave(scope);
            return 1;
        }
    } else if (call->failed_status != 0) {
        ck_store_reply_status(&reply, call->failed_status);
    } else if (call->nres == 0) {
        ck_store_reply_status(&reply, 500);
    } else if (PQresultStatus(call->res[0]) == PGRES_TUPLES_OK) {
        if (reply_from_rows(call, &reply, &json) != 0)
            ck_store_reply_status(&reply, 500);
    } else {
        ck_store_reply_sql_error(call, call->res[0], &reply);
    }
    call->cb(&reply, call->user);
    free(json);
    ck_log_scope_leave(scope);
    return 0;
}

void ck_store_describe(const char *conninfo, char *out, size_t cap)
{
    const char *user = "", *host = "", *port = "", *dbname = "";
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL) {
        snprintf(out, cap, "(unparsable)");
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    snprintf(out, cap, "%s%s%s/%s%s%s%s", *host ? host : "localhost", *port ? ":" : "", port, dbname,
             *user ? " (user " : "", user, *user ? ")" : "");
    PQconninfoFree(opts);
}

void ck_store_log_pg(enum ck_log_level level, const char *prefix, const char *msg)
{
    char line[1024];
    size_t n = 0;
    for (; *msg != 0 && n + 1 < sizeof(line); msg++) {
        char c = *msg == '\n' || *msg == '\t' ? ' ' : *msg;
        if (c != ' ' || (n > 0 && line[n - 1] != ' '))
            line[n++] = c;
    }
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = 0;
    ck_log(level, "%s: %s", prefix, line);
}

/* --- completion queue -------------------------------------------------------- */

void ck_store_complete(ck_store_call_t *call)
{
    ck_store_t *store = call->store;
    call->next = NULL;
    if (store->done_tail != NULL)
        store->done_tail->next = call;
    else
        store->done_head = call;
    store->done_tail = call;
    if (!store->draining && !ck_timer_is_armed(store->drain_timer))
        ck_timer_arm(store->drain_timer, 0);
}

void ck_store_drain(ck_store_t *store)
{
    if (store->draining)
        return;
    store->draining = 1;
    while (store->done_head != NULL && !store->destroy_requested) {
        ck_store_call_t *call = store->done_head;
        store->done_head = call->next;
        if (store->done_head == NULL)
            store->done_tail = NULL;
        if (call->cb != NULL && deliver(call) != 0)
            continue;
        ck_store_call_free(call);
    }
    store->draining = 0;
    if (store->destroy_requested) {
        store_free(store);
        return;
    }
    ck_timer_cancel(store->drain_timer);
}

static void drain_on_timer(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_store_drain(user);
}
