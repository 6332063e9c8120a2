/*
 * gate.c - the checks of gate.h, in this order for every request:
 *
 *   1. CORS (cors.c): a preflight is answered here (204, or 403 for a
 *      refused origin/method/header); an allowed origin gets its response
 *      headers now, so every later answer (401, 429, the handler's) carries
 *      them.  OPTIONS requests stop being checked after this step: they
 *      read and change nothing.
 *   2. CK_GATE_PUBLIC and CK_GATE_UPLOAD stop here (an upload is authorized
 *      by its signed URL, checked by the handler).
 *   3. Identity: a JWT bearer token (auth_jwt.c) when a key or a JWK set
 *      (auth_jwks*.c; a URL's set is refreshed by its own thread) is configured;
 *      otherwise, in development mode, the X-User-Id header ("anonymous"
 *      when absent).  Failure: 401 + WWW-Authenticate: Bearer.
 *   4. Limits (rate_limit.c): the user's request bucket, for CK_GATE_TURN
 *      also the turn bucket and an open-stream slot.  Failure: 429 +
 *      Retry-After.
 *
 * Configuration comes from the environment once, in ck_http_gate_init(),
 * before the workers start; afterwards the state below is read-only except
 * inside the (thread-safe) limiter and the JWK set holder (swapped by its
 * refresh thread, see auth_jwks.h).
 */
#include "http/gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/log.h"
#include "http/auth_jwks_fetch.h"
#include "http/auth_jwt.h"
#include "http/cors.h"
#include "http/rate_limit.h"
#include "http/respond.h"

#define PUBLIC_KEY_MAX (64 * 1024)

static struct {
    ck_http_jwt_t *jwt;          /* NULL = development mode (X-User-Id) */
    ck_http_jwks_source_t *jwks; /* CHATKITD_JWT_JWKS, or NULL; outlives jwt */
    ck_http_rate_t *rate;        /* NULL = no limits (gate not initialised) */
    ck_http_cors_t *cors;        /* NULL = CORS off */
    uint64_t max_stream_ms;
} g_gate;

/* --- configuration -------------------------------------------------------- */

/* Reads the non-negative integer variable `name` (default `def`, at most
 * `max`) into `*out`.  Returns 0, or -1 after logging a malformed value. */
