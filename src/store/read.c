/*
 * read.c - the hot reads (items.list, threads.list, threads.get_by_id) as
 * prepared plain SELECTs, with the page envelope built here.
 *
 * A read is one pipeline slot, one round trip, no plpgsql:
 *   items.list         USER + ITEMS_<order>[_AFTER]   (limit + 1 rows of stored wire text)
 *   threads.list       USER + THREADS_<order>[_AFTER] (limit + 1 thread rows)
 *   threads.get_by_id  USER + THREAD + ITEMS_ASC      (the row and its first 21 items)
 * USER sets chatkit.user_id for the slot's transaction, so row-level security
 * filters the SELECTs like the dispatchers' statements (conn.c's session
 * set-up makes the connection chatkit_owner in owner-role mode).  Only an
 * empty page needs a second slot (USER + CHECK) to tell "no items" from
 * "no such thread" (404) or "no such cursor" (400).
 *
 * Parameters are checked as the SQL ops checked them (the helpers of
 * sql/functions/common.sql): same defaults, limits, messages and statuses;
 * tests/unit/test_store.c holds every answer to the SQL oracle of these reads
 * (tests/sql/reads_ref.sql) on a real database.  The JSON shapes are src/store/page.h's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "store/page.h"
#include "store/store_impl.h"

#define ITEMS_DEFAULT_LIMIT 20
#define LIST_MAX_LIMIT 100
#define THREAD_ITEMS 20 /* items embedded by threads.get_by_id */

enum read_kind { READ_ITEMS, READ_THREADS, READ_THREAD };
enum read_phase { PHASE_PAGE, PHASE_CHECK, PHASE_REJECTED };

struct ck_store_read {
    enum read_kind kind;
    enum read_phase phase;
    int limit; /* page size */
    int asc;
    char limit_text[16]; /* limit + 1, the LIMIT parameter */
    char *user;
    char *thread;        /* items.list, threads.get_by_id */
    char *after;         /* the cursor, or NULL */
    const char *v1, *v3; /* the current slot's values 1 and 3 (thread or cursor ids) */
    int status;          /* PHASE_REJECTED: the reply's status and message */
    char message[600];
};

int ck_store_is_read_op(const char *op)
{
    return strcmp(op, "items.list") == 0 || strcmp(op, "threads.list") == 0 || strcmp(op, "threads.get_by_id") == 0;
}

void ck_store_read_free(ck_store_read_t *read)
{
    if (read == NULL)
        return;
    free(read->user);
    free(read->thread);
    free(read->after);
    free(read);
}

/* Records a 400 with `message` (printf-like); returns -1. */
static int reject(ck_store_read_t *r, int status, const char *fmt, const char *arg)
{
    r->phase = PHASE_REJECTED;
    r->status = status;
    snprintf(r->message, sizeof r->message, fmt, arg);
    return -1;
}

