/*
 * store_impl.h - the structures shared by store.c (public API, replies,
 * completion queue) and conn.c (one libpq connection's state machine and
 * pipeline I/O).  Internal to src/store; see DESIGN.md for the picture.
 */
#ifndef CK_STORE_STORE_IMPL_H
#define CK_STORE_STORE_IMPL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "base/log.h"
#include "store/resolve.h"
#include "store/store.h"

/* The prepared statements (conn.c holds their SQL):
 *   OP, OP_BYTES        the two dispatchers of sql/functions/dispatch.sql;
 *   the hot reads (read.c), plain SELECTs on the tables:
 *   USER                set_config('chatkit.user_id', user, true): the user
 *                       row-level security sees for the rest of the slot;
 *   ITEMS_*, THREADS_*  one keyset page, newest or oldest first, from the
 *                       start or after a cursor (one template, conn.c);
 *   THREAD              one thread row of the user;
 *   CHECK               does the thread / the cursor item exist for the user. */
enum ck_store_stmt {
    CK_STORE_STMT_OP,
    CK_STORE_STMT_OP_BYTES,
    CK_STORE_STMT_USER,
    CK_STORE_STMT_ITEMS_DESC,
    CK_STORE_STMT_ITEMS_DESC_AFTER,
    CK_STORE_STMT_ITEMS_ASC,
    CK_STORE_STMT_ITEMS_ASC_AFTER,
    CK_STORE_STMT_THREADS_DESC,
    CK_STORE_STMT_THREADS_DESC_AFTER,
    CK_STORE_STMT_THREADS_ASC,
    CK_STORE_STMT_THREADS_ASC_AFTER,
    CK_STORE_STMT_THREAD,
    CK_STORE_STMT_CHECK,
    CK_STORE_STMT_COUNT
};

/* The most statements one slot sends before its Sync. */
#define CK_STORE_MAX_STMTS 3

/* The parameters of a slot's statements: four values, each statement takes
 * the ones it needs (conn.c maps them).  Dispatcher calls: op, user, params
 * JSON, bytes.  Reads: user, thread id, limit, cursor.  Values are not kept
 * after the send. */
typedef struct ck_store_params {
    const char *values[4];
    int lengths[4];
    int formats[4];
} ck_store_params_t;

typedef struct ck_store_read ck_store_read_t;

/* A call, or an internal PREPARE or session set-up, occupying one
 * "statements + Sync" slot of a connection's pipeline.  Owned by the store
 * from creation to free: first in a connection's FIFO, then in the store's
 * completion queue (a read may go round again for a follow-up statement). */
struct ck_store_call {
    struct ck_store_call *next; /* FIFO link (connection queue or completion queue) */
    ck_store_t *store;
    int nstmts; /* statements in the slot */
    enum ck_store_stmt stmts[CK_STORE_MAX_STMTS];
    int is_internal; /* PREPARE or session set-up: never reaches a callback */
    ck_store_cb cb;  /* NULL once cancelled */
    void *user;
    PGresult *res[CK_STORE_MAX_STMTS]; /* the statements' results, in order, as they arrived */
    int nres;
    int failed_status;      /* 0, or the HTTP status of a failure without result (503, 413) */
    uint64_t wait_until;    /* waiting for a connection: give up then (loop ms) */
    uint64_t sent_at;       /* loop ms when the slot went out (pick_conn: is its connection moving?) */
    char *user_id, *params; /* waiting dispatcher call: owned copies of its arguments */
    size_t params_len;
    void *data; /* waiting: owned copy of the bytea, or NULL */
    size_t data_len;
    char request_id[132];  /* the log scope when the call started ("" = none): restored around its reply */
    ck_store_read_t *read; /* a hot read's state (read.c); NULL for dispatcher calls */
    char op[];             /* op name, for logs */
};

enum ck_store_conn_state {
    CK_STORE_CONN_DOWN,       /* no PGconn; the retry timer is armed */
    CK_STORE_CONN_CONNECTING, /* PQconnectPoll steps driven by the watch */
    CK_STORE_CONN_READY,      /* pipeline mode, accepting calls */
};

typedef struct ck_store_conn {
    ck_store_t *store;
    int index; /* for logs */
    enum ck_store_conn_state state;
    PGconn *pg;                        /* NULL when DOWN */
    ck_watch_t *watch;                 /* on PQsocket(pg); NULL when DOWN */
    ck_timer_t *retry;                 /* reconnect timer */
    ck_store_call_t *head, *tail;      /* slots sent, awaiting their Sync, oldest first */
    size_t queued;                     /* calls in the FIFO (the pick metric) */
    int prepared[CK_STORE_STMT_COUNT]; /* PREPARE sent on this connection */
    int session_set;                   /* the session set-up (conn.c) was sent */
    unsigned failures;                 /* consecutive failed connection attempts */
    char last_cause[160];              /* the failure last logged as a warning (logged again when it changes) */
} ck_store_conn_t;