static int env_long(const char *name, long def, long max, long *out)
{
    const char *s = getenv(name);
    *out = def;
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > max) {
        ck_error("%s=\"%s\" is not an integer between 0 and %ld", name, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* The contents of the PEM file at `path` (malloc'd, NUL-terminated, caller
 * frees), or NULL after logging why. */
static char *read_key_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ck_error("CHATKITD_JWT_PUBLIC_KEY: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = 0;
    char *buf = ck_file_read_all(f, PUBLIC_KEY_MAX, &n);
    fclose(f);
    if (buf == NULL || n == 0) {
        ck_error("CHATKITD_JWT_PUBLIC_KEY: %s is empty, unreadable or larger than %d bytes", path, PUBLIC_KEY_MAX);
        free(buf);
        return NULL;
    }
    return buf;
}

static const char *env_str(const char *name)
{
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? s : NULL;
}

static void warn_development_mode(void)
{
    ck_warn("################################################################");
    ck_warn("# AUTHENTICATION IS OFF (development mode).                    #");
    ck_warn("# None of CHATKITD_JWT_SECRET, CHATKITD_JWT_PUBLIC_KEY or       #");
    ck_warn("# CHATKITD_JWT_JWKS is set, so every request is trusted to say #");
    ck_warn("# who it is: the X-User-Id                                     #");
    ck_warn("# header (or \"anonymous\"). ANYONE WHO CAN REACH THIS SERVER CAN #");
    ck_warn("# ACT AS ANY USER and read or delete their threads.            #");
    ck_warn("# Never expose this server like this; see docs/security.md.    #");
    ck_warn("################################################################");
}

/* Development mode, unless a key-less JWT setting shows that auth was meant
 * to be on.  Returns 0, or -1 after logging the stray setting. */
static int init_development_mode(void)
{
    const char *stray[] = {"CHATKITD_JWT_ALGORITHMS", "CHATKITD_JWT_ISSUER", "CHATKITD_JWT_AUDIENCE",
                           "CHATKITD_JWT_JWKS_REFRESH_S"};
    for (size_t i = 0; i < sizeof(stray) / sizeof(stray[0]); i++) {
        if (env_str(stray[i]) != NULL) {
            ck_error("%s is set but no JWT key is: set CHATKITD_JWT_SECRET, CHATKITD_JWT_PUBLIC_KEY or "
                     "CHATKITD_JWT_JWKS", stray[i]);
            return -1;
        }
    }
    warn_development_mode();
    return 0;
}

/* Loads CHATKITD_JWT_JWKS into g_gate.jwks (blocking: the workers do not
 * exist yet).  Returns 0, or -1 after logging why. */
static int init_jwks(const char *location)
{
    long refresh;
    if (env_str("CHATKITD_JWT_JWKS_REFRESH_S") != NULL && strncmp(location, "http", 4) != 0)
        ck_warn("CHATKITD_JWT_JWKS_REFRESH_S is ignored: CHATKITD_JWT_JWKS is a file, read once at start-up");
    if (env_long("CHATKITD_JWT_JWKS_REFRESH_S", 300, 86400, &refresh) != 0)
        return -1;
    char err[512];
    if ((g_gate.jwks = ck_http_jwks_source_start(location, refresh, err, sizeof(err))) == NULL) {
        ck_error("CHATKITD_JWT_JWKS: %s", err);
        return -1;
    }
    return 0;
}

/* Sets up g_gate.jwt from CHATKITD_JWT_*; development mode when no key. */
static int init_auth(void)
{
    const char *secret = env_str("CHATKITD_JWT_SECRET"), *key_path = env_str("CHATKITD_JWT_PUBLIC_KEY");
    const char *jwks = env_str("CHATKITD_JWT_JWKS");
    if (secret == NULL && key_path == NULL && jwks == NULL)
        return init_development_mode();
    if (jwks != NULL && (secret != NULL || key_path != NULL)) {
        ck_error("CHATKITD_JWT_JWKS cannot be combined with %s: configure one source of keys",
                 secret != NULL ? "CHATKITD_JWT_SECRET" : "CHATKITD_JWT_PUBLIC_KEY");
        return -1;
    }
    long leeway;
    if (env_long("CHATKITD_JWT_LEEWAY_S", 30, 86400, &leeway) != 0)
        return -1;
    if (jwks != NULL && init_jwks(jwks) != 0)
        return -1;
    char *pem = NULL;
    if (key_path != NULL && (pem = read_key_file(key_path)) == NULL)
        return -1;
    ck_http_jwt_settings_t s = {secret, pem, env_str("CHATKITD_JWT_ALGORITHMS"), env_str("CHATKITD_JWT_ISSUER"),
                                env_str("CHATKITD_JWT_AUDIENCE"), leeway,
                                g_gate.jwks != NULL ? ck_http_jwks_source_keys(g_gate.jwks) : NULL};
    char err[256], desc[256];
    g_gate.jwt = ck_http_jwt_new(&s, err, sizeof(err));
    free(pem);
    if (g_gate.jwt == NULL) {
        ck_error("JWT configuration: %s", err);
        return -1;
    }
    ck_http_jwt_describe(g_gate.jwt, desc, sizeof(desc));
    ck_info("auth: JWT bearer tokens required (%s)", desc);
    return 0;
}

/* Sets up the limiter from CHATKITD_RATE_* / CHATKITD_MAX_*. */
static int init_limits(void)
{
    long turns, requests, streams, seconds, users;
    if (env_long("CHATKITD_RATE_TURNS_PER_MIN", 8, 1000000, &turns) != 0 ||
        env_long("CHATKITD_RATE_REQUESTS_PER_MIN", 120, 1000000, &requests) != 0 ||
        env_long("CHATKITD_MAX_STREAMS_PER_USER", 4, 100000, &streams) != 0 ||
        env_long("CHATKITD_MAX_STREAM_SECONDS", 300, 7 * 86400, &seconds) != 0 ||
        env_long("CHATKITD_RATE_MAX_USERS", 100000, 100000000, &users) != 0)
        return -1;
    ck_http_rate_config_t cfg = {(unsigned)requests, (unsigned)turns, (unsigned)streams, (size_t)users, NULL, NULL};
    if ((g_gate.rate = ck_http_rate_new(&cfg)) == NULL) {
        ck_error("rate limiter: out of memory");
        return -1;
    }
    g_gate.max_stream_ms = (uint64_t)seconds * 1000u;
    ck_info("limits per user: %ld requests/min, %ld turns/min, %ld open streams, streams end after %ld s "
            "(0 = unlimited; counted per process)",
            requests, turns, streams, seconds);
    return 0;
}

static int init_cors(void)
{
    long max_age;
    if (env_long("CHATKITD_CORS_MAX_AGE", 600, 86400, &max_age) != 0)
        return -1;
    ck_http_cors_settings_t s = {env_str("CHATKITD_CORS_ORIGINS"), env_str("CHATKITD_CORS_HEADERS"), max_age};
    char err[256];
    if ((g_gate.cors = ck_http_cors_new(&s, err, sizeof(err))) == NULL) {
        ck_error("CORS configuration: %s", err);
        return -1;
    }
    if (ck_http_cors_enabled(g_gate.cors))
        ck_info("CORS: allowed origins %s", s.origins);
    return 0;
}

int ck_http_gate_init(void)
{
    ck_http_gate_shutdown();
    if (init_auth() != 0 || init_limits() != 0 || init_cors() != 0) {
        ck_http_gate_shutdown();
        return -1;
    }
    return 0;
}

void ck_http_gate_shutdown(void)
{
    ck_http_jwt_free(g_gate.jwt);
    ck_http_jwks_source_stop(g_gate.jwks);
    ck_http_rate_free(g_gate.rate);
    ck_http_cors_free(g_gate.cors);
    memset(&g_gate, 0, sizeof(g_gate));
}

uint64_t ck_http_gate_max_stream_ms(void) { return g_gate.max_stream_ms; }

void ck_http_gate_turn_end(const char *user_id)
{
    if (g_gate.rate != NULL)
        ck_http_rate_stream_end(g_gate.rate, user_id);
}

/* --- the checks ------------------------------------------------------------- */

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

static int send_preflight(h2o_req_t *req, const ck_http_cors_decision_t *d)
{
    char age[24];
    int n = snprintf(age, sizeof(age), "%ld", d->max_age_s);
    add_header_str(req, "access-control-allow-methods", H2O_STRLIT(CK_HTTP_CORS_METHODS));
    if (d->allow_headers_len > 0)
        add_header_str(req, "access-control-allow-headers", d->allow_headers, d->allow_headers_len);
    add_header_str(req, "access-control-max-age", age, (size_t)n);
    return ck_http_send_no_content(req);
}

/* Step 1.  Returns 1 to go on, 0 when the preflight was answered. */
static int apply_cors(h2o_req_t *req)
{
    ck_http_cors_request_t r = {req->method.base, req->method.len};
    r.origin = header(req, "origin", &r.origin_len);
    r.request_method = header(req, "access-control-request-method", &r.request_method_len);
    r.request_headers = header(req, "access-control-request-headers", &r.request_headers_len);
    ck_http_cors_decision_t d;
    ck_http_cors_decide(g_gate.cors, &r, &d);
    if (d.vary)
        ck_http_add_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Origin"));
    if (d.action == CK_HTTP_CORS_FORBIDDEN) {
        ck_http_send_error(req, 403, "cors_forbidden", "cross-origin request not allowed");
        return 0;
    }
    if (d.action == CK_HTTP_CORS_NONE)
        return 1;
    ck_http_add_header(req, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, d.allow_origin, d.allow_origin_len);
    if (d.action == CK_HTTP_CORS_PREFLIGHT)
        return send_preflight(req, &d);
    add_header_str(req, "access-control-expose-headers", H2O_STRLIT(CK_HTTP_CORS_EXPOSE));
    return 1;
}

static int send_unauthorized(h2o_req_t *req, const char *challenge, const char *message)
{
    ck_http_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, challenge, strlen(challenge));
    ck_http_send_error(req, 401, "unauthorized", message);
    return 0;
}

/* The token of "Authorization: Bearer <token>", or NULL when there is no
 * such header (a second Authorization header makes `*dup` 1). */
static const char *bearer_token(h2o_req_t *req, size_t *len, int *dup)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    *dup = i >= 0 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) >= 0;
    if (i < 0)
        return NULL;
    const char *v = req->headers.entries[i].value.base;
    size_t n = req->headers.entries[i].value.len;
    if (n < 7 || strncasecmp(v, "bearer ", 7) != 0)
        return NULL;
    size_t start = 7;
    while (start < n && v[start] == ' ')
        start++;
    while (n > start && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n - start;
    return v + start;
}

