/*
 * store_call.c - a store op tied to an HTTP request (see store_call.h).
 *
 * The link object lives in the request's pool with a dispose hook: when h2o
 * frees the request before the reply came, the hook cancels the call.  The
 * store may call back synchronously (e.g. when it is not connected), so the
 * handle is recorded only if the callback has not run yet.
 */
#include "http/store_call.h"

#include <string.h>

#include "http/respond.h"

typedef struct store_link {
    h2o_req_t *req;
    ck_store_call_t *call; /* pending call, NULL once answered */
    int answered;
    ck_http_store_done_fn done;
    void *arg;
} store_link_t;

static void on_link_dispose(void *p)
{
    store_link_t *link = p;
    if (link->call != NULL)
        ck_store_cancel(link->call);
    link->call = NULL;
}

static void on_store_reply(const ck_store_reply_t *reply, void *user)
{
    store_link_t *link = user;
    link->call = NULL;
    link->answered = 1;
    if (link->done != NULL)
        link->done(link->req, reply, link->arg);
    else
        ck_http_send_store_reply(link->req, reply);
}

int ck_http_store_available(const ck_http_worker_t *worker)
{
    return worker->store != NULL;
}

int ck_http_all_workers_ready(const ck_http_worker_t *worker)
{
    return worker->store != NULL && ck_store_schema_ready() && ck_store_stores_up() >= worker->config->workers;
}

int ck_http_send_db_unavailable(h2o_req_t *req, const ck_http_worker_t *worker)
{
    return ck_http_send_error(req, 503, "db_unavailable",
                              worker->store == NULL ? "no database is configured (set DATABASE_URL)"
                                                    : "the database is not reachable or not migrated yet; retry shortly");
}

void ck_http_send_store_reply(h2o_req_t *req, const ck_store_reply_t *reply)
{
    if (reply->ok)
        ck_http_send_json(req, 200, reply->json != NULL ? reply->json : "{}", reply->json != NULL ? reply->json_len : 2);
    else
        ck_http_send_error(req, reply->http_status >= 400 ? reply->http_status : 500,
                           reply->code != NULL ? reply->code : "internal",
                           reply->message != NULL ? reply->message : "the store failed");
}

int ck_http_store_call(h2o_req_t *req, ck_http_worker_t *worker, const ck_http_store_args_t *args,
                       ck_http_store_done_fn done, void *arg)
{
    if (!ck_http_store_available(worker))
        return ck_http_send_db_unavailable(req, worker);
    store_link_t *link = h2o_mem_alloc_shared(&req->pool, sizeof *link, on_link_dispose);
    *link = (store_link_t){req, NULL, 0, done, arg};
    h2o_iovec_t user = h2o_strdup(&req->pool, args->user_id, strlen(args->user_id));
    h2o_iovec_t params = h2o_strdup(&req->pool, args->params, args->params_len);
    ck_store_call_t *call =
        args->with_bytes
            ? ck_store_op_bytes(worker->store, args->op, user.base, params.base, params.len, args->data,
                                args->data_len, on_store_reply, link)
            : ck_store_op(worker->store, args->op, user.base, params.base, params.len, on_store_reply, link);
    if (!link->answered && call == NULL)
        return ck_http_send_error(req, 500, "internal", "the store could not start the operation");
    if (!link->answered)
        link->call = call;
    return 0;
}
