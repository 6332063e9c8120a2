/*
 * request_ctx.h - what chatkitd knows about one HTTP request besides h2o's
 * h2o_req_t: its request id, its operation (protocol type or route), the
 * hashed user, and for a streamed turn the turn's figures.  When h2o frees
 * the request, the context records the request metrics
 * (chatkitd_requests_total, chatkitd_request_duration_seconds) and writes
 * the one access log line of the request.
 *
 * Request ids (docs/operations.md): an X-Request-Id header of 1-128
 * characters of [A-Za-z0-9._-] is kept, anything else is replaced by a
 * generated id (24 hex digits).  The id is set as the X-Request-Id response
 * header at once, so every answer carries it (JSON, errors, SSE), and
 * respond.c copies it into every JSON error body.
 *
 * The router calls ck_http_request_begin() first for every request; any
 * code holding the h2o_req_t finds the context with ck_http_request_ctx()
 * (a per-thread table keyed by the request, so the lookup works on the
 * request's worker thread only, where all of its handling happens).
 */
#ifndef CK_HTTP_REQUEST_CTX_H
#define CK_HTTP_REQUEST_CTX_H

#include <stdint.h>

#include <h2o.h>

#define CK_REQUEST_ID_MAX 128

/* A streamed turn's figures for the access line (filled by stream_turn.c). */
typedef struct ck_http_turn_figures {
    int present; /* 1 once a turn ran for this request */
    char assistant[64];
    char model[128];
    long first_token_ms; /* -1 when no text was sent */
    long prompt_tokens, completion_tokens;
    int tool_calls;
} ck_http_turn_figures_t;

typedef struct ck_http_request_ctx {
    h2o_req_t *req;
    struct ck_http_request_ctx *next; /* per-thread table chain */
    char id[CK_REQUEST_ID_MAX + 1];
    const char *op; /* static string: protocol type or route */
    char user[17];  /* keyed hash of the user id, "" when none */
    double start;   /* ck_metrics_now() at arrival */
    ck_http_turn_figures_t turn;
} ck_http_request_ctx_t;

/* Creates the context of `req` (in its pool), picks the request id and adds
 * the X-Request-Id response header; `op` is the route (static string). */
ck_http_request_ctx_t *ck_http_request_begin(h2o_req_t *req, const char *op);

/* The context of `req`, or NULL when it has none (not routed yet). */
ck_http_request_ctx_t *ck_http_request_ctx(h2o_req_t *req);

/* The request id of `req`, or NULL. */
const char *ck_http_request_id(h2o_req_t *req);

/* Sets the operation (a static string, e.g. a protocol type name). */
void ck_http_request_set_op(h2o_req_t *req, const char *op);

/* Records the user (only its keyed hash is kept). */
void ck_http_request_set_user(h2o_req_t *req, const char *user_id);

/* Writes the 16-hex-digit keyed hash (SipHash-2-4) of `user_id` into `out`
 * (17 bytes).  The key is derived from CHATKITD_LOG_USER_KEY, else random
 * per process. */
void ck_http_user_hash(const char *user_id, char out[17]);

/* 1 when `id` (len bytes) is an acceptable client request id. */
int ck_http_request_id_valid(const char *id, size_t len);

/* Reads CHATKITD_LOG_USER_KEY; call once before the workers start. */
void ck_http_request_ctx_init(void);

#endif
