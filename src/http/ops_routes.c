/*
 * ops_routes.c - the operator's routes: GET /metrics, the Prometheus text
 * exposition (format 0.0.4) of src/base/metrics, and GET /admin/stats, the
 * usage summary of `chatkitd stats` as JSON.
 *
 * /admin/ routes exist only with CHATKITD_ADMIN_TOKEN set (404 otherwise)
 * and require "Authorization: Bearer <that token>" (401).
 * With CHATKITD_METRICS_TOKEN set, /metrics requires
 * "Authorization: Bearer <token>" (compared in constant time) and answers
 * 401 otherwise; unset, it is open (bind the server to a private address or
 * put it behind a proxy that hides /metrics).  The gauges that describe the
 * present (chatkitd_db_up) are refreshed at each scrape.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/duration.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "http/handlers.h"
#include "http/respond.h"
#include "http/store_call.h"

/* 1 when the request carries "Authorization: Bearer <token>". */
int ck_http_bearer_matches(h2o_req_t *req, const char *token)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = strlen(token);
    if (v.len != 7 + n || strncasecmp(v.base, "bearer ", 7) != 0)
        return 0;
    return CRYPTO_memcmp(v.base + 7, token, n) == 0;
}

int ck_http_handle_metrics(h2o_req_t *req, ck_http_worker_t *w)
{
    char user_id[CK_USER_ID_MAX];
    if (!ck_http_gate(req, CK_GATE_PUBLIC, user_id))
        return 0;
    if (!ck_http_method_is(req, "GET") && !ck_http_method_is(req, "HEAD"))
        return ck_http_answer_405(req, "GET, HEAD");
    if (w->config->metrics_token != NULL && !ck_http_bearer_matches(req, w->config->metrics_token)) {
        ck_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, H2O_STRLIT("Bearer realm=\"metrics\""));
        return ck_http_send_error(req, 401, "unauthorized", "GET /metrics requires the metrics bearer token");
    }
    ck_metrics_gauge_set(CK_M_DB_UP, NULL, ck_http_store_available(w));
    ck_strbuf_t out = {0};
    ck_strbuf_reserve(&out, 16384);
    if (ck_metrics_render(&out) != 0) {
        free(out.p);
        return ck_http_send_error(req, 500, "internal", "out of memory");
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    ck_http_send_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
    free(out.p);
    return 0;
}

#define STATS_MAX_SECONDS (366L * 86400)

/* Copies the value of query parameter `name` of `req` into `out`.
 * Returns 0, -1 when absent, -2 when longer than `cap` - 1. */
static int query_param(h2o_req_t *req, const char *name, char *out, size_t cap)
{
    if (req->query_at == SIZE_MAX)
        return -1;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t n = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - q) > n && memcmp(q, name, n) == 0 && q[n] == '=') {
            size_t len = (size_t)(stop - q) - n - 1;
            if (len >= cap)
                return -2;
            memcpy(out, q + n + 1, len);
            out[len] = '\0';
            return 0;
        }
        q = stop + 1;
    }
    return -1;
}

/* GET /admin/stats?since=24h: per assistant and model, the usage summary
 * (the store op usage.stats; the same JSON as `chatkitd stats --json`). */
static int admin_stats(h2o_req_t *req, ck_http_worker_t *w)
{
    char since[32] = "24h";
    long seconds;
    if (query_param(req, "since", since, sizeof since) == -2 ||
        ck_duration_parse(since, STATS_MAX_SECONDS, &seconds) != 0)
        return ck_http_send_error(req, 400, "invalid_params",
                                  "since must be a duration such as 24h or 7d (at most 366d)");
    char params[64];
    int n = snprintf(params, sizeof params, "{\"since_seconds\":%ld}", seconds);
    ck_http_store_args_t args = {"usage.stats", "admin", params, (size_t)n, NULL, 0, 0};
    return ck_http_store_call(req, w, &args, NULL, NULL);
}

int ck_http_handle_admin(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t path)
{
    char user_id[CK_USER_ID_MAX];
    if (w->config->admin_token == NULL || !h2o_memis(path.base, path.len, H2O_STRLIT("/admin/stats")))
        return ck_http_send_error(req, 404, "not_found", "no such route");
    if (!ck_http_gate(req, CK_GATE_PUBLIC, user_id))
        return 0;
    if (!ck_http_method_is(req, "GET") && !ck_http_method_is(req, "HEAD"))
        return ck_http_answer_405(req, "GET, HEAD");
    if (!ck_http_bearer_matches(req, w->config->admin_token)) {
        ck_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, H2O_STRLIT("Bearer realm=\"admin\""));
        return ck_http_send_error(req, 401, "unauthorized", "/admin/ routes require the admin bearer token");
    }
    return admin_stats(req, w);
}
