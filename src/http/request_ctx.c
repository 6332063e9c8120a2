/*
 * request_ctx.c - request ids, per-request context, request metrics and the
 * access log line (see request_ctx.h).
 *
 * The context lives in the request's pool with a dispose hook.  h2o runs
 * that hook when it frees the request (response complete, client gone, or
 * the connection closed), before the pool's memory is released, so the hook
 * can still read the request: it records chatkitd_requests_total and
 * chatkitd_request_duration_seconds and writes the access line.  Contexts
 * are found again through a per-thread chained hash table keyed by the
 * h2o_req_t address; an entry is removed by the same dispose hook.
 */
#include "http/request_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/log.h"
#include "base/metrics.h"

#define TABLE_SIZE 4096 /* power of two; chains stay short with thousands of open streams */

static __thread ck_http_request_ctx_t *table[TABLE_SIZE];
static unsigned char user_key[32];
static size_t user_key_len;

void ck_http_request_ctx_init(void)
{
    const char *key = getenv("CHATKITD_LOG_USER_KEY");
    if (key != NULL && *key != '\0') {
        user_key_len = strlen(key) < sizeof user_key ? strlen(key) : sizeof user_key;
        memcpy(user_key, key, user_key_len);
    } else if (RAND_bytes(user_key, sizeof user_key) == 1) {
        user_key_len = sizeof user_key;
    }
}

void ck_http_user_hash(const char *user_id, char out[17])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (user_id == NULL || *user_id == '\0' ||
        HMAC(EVP_sha256(), user_key, (int)user_key_len, (const unsigned char *)user_id, strlen(user_id), mac, &n) ==
            NULL)
        return;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

int ck_http_request_id_valid(const char *id, size_t len)
{
    if (len < 1 || len > CK_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static size_t slot_of(const h2o_req_t *req)
{
    uint64_t h = (uint64_t)(uintptr_t)req * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 52) & (TABLE_SIZE - 1);
}

ck_http_request_ctx_t *ck_http_request_ctx(h2o_req_t *req)
{
    for (ck_http_request_ctx_t *c = table[slot_of(req)]; c != NULL; c = c->next)
        if (c->req == req)
            return c;
    return NULL;
}

const char *ck_http_request_id(h2o_req_t *req)
{
    ck_http_request_ctx_t *c = ck_http_request_ctx(req);
    return c != NULL ? c->id : NULL;
}

void ck_http_request_set_op(h2o_req_t *req, const char *op)
{
    ck_http_request_ctx_t *c = ck_http_request_ctx(req);
    if (c != NULL && op != NULL)
        c->op = op;
}

void ck_http_request_set_user(h2o_req_t *req, const char *user_id)
{
    ck_http_request_ctx_t *c = ck_http_request_ctx(req);
    if (c != NULL)
        ck_http_user_hash(user_id, c->user);
}

/* The access line: one per request, at its end. */
static void access_line(const ck_http_request_ctx_t *c, int status, double seconds)
{
    h2o_req_t *req = c->req;
    json_t *f = json_pack("{s:s,s:s%,s:s%,s:s,s:i,s:f,s:I}", "request_id", c->id, "method", req->method.base,
                          req->method.len, "path", req->path.base, req->path.len < 512 ? req->path.len : 512, "op",
                          c->op, "status", status, "duration_ms", seconds * 1000.0, "bytes",
                          (json_int_t)req->bytes_sent);
    if (f == NULL)
        return;
    if (c->user[0] != '\0')
        json_object_set_new(f, "user", json_string(c->user));
    if (c->turn.present) {
        json_object_set_new(f, "assistant", json_string(c->turn.assistant));
        json_object_set_new(f, "model", json_string(c->turn.model));
        if (c->turn.first_token_ms >= 0)
            json_object_set_new(f, "first_token_ms", json_integer(c->turn.first_token_ms));
        json_object_set_new(f, "prompt_tokens", json_integer(c->turn.prompt_tokens));
        json_object_set_new(f, "completion_tokens", json_integer(c->turn.completion_tokens));
        json_object_set_new(f, "tool_calls", json_integer(c->turn.tool_calls));
    }
    const char *previous = ck_log_scope_enter(NULL); /* the line has its own request_id field */
    ck_log_fields(CK_LOG_INFO, "request", f);
    ck_log_scope_leave(previous);
}

static void on_dispose(void *p)
{
    ck_http_request_ctx_t *c = p;
    ck_http_request_ctx_t **link = &table[slot_of(c->req)];
    while (*link != NULL && *link != c)
        link = &(*link)->next;
    if (*link == c)
        *link = c->next;
    /* 0: h2o never started a response (client gone before the answer) */
    int status = c->req->res.status;
    char code[8];
    snprintf(code, sizeof code, "%d", status > 0 && status < 1000 ? status : 0);
    double seconds = ck_metrics_now() - c->start;
    ck_metrics_inc(CK_M_REQUESTS, CK_LABELS(c->op, code));
    ck_metrics_observe(CK_M_REQUEST_DURATION, CK_LABELS(c->op), seconds);
    access_line(c, status, seconds);
}

/* Fills `out` with a fresh id: 24 hex digits (96 random bits). */
static void generate_id(char *out)
{
    unsigned char raw[12];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        static _Atomic unsigned long counter;
        snprintf(out, CK_REQUEST_ID_MAX + 1, "req%016lx", (unsigned long)++counter);
        return;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

ck_http_request_ctx_t *ck_http_request_begin(h2o_req_t *req, const char *op)
{
    ck_http_request_ctx_t *c = h2o_mem_alloc_shared(&req->pool, sizeof *c, on_dispose);
    memset(c, 0, sizeof *c);
    c->req = req;
    c->op = op;
    c->start = ck_metrics_now();
    c->turn.first_token_ms = -1;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && ck_http_request_id_valid(req->headers.entries[i].value.base, req->headers.entries[i].value.len)) {
        memcpy(c->id, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
        c->id[req->headers.entries[i].value.len] = '\0';
    } else {
        generate_id(c->id);
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, c->id, strlen(c->id));
    size_t s = slot_of(req);
    c->next = table[s];
    table[s] = c;
    return c;
}
