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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/env.h"
#include "base/log.h"
#include "base/metrics.h"

#define TABLE_SIZE 4096 /* power of two; chains stay short with thousands of open streams */

static __thread ck_http_request_ctx_t *table[TABLE_SIZE];
static uint64_t user_key[2];       /* SipHash key of the user hash */
static __thread uint64_t id_state; /* this thread's request id generator (splitmix64) */

void ck_http_request_ctx_init(void)
{
    const char *key = ck_env_str("CHATKITD_LOG_USER_KEY");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (key != NULL && EVP_Digest(key, strlen(key), digest, &n, EVP_sha256(), NULL) == 1 && n >= 16)
        memcpy(user_key, digest, sizeof user_key);
    else if (RAND_bytes((unsigned char *)user_key, sizeof user_key) != 1)
        user_key[0] = (uint64_t)(uintptr_t)&user_key ^ (uint64_t)time(NULL), user_key[1] = ~user_key[0];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                                      \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                                         \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                                         \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                                      \
    } while (0)

/* SipHash-2-4 of `len` bytes under `k` (a keyed PRF: the hash tells nothing
 * about the user id without the key, and costs well under a microsecond). */
static uint64_t siphash(const uint64_t k[2], const unsigned char *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0], v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0], v3 = 0x7465646279746573ULL ^ k[1];
    uint64_t b = (uint64_t)len << 56, m;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&m, in + i, 8); /* little-endian machines; a fixed byte order is not needed within one process */
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < 4; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void ck_http_user_hash(const char *user_id, char out[17])
{
    out[0] = '\0';
    if (user_id != NULL && *user_id != '\0')
        snprintf(out, 17, "%016llx",
                 (unsigned long long)siphash(user_key, (const unsigned char *)user_id, strlen(user_id)));
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
    if (!ck_log_enabled(CK_LOG_INFO))
        return;
    h2o_req_t *req = c->req;
    /* the path without its query: upload and preview URLs carry a token there
     * (a credential, and the user id in base64) */
    size_t path_len = req->query_at < req->path.len ? req->query_at : req->path.len;
    json_t *f =
        json_pack("{s:s,s:s%,s:s%,s:s,s:i,s:f,s:I}", "request_id", c->id, "method", req->method.base, req->method.len,
                  "path", req->path.base, path_len < 512 ? path_len : 512, "op", c->op, "status", status, "duration_ms",
                  round(seconds * 1e6) / 1e3, "bytes", (json_int_t)req->bytes_sent);
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

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Fills `out` with a fresh id: 24 hex digits from this thread's generator,
 * seeded once from the system's randomness (ids are unique, not secret:
 * RAND_bytes per request cost ~10 us on the shared test machine). */
static void generate_id(char *out)
{
    if (id_state == 0 && RAND_bytes((unsigned char *)&id_state, sizeof id_state) != 1)
        id_state = (uint64_t)(uintptr_t)&id_state ^ (uint64_t)time(NULL);
    uint64_t a = splitmix64(&id_state), b = splitmix64(&id_state);
    snprintf(out, CK_REQUEST_ID_MAX + 1, "%016llx%08llx", (unsigned long long)a, (unsigned long long)(b >> 32));
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