/* Step 3 with a JWT key.  Returns 1 with `user_id` set, or 0 after a 401. */
static int authenticate_jwt(h2o_req_t *req, char *user_id)
{
    size_t len = 0;
    int dup = 0;
    const char *token = bearer_token(req, &len, &dup);
    if (dup)
        return send_unauthorized(req, "Bearer realm=\"chatkitd\", error=\"invalid_request\"", "invalid_request");
    if (token == NULL || len == 0)
        return send_unauthorized(req, "Bearer realm=\"chatkitd\"", "missing_token");
    ck_http_jwt_result_t r = ck_http_jwt_verify(g_gate.jwt, token, len, time(NULL), user_id);
    if (r != CK_HTTP_JWT_OK) {
        ck_debug("gate: rejected bearer token (%s)", ck_http_jwt_result_code(r));
        return send_unauthorized(req, "Bearer realm=\"chatkitd\", error=\"invalid_token\"", ck_http_jwt_result_code(r));
    }
    return 1;
}

/* Step 3 in development mode: X-User-Id, 1..255 bytes without control
 * characters, default "anonymous".  Returns 1, or 0 after a 400. */
static int authenticate_dev(h2o_req_t *req, char *user_id)
{
    size_t n;
    const char *v = header(req, "x-user-id", &n);
    if (v == NULL || n == 0) {
        strcpy(user_id, "anonymous");
        return 1;
    }
    int ok = n < CK_USER_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
    if (!ok) {
        ck_http_send_error(req, 400, "invalid_user_id", "X-User-Id must be 1-255 bytes without control characters");
        return 0;
    }
    memcpy(user_id, v, n);
    user_id[n] = '\0';
    return 1;
}

