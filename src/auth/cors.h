/*
 * cors.h - Cross-Origin Resource Sharing decisions as a pure function of
 * (configuration, method, request headers).
 *
 * The configuration is a list of exact origins ("https://app.example.com")
 * or "*" (any origin except the opaque "null", which must be listed to be
 * allowed).  With no origins configured CORS is off: no CORS headers at
 * all, and every preflight is refused.  Allowed origins are echoed back
 * (never "*"), so every response of an enabled configuration carries
 * "Vary: Origin".  No credentials mode: the API authenticates with bearer
 * tokens, never cookies.
 *
 * No h2o here; src/http/gate.c turns a decision into response headers.
 */
#ifndef CK_AUTH_CORS_H
#define CK_AUTH_CORS_H

#include <stddef.h>

/* Longest Access-Control-Allow-Headers value echoed back; longer requests are refused. */
#define CK_AUTH_CORS_HEADERS_MAX 1024

/* The methods a preflight may ask for. */
#define CK_AUTH_CORS_METHODS "GET, POST, PUT, OPTIONS"
/* Response headers a script may read beyond the CORS-safelisted ones. */
#define CK_AUTH_CORS_EXPOSE "Retry-After, WWW-Authenticate"

typedef struct ck_auth_cors ck_auth_cors_t;

typedef struct ck_auth_cors_settings {
    const char *origins; /* comma list of exact origins, or "*"; NULL/empty = CORS off */
    const char *headers; /* comma list of request headers a preflight may ask for; NULL/empty = any valid name */
    long max_age_s;      /* Access-Control-Max-Age of preflight answers, 0..86400 */
} ck_auth_cors_settings_t;

typedef enum ck_auth_cors_action {
    CK_AUTH_CORS_NONE,      /* go on; add no CORS header (except Vary when `vary`) */
    CK_AUTH_CORS_ALLOW,     /* go on; add Access-Control-Allow-Origin and -Expose-Headers */
    CK_AUTH_CORS_PREFLIGHT, /* answer 204 with the preflight headers */
    CK_AUTH_CORS_FORBIDDEN  /* answer 403: a preflight that is refused */
} ck_auth_cors_action_t;

/* The parts of a request CORS looks at; absent headers are NULL. */
typedef struct ck_auth_cors_request {
    const char *method;
    size_t method_len;
    const char *origin; /* Origin */
    size_t origin_len;
    const char *request_method; /* Access-Control-Request-Method */
    size_t request_method_len;
    const char *request_headers; /* Access-Control-Request-Headers */
    size_t request_headers_len;
} ck_auth_cors_request_t;

typedef struct ck_auth_cors_decision {
    ck_auth_cors_action_t action;
    int vary;                 /* add "Vary: Origin" (CORS is on) */
    const char *allow_origin; /* ALLOW/PREFLIGHT: the request's Origin (borrowed from the request) */
    size_t allow_origin_len;
    char allow_headers[CK_AUTH_CORS_HEADERS_MAX]; /* PREFLIGHT: lowercased requested names, ", "-joined */
    size_t allow_headers_len;
    long max_age_s; /* PREFLIGHT */
} ck_auth_cors_decision_t;

/* Parses `settings`.  Returns the configuration (caller frees with
 * ck_auth_cors_free; a CORS-off configuration when no origin is given) or
 * NULL with a one-line reason in `err` for a malformed origin or header
 * name, or an out-of-range max age. */
ck_auth_cors_t *ck_auth_cors_new(const ck_auth_cors_settings_t *settings, char *err, size_t errlen);

/* Releases a configuration.  NULL is fine. */
void ck_auth_cors_free(ck_auth_cors_t *cors);

/* 1 when at least one origin is allowed. */
int ck_auth_cors_enabled(const ck_auth_cors_t *cors);

/* Decides what to do with `req` (see ck_auth_cors_action_t).  A preflight
 * is an OPTIONS request with Origin and Access-Control-Request-Method; it
 * is allowed when the origin is, the method is one of CK_AUTH_CORS_METHODS
 * and every requested header is a valid field name (and listed, when a
 * list is configured).  Pure and thread-safe; `out` borrows from `req`. */
void ck_auth_cors_decide(const ck_auth_cors_t *cors, const ck_auth_cors_request_t *req, ck_auth_cors_decision_t *out);

#endif
