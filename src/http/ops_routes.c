/*
 * ops_routes.c - the operator's routes: GET /metrics, the Prometheus text
 * exposition (format 0.0.4) of src/base/metrics.
 *
 * With CHATKITD_METRICS_TOKEN set, /metrics requires
 * "Authorization: Bearer <token>" (compared in constant time) and answers
 * 401 otherwise; unset, it is open (bind the server to a private address or
 * put it behind a proxy that hides /metrics).  The gauges that describe the
 * present (chatkitd_db_up) are refreshed at each scrape.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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
