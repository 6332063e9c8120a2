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

/* The two prepared statements (one per dispatcher of sql/). */
enum ck_store_stmt { CK_STORE_STMT_OP, CK_STORE_STMT_OP_BYTES, CK_STORE_STMT_COUNT };

/* A call, or an internal PREPARE, occupying one "command + Sync" slot of a
 * connection's pipeline.  Owned by the store from creation to free: first in
 * a connection's FIFO, then in the store's completion queue. */
struct ck_store_call {
    struct ck_store_call *next; /* FIFO link (connection queue or completion queue) */
    ck_store_t *store;
    enum ck_store_stmt stmt;
    int is_prepare;             /* internal PREPARE slot: never reaches a callback */
    ck_store_cb cb;             /* NULL once cancelled */
    void *user;
    PGresult *res;              /* the command's result, once it arrived */
    int failed_status;          /* 0, or the HTTP status of a failure without result (503, 413) */
    uint64_t wait_until;        /* waiting for a connection: give up then (loop ms) */
    char *user_id, *params;     /* waiting: owned copies of the call's arguments */
    size_t params_len;
    void *data;                 /* waiting: owned copy of the bytea, or NULL */
    size_t data_len;
    char request_id[132];       /* the log scope when the call started ("" = none): restored around its reply */
    char op[];                  /* op name, for logs */
};

enum ck_store_conn_state {
    CK_STORE_CONN_DOWN,       /* no PGconn; the retry timer is armed */
    CK_STORE_CONN_CONNECTING, /* PQconnectPoll steps driven by the watch */
    CK_STORE_CONN_READY,      /* pipeline mode, accepting calls */
};

typedef struct ck_store_conn {
    ck_store_t *store;
    int index;                    /* for logs */
    enum ck_store_conn_state state;
    PGconn *pg;                   /* NULL when DOWN */
    ck_watch_t *watch;            /* on PQsocket(pg); NULL when DOWN */
    ck_timer_t *retry;            /* reconnect timer */
    ck_store_call_t *head, *tail; /* slots sent, awaiting their Sync, oldest first */
    size_t queued;                /* calls in the FIFO (the pick metric) */
    int prepared[CK_STORE_STMT_COUNT]; /* PREPARE sent on this connection */
    unsigned failures;            /* consecutive failed connection attempts */
    char last_cause[160];         /* the failure last logged as a warning (logged again when it changes) */
} ck_store_conn_t;

struct ck_store {
    ck_loop_t *loop;
    char *conninfo;               /* owned copy; NULL = no database */
    ck_store_conninfo_t params;   /* parsed conninfo when its host is a name to resolve (resolve.h) */
    int reconnect_ms;
    int wait_ms;                  /* < 0: calls never wait for a connection */
    int up;                       /* counted in ck_store_stores_up() */
    int nconns;
    ck_store_conn_t *conns;
    ck_store_call_t *done_head, *done_tail; /* completed calls whose callbacks are due */
    ck_timer_t *drain_timer;      /* delivers completions queued outside an event handler */
    ck_store_call_t *wait_head, *wait_tail; /* calls waiting for a connection, oldest first */
    ck_timer_t *wait_timer;       /* polls for readiness / expires waiting calls */
    int draining;                 /* inside ck_store_drain(): callbacks are running */
    int destroy_requested;        /* ck_store_destroy() called from a callback */
};

/* conn.c */
/* Sets up `conn` (DOWN) and starts the first connection attempt.  Returns
 * -1 if the retry timer cannot be allocated. */
int ck_store_conn_init(ck_store_conn_t *conn, ck_store_t *store, int index);
/* Closes the connection and frees its slots without any callback. */
void ck_store_conn_close(ck_store_conn_t *conn);
/* Sends `call` on the READY `conn` (preparing its statement first if this
 * connection has not yet) and queues it for its result.  On a send failure the
 * connection is failed, which completes the call (and every other call on the
 * connection) with 503.  `data` NULL is a SQL NULL bytea. */
void ck_store_conn_send(ck_store_conn_t *conn, ck_store_call_t *call, const char *user_id, const char *params,
                        size_t params_len, const void *data, size_t data_len);

/* store.c */
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
/* Frees a call and its result (no callback). */
void ck_store_call_free(ck_store_call_t *call);
/* Logs "<prefix>: <msg>" on one line: libpq's multi-line messages (error,
 * detail, context) are joined with spaces, the trailing newline dropped. */
void ck_store_log_pg(enum ck_log_level level, const char *prefix, const char *msg);

#endif
