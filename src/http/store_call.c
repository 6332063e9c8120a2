/*
 * store_call.c - a store op tied to an HTTP request (see store_call.h).
 *
 * The link object lives in the request's pool with a dispose hook: when h2o
 * frees the request before the reply came, the hook cancels the call.  The
 * store never calls back from inside ck_store_op*() (src/base/loop.h), so
 * the handle is recorded before any reply can arrive.
 *
 * Audit: a successful reply of a state-changing op (AUDITED below) also
 * queues its audit row (fire-and-forget, src/store/ops_record.h) before the
 * answer is sent.
 */
#include "http/store_call.h"

#include <string.h>

#include "http/request_ctx.h"
#include "http/respond.h"
#include "store/ops_record.h"

typedef struct store_link {
    h2o_req_t *req;
    ck_store_call_t *call; /* pending call, NULL once answered */
    ck_http_store_done_fn done;
    void *arg;
    ck_http_worker_t *worker;
    const char *action; /* audit action of a successful reply, or NULL */
    h2o_iovec_t user;   /* in the request's pool */
    h2o_iovec_t params; /* in the request's pool */
} store_link_t;

/* The state-changing ops recorded in the audit log (src/store/ops_record.h)
 * when they succeed. */
static const struct {
    const char *op, *action;
} AUDITED[] = {
    {"threads.update", CK_AUDIT_THREAD_RENAMED},
    {"threads.delete", CK_AUDIT_THREAD_DELETED},
    {"items.feedback", CK_AUDIT_FEEDBACK},
    {"attachments.delete", CK_AUDIT_ATTACHMENT_DELETED},
    {"attachments.upload", CK_AUDIT_ATTACHMENT_UPLOADED},
    {"attachments.create_direct", CK_AUDIT_ATTACHMENT_UPLOADED},
    {"memory.forget", CK_AUDIT_MEMORY_REMOVED},
    {"memory.clear", CK_AUDIT_MEMORY_REMOVED},
};

static const char *audit_action(const char *op)
{
    for (size_t i = 0; i < sizeof AUDITED / sizeof AUDITED[0]; i++)
        if (strcmp(op, AUDITED[i].op) == 0)
            return AUDITED[i].action;
    return NULL;
}

/* Most object ids one audit row names (DELETE /memory may remove more facts:
 * the detail gives their number). */
#define CK_AUDIT_IDS_MAX 100

/* Appends the strings of the JSON array `list` to `ids` (capacity `cap`,
 * one slot kept for the NULL terminator). */
static void add_ids(const char **ids, size_t *n, size_t cap, const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list) && *n < cap - 1; i++)
        if (json_is_string(json_array_get(list, i)))
            ids[(*n)++] = json_string_value(json_array_get(list, i));
}

/* Records the audit row of a successful audited op: the object ids from its
 * params (thread_id, item_ids, attachment_id, a fact's id) or its answer (an
 * uploaded attachment's id, the facts DELETE /memory removed); as detail the
 * feedback kind, an upload's MIME type, or the route that removed facts
 * (never a fact's text). */
static void audit(const store_link_t *link, const ck_store_reply_t *reply)
{
    json_t *params = json_loadb(link->params.base, link->params.len, 0, NULL);
    json_t *answer = reply->json != NULL ? json_loadb(reply->json, reply->json_len, 0, NULL) : NULL;
    const char *ids[CK_AUDIT_IDS_MAX + 1];
    size_t n = 0;
    char detail_buf[64];
    const char *thread = json_string_value(json_object_get(params, "thread_id"));
    const char *attachment = json_string_value(json_object_get(params, "attachment_id"));
    if (attachment == NULL && strcmp(link->action, CK_AUDIT_ATTACHMENT_UPLOADED) == 0)
        attachment = json_string_value(json_object_get(answer, "id"));
    if (thread != NULL)
        ids[n++] = thread;
    if (attachment != NULL)
        ids[n++] = attachment;
    add_ids(ids, &n, sizeof ids / sizeof ids[0], json_object_get(params, "item_ids"));
    const char *detail = json_string_value(json_object_get(params, "kind"));
    if (detail == NULL)
        detail = json_string_value(json_object_get(answer, "mime_type"));
    if (strcmp(link->action, CK_AUDIT_MEMORY_REMOVED) == 0) {
        const char *fact = json_string_value(json_object_get(params, "id"));
        if (fact != NULL) {
            if (n < CK_AUDIT_IDS_MAX)
                ids[n++] = fact;
            detail = "DELETE /memory/<id>";
        } else {
            add_ids(ids, &n, sizeof ids / sizeof ids[0], json_object_get(answer, "ids"));
            long long deleted = (long long)json_integer_value(json_object_get(answer, "deleted"));
            snprintf(detail_buf, sizeof detail_buf, "DELETE /memory (%lld fact%s)", deleted, deleted == 1 ? "" : "s");
            detail = detail_buf;
        }
    }
    ids[n] = NULL;
    ck_store_audit(link->worker->store, link->user.base, ck_http_request_id(link->req), link->action, ids, detail);
    json_decref(params);
    json_decref(answer);
}

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
    if (reply->ok && link->action != NULL)
        audit(link, reply);
    if (link->done != NULL)
        link->done(link->req, reply, link->arg);
    else
        ck_http_send_store_reply(link->req, reply);
}

int ck_http_store_available(const ck_http_worker_t *worker) { return worker->store != NULL; }

int ck_http_all_workers_ready(const ck_http_worker_t *worker)
{
    return worker->store != NULL && ck_store_schema_ready() && ck_store_stores_up() >= worker->config->workers;
}

int ck_http_send_db_unavailable(h2o_req_t *req, const ck_http_worker_t *worker)
{
    return ck_http_send_error(req, 503, "db_unavailable",
                              worker->store == NULL
                                  ? "no database is configured (set DATABASE_URL)"
                                  : "the database is not reachable or not migrated yet; retry shortly");
}

void ck_http_send_store_reply(h2o_req_t *req, const ck_store_reply_t *reply)
{
    if (reply->ok)
        ck_http_send_json(req, 200, reply->json != NULL ? reply->json : "{}",
                          reply->json != NULL ? reply->json_len : 2);
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
    h2o_iovec_t user = h2o_strdup(&req->pool, args->user_id, strlen(args->user_id));
    h2o_iovec_t params = h2o_strdup(&req->pool, args->params, args->params_len);
    *link = (store_link_t){req, NULL, done, arg, worker, audit_action(args->op), user, params};
    ck_store_call_t *call =
        args->with_bytes
            ? ck_store_op_bytes(worker->store, args->op, user.base, params.base, params.len, args->data, args->data_len,
                                on_store_reply, link)
            : ck_store_op(worker->store, args->op, user.base, params.base, params.len, on_store_reply, link);
    if (call == NULL)
        return ck_http_send_error(req, 500, "internal", "the store could not start the operation");
    link->call = call;
    return 0;
}
