/*
 * store_call.h - one store op on behalf of one HTTP request.
 *
 * Ties the op's life to the request's: if the client goes away first (h2o
 * frees the request), the call is cancelled and its reply dropped.  With no
 * custom callback the reply is the answer: the op's JSON passed through as
 * 200 application/json, or {"error":{...}} with the store's HTTP status.
 */
#ifndef CK_HTTP_STORE_CALL_H
#define CK_HTTP_STORE_CALL_H

#include <stddef.h>

#include <h2o.h>

#include "http/server.h"
#include "store/store.h"

/* Called with the reply while `req` is still alive; must answer `req`. */
typedef void (*ck_http_store_done_fn)(h2o_req_t *req, const ck_store_reply_t *reply, void *arg);

typedef struct ck_http_store_args {
    const char *op;
    const char *user_id;
    const char *params; /* JSON object text */
    size_t params_len;
    const void *data; /* bytes for ck_store_op_bytes, or NULL */
    size_t data_len;
    int with_bytes; /* 1: use ck_store_op_bytes() */
} ck_http_store_args_t;

/* Runs the op for `req` on `worker`'s store; `done` (may be NULL for the
 * pass-through answer) gets the reply.  `user_id` and `params` are copied
 * into the request's pool; `data` must stay valid for the request's life
 * (the request body does).  Answers 503 db_unavailable at once when the
 * worker has no ready store.  Returns 0 (h2o "answered"). */
int ck_http_store_call(h2o_req_t *req, ck_http_worker_t *worker, const ck_http_store_args_t *args,
                       ck_http_store_done_fn done, void *arg);

/* The pass-through answer for `reply` (200 JSON or the error). */
void ck_http_send_store_reply(h2o_req_t *req, const ck_store_reply_t *reply);

/* 1 when `worker` has a store.  Whether it is connected is not checked
 * here: a call made while its connections are being (re)established waits
 * for one (up to 2 s, see ck_store_config_t.wait_ms), then fails with 503. */
int ck_http_store_available(const ck_http_worker_t *worker);

/* 1 when every worker of the process can serve: the schema is migrated and
 * each worker's store has a connection up (GET /readyz). */
int ck_http_all_workers_ready(const ck_http_worker_t *worker);

/* Answers 503 {"error":{"code":"db_unavailable",...}} with Retry-After. */
int ck_http_send_db_unavailable(h2o_req_t *req, const ck_http_worker_t *worker);

#endif