/* chatkit.param_text: a non-empty string. */
static int param_text(ck_store_read_t *r, json_t *p, const char *key, char **out)
{
    json_t *v = json_object_get(p, key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return reject(r, 400, "parameter %s must be a non-empty string", key);
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : reject(r, 500, "%s", "out of memory");
}

/* chatkit.param_opt_text: absent or null = NULL, a string, else 400. */
static int param_opt_text(ck_store_read_t *r, json_t *p, const char *key, char **out)
{
    json_t *v = json_object_get(p, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return reject(r, 400, "parameter %s must be a string", key);
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : reject(r, 500, "%s", "out of memory");
}

/* chatkit.param_limit: a number >= 1, capped at `max` and rounded half away
 * from zero (numeric -> int), else the default. */
static int param_limit(json_t *p, int dflt, int max)
{
    json_t *v = json_object_get(p, "limit");
    if (!json_is_number(v) || json_number_value(v) < 1)
        return dflt;
    double n = json_number_value(v);
    return n >= max ? max : (int)(n + 0.5);
}

/* The checks of chatkit.check_call and of the op's parameters, in the SQL
 * order; 0, or -1 with the rejection recorded in `r`. */
static int parse_params(ck_store_read_t *r, const char *user_id, const char *params, size_t len)
{
    if (user_id == NULL || user_id[0] == 0)
        return reject(r, 400, "%s", "missing user");
    r->user = strdup(user_id);
    if (r->user == NULL)
        return reject(r, 500, "%s", "out of memory");
    json_t *p = json_loadb(params != NULL ? params : "", len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    if (p == NULL) /* the dispatcher's ::jsonb cast failed the same way: not one of the mapped SQLSTATEs */
        return reject(r, 500, "%s", "internal error");
    int rc = 0;
    if (!json_is_object(p)) {
        rc = reject(r, 400, "%s", "params must be an object");
    } else if (r->kind != READ_THREADS && param_text(r, p, "thread_id", &r->thread) != 0) {
        rc = -1;
    } else if (r->kind != READ_THREAD) {
        r->limit = param_limit(p, ITEMS_DEFAULT_LIMIT, LIST_MAX_LIMIT);
        json_t *order = json_object_get(p, "order");
        r->asc = json_is_string(order) && strcmp(json_string_value(order), "asc") == 0;
        rc = param_opt_text(r, p, "after", &r->after);
    } else {
        r->limit = THREAD_ITEMS;
        r->asc = 1;
    }
    json_decref(p);
    snprintf(r->limit_text, sizeof r->limit_text, "%d", r->limit + 1);
    return rc;
}

/* Submits the slot USER + `s1` [+ `s2`] with the values user, v1, limit, v3. */
static void send_slot(ck_store_call_t *call, enum ck_store_stmt s1, int s2, const char *v1, const char *v3)
{
    ck_store_read_t *r = call->read;
    ck_store_call_clear(call);
    call->nstmts = s2 >= 0 ? 3 : 2;
    call->stmts[0] = CK_STORE_STMT_USER;
    call->stmts[1] = s1;
    if (s2 >= 0)
        call->stmts[2] = (enum ck_store_stmt)s2;
    r->v1 = v1;
    r->v3 = v3;
    ck_store_submit(call);
}

void ck_store_read_send(ck_store_conn_t *conn, ck_store_call_t *call)
{
    ck_store_read_t *r = call->read;
    ck_store_params_t p = {{r->user, r->v1, r->limit_text, r->v3}, {0, 0, 0, 0}, {0, 0, 0, 0}};
    ck_store_conn_send(conn, call, &p);
}

/* The page statement of an items.list / threads.list read. */
static enum ck_store_stmt page_stmt(const ck_store_read_t *r)
{
    int k = (r->asc ? 2 : 0) + (r->after != NULL ? 1 : 0);
    return (enum ck_store_stmt)((r->kind == READ_THREADS ? CK_STORE_STMT_THREADS_DESC : CK_STORE_STMT_ITEMS_DESC) + k);
}

int ck_store_read_start(ck_store_call_t *call, const char *user_id, const char *params, size_t params_len)
{
    ck_store_read_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    call->read = r;
    r->kind = strcmp(call->op, "items.list") == 0     ? READ_ITEMS
              : strcmp(call->op, "threads.list") == 0 ? READ_THREADS
                                                      : READ_THREAD;
    if (parse_params(r, user_id, params, params_len) != 0) {
        ck_store_complete(call); /* read_finish answers the rejection */
        return 0;
    }
    if (r->kind == READ_THREAD)
        send_slot(call, CK_STORE_STMT_THREAD, CK_STORE_STMT_ITEMS_ASC, r->thread, NULL);
    else
        send_slot(call, page_stmt(r), -1, r->thread, r->after);
    return 0;
}

/* The first failed result of the slot, or NULL when all succeeded. */
static const PGresult *first_error(const ck_store_call_t *call)
{
    for (int i = 0; i < call->nres; i++) {
        ExecStatusType st = PQresultStatus(call->res[i]);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_PIPELINE_ABORTED)
            return call->res[i];
    }
    return NULL;
}

/* One cell of a binary-format result (p NULL: SQL NULL). */
static ck_store_cell_t cell(const PGresult *res, int row, int col)
{
    ck_store_cell_t c = {NULL, 0};
    if (!PQgetisnull(res, row, col)) {
        c.p = PQgetvalue(res, row, col);
        c.len = (size_t)PQgetlength(res, row, col);
    }
    return c;
}

/* The page of items in `res` (wire, id per row). */
static void add_items_page(ck_strbuf_t *b, const PGresult *res, int limit)
{
    int n = PQntuples(res);
    int shown = n < limit ? n : limit;
    ck_store_page_open(b);
    for (int i = 0; i < shown; i++) {
        ck_store_cell_t wire = cell(res, i, 0);
        ck_store_page_add_json(b, i, wire.p, wire.len);
    }
    ck_store_cell_t last = n > limit ? cell(res, limit - 1, 1) : (ck_store_cell_t){NULL, 0};
    ck_store_page_close(b, n > limit, last.p, last.len);
}

/* One thread row of THREAD_COLUMNS (conn.c) as a wire Thread. */
static int add_thread(ck_strbuf_t *b, const PGresult *res, int row, const char *items, size_t items_len)
{
    ck_store_thread_cols_t t = {cell(res, row, 0), cell(res, row, 1), cell(res, row, 2),
                                cell(res, row, 3), cell(res, row, 4), cell(res, row, 5)};
    return ck_store_thread_json(b, &t, items, items_len);
}

/* Records "thread <id> not found" (404); returns 0. */
static int not_found(ck_store_read_t *r)
{
    ck_store_page_not_found(r->message, sizeof r->message, "thread", r->thread);
    r->phase = PHASE_REJECTED;
    r->status = 404;
    return 0;
}

/* The answer to a slot whose results are all there and successful; 1 when a
 * follow-up was sent instead. */
static int build(ck_store_call_t *call, ck_strbuf_t *b)
{
    ck_store_read_t *r = call->read;
    const PGresult *res = call->res[1];
    if (r->phase == PHASE_CHECK) {
        /* CHECK: (thread exists, cursor item exists); for threads.list the
         * "thread" is the cursor. */
        int thread = cell(res, 0, 0).len == 1 && cell(res, 0, 0).p[0] != 0;
        int item = cell(res, 0, 1).len == 1 && cell(res, 0, 1).p[0] != 0;
        if (r->kind == READ_THREADS && !thread) {
            reject(r, 400, "%s", "cursor is not one of your threads");
            return 0;
        }
        if (r->kind == READ_ITEMS && !thread)
            return not_found(r);
        if (r->kind == READ_ITEMS && r->after != NULL && !item) {
            reject(r, 400, "%s", "cursor is not an item of this thread");
            return 0;
        }
        ck_store_page_open(b);
        ck_store_page_close(b, 0, NULL, 0);
        return 0;
    }
    if (r->kind == READ_THREAD) {
        if (PQntuples(res) != 1)
            return not_found(r);
        ck_strbuf_t items = {0};
        add_items_page(&items, call->res[2], r->limit);
        int rc = items.failed ? -1 : add_thread(b, res, 0, items.p, items.len);
        free(items.p);
        if (rc != 0)
            b->failed = 1;
        return 0;
    }
    if (PQntuples(res) == 0 && (r->kind == READ_ITEMS || r->after != NULL)) {
        r->phase = PHASE_CHECK;
        send_slot(call, CK_STORE_STMT_CHECK, -1, r->kind == READ_ITEMS ? r->thread : r->after,
                  r->kind == READ_ITEMS ? r->after : NULL);
        return 1;
    }
    if (r->kind == READ_ITEMS) {
        add_items_page(b, res, r->limit);
        return 0;
    }
    int n = PQntuples(res);
    int shown = n < r->limit ? n : r->limit;
    static const char empty[] = "{\"data\":[],\"has_more\":false}";
    ck_store_page_open(b);
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            ck_strbuf_addc(b, ',');
        if (add_thread(b, res, i, empty, sizeof empty - 1) != 0)
            b->failed = 1;
    }
    ck_store_cell_t last = n > r->limit ? cell(res, r->limit - 1, 0) : (ck_store_cell_t){NULL, 0};
    ck_store_page_close(b, n > r->limit, last.p, last.len);
    return 0;
}

int ck_store_read_finish(ck_store_call_t *call, ck_store_reply_t *reply, char **json_out)
{
    ck_store_read_t *r = call->read;
    ck_strbuf_t b = {0};
    if (r->phase != PHASE_REJECTED) {
        const PGresult *err = first_error(call);
        if (err != NULL) {
            ck_store_reply_sql_error(call, err, reply);
            return 0;
        }
        if (call->nres != call->nstmts) {
            ck_error("store: op %s: %d results for %d statements", call->op, call->nres, call->nstmts);
            ck_store_reply_status(reply, 500);
            return 0;
        }
        if (build(call, &b) != 0)
            return 1;
    }
    if (r->phase == PHASE_REJECTED) {
        free(b.p);
        reply->ok = 0;
        reply->http_status = r->status;
        reply->code = r->status == 404 ? "not_found" : r->status == 400 ? "invalid_params" : "internal";
        reply->message = r->status == 500 ? "internal error" : r->message;
        return 0;
    }
    size_t len = b.len;
    char *json = ck_strbuf_take(&b);
    if (json == NULL) {
        ck_store_reply_status(reply, 500);
        return 0;
    }
    reply->ok = 1;
    reply->json = *json_out = json;
    reply->json_len = len;
    return 0;
}
