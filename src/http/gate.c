/*
 * gate.c - the checks of gate.h, in this order for every request:
 *
 *   1. CORS (src/auth/cors.c): a preflight is answered here (204, or 403 for
 *      a refused origin/method/header); an allowed origin gets its response
 *      headers now, so every later answer (401, 429, the handler's) carries
 *      them.  OPTIONS requests stop being checked after this step: they
 *      read and change nothing.
 *   2. CK_GATE_PUBLIC and CK_GATE_UPLOAD stop here (an upload is authorized
 *      by its signed URL, checked by the handler).
 *   3. Identity (ck_auth_gate_identify): a JWT bearer token when a key or a
 *      JWK set is configured; otherwise, in development mode, the X-User-Id
 *      header ("anonymous" when absent).  Failure: 401 + WWW-Authenticate:
 *      Bearer (400 for a malformed X-User-Id).
 *   4. Limits (ck_auth_gate_admit): the user's request bucket, for
 *      CK_GATE_TURN also the turn bucket and an open-stream slot.  Failure:
 *      429 (503 when the limiter is full) + Retry-After.
 *
 * The decisions and the configuration live in src/auth/gate.c; this file
 * reads the request's headers and writes the answers.
 */
#include "http/gate.h"

#include <stdio.h>
#include <string.h>

#include "base/metrics.h"
#include "http/request_ctx.h"
#include "http/server.h"
#include "store/ops_record.h"
#include "http/respond.h"

int ck_http_gate_init(void) { return ck_auth_gate_init(); }

void ck_http_gate_shutdown(void) { ck_auth_gate_shutdown(); }

uint64_t ck_http_gate_max_stream_ms(void) { return ck_auth_gate_max_stream_ms(); }

void ck_http_gate_turn_end(const char *user_id) { ck_auth_gate_turn_end(user_id); }

/* The value of request header `name` (lowercase), or NULL with *len = 0. */
static const char *header(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0) {
        *len = 0;
        return NULL;
    }
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

static void add_header_str(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base, v.len);
}

static int send_preflight(h2o_req_t *req, const ck_auth_cors_decision_t *d)
{
    char age[24];
    int n = snprintf(age, sizeof(age), "%ld", d->max_age_s);
    add_header_str(req, "access-control-allow-methods", H2O_STRLIT(CK_AUTH_CORS_METHODS));
    if (d->allow_headers_len > 0)
        add_header_str(req, "access-control-allow-headers", d->allow_headers, d->allow_headers_len);
    add_header_str(req, "access-control-max-age", age, (size_t)n);
    return ck_http_send_no_content(req);
}

/* Step 1.  Returns 1 to go on, 0 when the preflight was answered. */
static int apply_cors(h2o_req_t *req)
{
    ck_auth_cors_request_t r = {req->method.base, req->method.len};
    r.origin = header(req, "origin", &r.origin_len);
    r.request_method = header(req, "access-control-request-method", &r.request_method_len);
    r.request_headers = header(req, "access-control-request-headers", &r.request_headers_len);
    ck_auth_cors_decision_t d;
    ck_auth_gate_cors(&r, &d);
    if (d.vary)
        ck_http_add_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Origin"));
    if (d.action == CK_AUTH_CORS_FORBIDDEN) {
        ck_http_send_error(req, 403, "cors_forbidden", "cross-origin request not allowed");
        return 0;
    }
    if (d.action == CK_AUTH_CORS_NONE)
        return 1;
    ck_http_add_header(req, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, d.allow_origin, d.allow_origin_len);
    if (d.action == CK_AUTH_CORS_PREFLIGHT)
        return send_preflight(req, &d);
    add_header_str(req, "access-control-expose-headers", H2O_STRLIT(CK_AUTH_CORS_EXPOSE));
    return 1;
}

/* Sends the answer of a refusal from src/auth/gate.c.  Returns 0. */
static int send_refusal(h2o_req_t *req, const ck_auth_refusal_t *why)
{
    if (why->www_authenticate != NULL)
        ck_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, why->www_authenticate, strlen(why->www_authenticate));
    if (why->retry_after_s > 0) {
        char secs[16];
        int n = snprintf(secs, sizeof(secs), "%u", why->retry_after_s);
        ck_http_add_header(req, H2O_TOKEN_RETRY_AFTER, secs, (size_t)n);
    }
    ck_http_send_error(req, why->status, why->code, why->message);
    return 0;
}

/* Records an authentication failure in the audit log: at most
 * AUDIT_FAILURES_PER_S per worker and second (a flood of bad tokens must not
 * turn into a flood of writes; the metric counts every one). */
#define AUDIT_FAILURES_PER_S 10
static void audit_auth_failure(h2o_req_t *req, const char *reason)
{
    static __thread uint64_t second;
    static __thread int count;
    ck_http_worker_t *w = ck_http_worker_of(req);
    uint64_t now = ck_loop_now_ms(w->loop) / 1000;
    if (now != second)
        second = now, count = 0;
    if (++count > AUDIT_FAILURES_PER_S)
        return;
    char detail[160];
    snprintf(detail, sizeof detail, "%.*s %.*s: %s", (int)(req->method.len < 16 ? req->method.len : 16),
             req->method.base, (int)(req->path_normalized.len < 100 ? req->path_normalized.len : 100),
             req->path_normalized.base, reason);
    ck_store_audit(w->store, CK_AUDIT_NO_USER, ck_http_request_id(req), CK_AUDIT_AUTH_FAILURE, NULL, detail);
}

/* Step 3.  Returns 1 with `user_id` set, or 0 after a 401/400. */
static int identify(h2o_req_t *req, char *user_id)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    int count = i < 0 ? 0 : 1 + (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) >= 0);
    const char *authz = i < 0 ? NULL : req->headers.entries[i].value.base;
    size_t authz_len = i < 0 ? 0 : req->headers.entries[i].value.len;
    size_t x_len;
    const char *x_user = header(req, "x-user-id", &x_len);
    ck_auth_refusal_t why;
    if (!ck_auth_gate_identify(authz, authz_len, count, x_user, x_len, user_id, &why)) {
        ck_metrics_inc(CK_M_AUTH_FAILURES, CK_LABELS(why.label));
        audit_auth_failure(req, why.label);
        return send_refusal(req, &why);
    }
    ck_http_request_set_user(req, user_id);
    return 1;
}

int ck_http_gate(h2o_req_t *req, ck_gate_kind_t kind, char *user_id)
{
    user_id[0] = '\0';
    if (!apply_cors(req))
        return 0;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) || kind == CK_GATE_PUBLIC ||
        kind == CK_GATE_UPLOAD)
        return 1;
    if (!identify(req, user_id))
        return 0;
    ck_auth_refusal_t why;
    if (!ck_auth_gate_admit(user_id, kind == CK_GATE_TURN, &why)) {
        ck_metrics_inc(CK_M_RATE_LIMITED, CK_LABELS(why.label));
        return send_refusal(req, &why);
    }
    return 1;
}