/* Step 4.  Returns 1 when admitted, or 0 after a 429/503. */
static int apply_limits(h2o_req_t *req, ck_gate_kind_t kind, const char *user_id)
{
    if (g_gate.rate == NULL)
        return 1;
    uint32_t retry = 1;
    ck_http_rate_verdict_t v = ck_http_rate_admit(g_gate.rate, user_id, kind == CK_GATE_TURN, &retry);
    if (v == CK_HTTP_RATE_OK)
        return 1;
    char secs[16];
    int n = snprintf(secs, sizeof(secs), "%u", retry);
    ck_http_add_header(req, H2O_TOKEN_RETRY_AFTER, secs, (size_t)n);
    switch (v) {
    case CK_HTTP_RATE_TURNS:
        ck_http_send_error(req, 429, "rate_limited", "too many turns; retry later");
        break;
    case CK_HTTP_RATE_STREAMS:
        ck_http_send_error(req, 429, "too_many_streams", "too many open streams for this user");
        break;
    case CK_HTTP_RATE_FULL:
        ck_http_send_error(req, 503, "overloaded", "too many users at once; retry later");
        break;
    default:
        ck_http_send_error(req, 429, "rate_limited", "too many requests; retry later");
        break;
    }
    return 0;
}

int ck_http_gate(h2o_req_t *req, ck_gate_kind_t kind, char *user_id)
{
    user_id[0] = '\0';
    if (!apply_cors(req))
        return 0;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")) || kind == CK_GATE_PUBLIC ||
        kind == CK_GATE_UPLOAD)
        return 1;
    int known = g_gate.jwt != NULL ? authenticate_jwt(req, user_id) : authenticate_dev(req, user_id);
    if (!known)
        return 0;
    return apply_limits(req, kind, user_id);
}