struct ck_store {
    ck_loop_t *loop;
    char *conninfo;             /* owned copy; NULL = no database */
    ck_store_conninfo_t params; /* parsed conninfo when its host is a name to resolve (resolve.h) */
    int reconnect_ms;
    int wait_ms; /* < 0: calls never wait for a connection */
    int up;      /* counted in ck_store_stores_up() */
    int nconns;
    ck_store_conn_t *conns;
    ck_store_call_t *done_head, *done_tail; /* completed calls whose callbacks are due */
    ck_timer_t *drain_timer;                /* delivers completions queued outside an event handler */
    ck_store_call_t *wait_head, *wait_tail; /* calls waiting for a connection, oldest first */
    ck_timer_t *wait_timer;                 /* polls for readiness / expires waiting calls */
    int draining;                           /* inside ck_store_drain(): callbacks are running */
    int destroy_requested;                  /* ck_store_destroy() called from a callback */
};

/* conn.c */
/* Sets up `conn` (DOWN) and starts the first connection attempt.  Returns
 * -1 if the retry timer cannot be allocated. */
int ck_store_conn_init(ck_store_conn_t *conn, ck_store_t *store, int index);
/* Closes the connection and frees its slots without any callback. */
void ck_store_conn_close(ck_store_conn_t *conn);
/* Sends the statements of `call` on the READY `conn` (preparing them first if
 * this connection has not yet) followed by one Sync, and queues the call for
 * its results.  On a send failure the connection is failed, which completes
 * the call (and every other call on the connection) with 503.  A NULL value
 * is a SQL NULL. */
void ck_store_conn_send(ck_store_conn_t *conn, ck_store_call_t *call, const ck_store_params_t *params);

/* store.c */
/* Sends the read `call` (its slot set up by read.c) on a READY connection,
 * or keeps it waiting for one like any call, or completes it with 503. */
void ck_store_submit(ck_store_call_t *call);
/* A connection came up or went down: updates ck_store_stores_up() and sends
 * the calls waiting for a connection. */
void ck_store_conn_changed(ck_store_t *store);
/* Moves a finished call to the completion queue; its callback runs at the
 * next ck_store_drain() (at the end of the current event handler, or from a
 * 0 ms timer), never inside the function that completed it. */
void ck_store_complete(ck_store_call_t *call);
/* Runs the callbacks of the completion queue.  May free the store (when it
 * was destroyed from a callback), so callers must return right after it. */
void ck_store_drain(ck_store_t *store);
/* Frees a call and its results (no callback). */
void ck_store_call_free(ck_store_call_t *call);
/* Drops the results of a call (before it is sent again). */
void ck_store_call_clear(ck_store_call_t *call);

/* read.c */
/* 1 if `op` is a hot read answered by plain SELECTs (items.list,
 * threads.list, threads.get_by_id). */
int ck_store_is_read_op(const char *op);
/* Starts the hot read `op` on `call` (op name set, callback set): checks the
 * params like the SQL ops did and submits the first slot, or completes the
 * call with its 400 error.  -1 if out of memory (the call was not queued). */
int ck_store_read_start(ck_store_call_t *call, const char *user_id, const char *params, size_t params_len);
/* Sends the read's current slot on `conn` (ck_store_submit). */
void ck_store_read_send(ck_store_conn_t *conn, ck_store_call_t *call);
/* The read's slot completed (results in call->res): either fills `reply`
 * (*json_out: malloc'd JSON the reply points to, caller frees) and returns 0,
 * or sends a follow-up slot and returns 1 (the call is queued again, no
 * callback yet). */
int ck_store_read_finish(ck_store_call_t *call, ck_store_reply_t *reply, char **json_out);
void ck_store_read_free(ck_store_read_t *read);
/* Fills `reply` for a failed statement (SQLSTATE map, else logged 500). */
void ck_store_reply_sql_error(const ck_store_call_t *call, const PGresult *res, ck_store_reply_t *reply);
/* Fills `reply` with a failure of HTTP status 503, 413 or else 500. */
void ck_store_reply_status(ck_store_reply_t *reply, int status);
/* Logs "<prefix>: <msg>" on one line: libpq's multi-line messages (error,
 * detail, context) are joined with spaces, the trailing newline dropped. */
void ck_store_log_pg(enum ck_log_level level, const char *prefix, const char *msg);

#endif
