/*
 * memory_routes.c - user memory over HTTP (docs/context.md, "User memory"),
 * with the same authentication, rate limits and JSON errors as /chatkit:
 *
 *   GET    /memory        200 {"data":[{"id","fact","created_at","thread_id"}...]}, oldest first
 *   DELETE /memory        204: every fact of the caller
 *   DELETE /memory/<id>   204; 404 when the caller has no such fact (another user's id included)
 *   OPTIONS on both       the CORS preflight / Allow
 * Each is one store op (memory.list / memory.clear / memory.forget).
 */
#include <stdio.h>
#include <string.h>

#include "http/handlers.h"
#include "http/respond.h"
#include "http/store_call.h"

#define MEMORY_ID_MAX 128

/* 204 on success, the store's JSON error otherwise. */
static void answer_no_content(h2o_req_t *req, const ck_store_reply_t *reply, void *arg)
{
    (void)arg;
    if (reply->ok)
        ck_http_send_no_content(req);
    else
        ck_http_send_store_reply(req, reply);
}

static int run_op(h2o_req_t *req, ck_http_worker_t *w, const char *op, const char *user_id, const char *params,
                  ck_http_store_done_fn done)
{
    if (!ck_http_store_available(w))
        return ck_http_send_db_unavailable(req, w);
    ck_http_store_args_t args = {op, user_id, params, strlen(params), NULL, 0, 0};
    return ck_http_store_call(req, w, &args, done, NULL);
}

/* 1 when `id` (len bytes) is a plausible fact id: 1..MEMORY_ID_MAX bytes of [A-Za-z0-9_-]. */
static int valid_id(const char *id, size_t len)
{
    if (len == 0 || len > MEMORY_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int ck_http_handle_memory(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t rest)
{
    char user_id[CK_USER_ID_MAX];
    int one = rest.len > 0;
    const char *allow = one ? "DELETE, OPTIONS" : "GET, DELETE, OPTIONS";
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, CK_GATE_API, allow);
    if (!ck_http_gate(req, CK_GATE_API, user_id))
        return 0;
    if (one && !valid_id(rest.base, rest.len))
        return ck_http_send_error(req, 404, "not_found", "no such fact");
    if (!one && ck_http_method_is(req, "GET"))
        return run_op(req, w, "memory.list", user_id, "{}", NULL);
    if (!ck_http_method_is(req, "DELETE"))
        return ck_http_answer_405(req, allow);
    if (!one)
        return run_op(req, w, "memory.clear", user_id, "{}", answer_no_content);
    char params[MEMORY_ID_MAX + 16];
    snprintf(params, sizeof params, "{\"id\":\"%.*s\"}", (int)rest.len, rest.base);
    return run_op(req, w, "memory.forget", user_id, params, answer_no_content);
}
