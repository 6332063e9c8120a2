/*
 * gate.c - the gate's configuration and decisions (gate.h): JWT keys (jwt.c,
 * jwks*.c; a URL's key set is refreshed by its own thread), CORS (cors.c)
 * and the per-user limiter (rate_limit.c), each set up from the environment
 * once, in ck_auth_gate_init(), before the workers start.  Afterwards the
 * state below is read-only except inside the (thread-safe) limiter and the
 * JWK set holder (swapped by its refresh thread, see jwks.h).
 */
#include "auth/gate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/jwks_fetch.h"
#include "auth/jwt.h"
#include "auth/rate_limit.h"
#include "base/env.h"
#include "base/file.h"
#include "base/log.h"

#define PUBLIC_KEY_MAX (64 * 1024)

static struct {
    ck_auth_jwt_t *jwt;          /* NULL = development mode (X-User-Id) */
    ck_auth_jwks_source_t *jwks; /* CHATKITD_JWT_JWKS, or NULL; outlives jwt */
    ck_auth_rate_t *rate;        /* NULL = no limits (gate not initialised) */
    ck_auth_cors_t *cors;        /* NULL = CORS off */
    uint64_t max_stream_ms;
    char auth_desc[300]; /* the authentication mode, for the start-up line */
    long limits[4];      /* requests/min, turns/min, open streams, stream seconds */
} g_gate;

/* --- configuration -------------------------------------------------------- */

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

/* The value of `name`, or NULL when it is unset or empty. */
static const char *env_str(const char *name) { return ck_env_is_set(name) ? ck_env_str(name) : NULL; }

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
                     "CHATKITD_JWT_JWKS",
                     stray[i]);
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
    long refresh = (long)ck_env_int("CHATKITD_JWT_JWKS_REFRESH_S");
    if (env_str("CHATKITD_JWT_JWKS_REFRESH_S") != NULL && strncmp(location, "http", 4) != 0)
        ck_warn("CHATKITD_JWT_JWKS_REFRESH_S is ignored: CHATKITD_JWT_JWKS is a file, read once at start-up");
    char err[512];
    if ((g_gate.jwks = ck_auth_jwks_source_start(location, refresh, err, sizeof(err))) == NULL) {
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
    long leeway = (long)ck_env_int("CHATKITD_JWT_LEEWAY_S");
    if (jwks != NULL && init_jwks(jwks) != 0)
        return -1;
    char *pem = NULL;
    if (key_path != NULL && (pem = read_key_file(key_path)) == NULL)
        return -1;
    ck_auth_jwt_settings_t s = {secret,
                                pem,
                                env_str("CHATKITD_JWT_ALGORITHMS"),
                                env_str("CHATKITD_JWT_ISSUER"),
                                env_str("CHATKITD_JWT_AUDIENCE"),
                                leeway,
                                g_gate.jwks != NULL ? ck_auth_jwks_source_keys(g_gate.jwks) : NULL};
    char err[256], desc[256];
    g_gate.jwt = ck_auth_jwt_new(&s, err, sizeof(err));
    free(pem);
    if (g_gate.jwt == NULL) {
        ck_error("JWT configuration: %s", err);
        return -1;
    }
    ck_auth_jwt_describe(g_gate.jwt, desc, sizeof(desc));
    ck_info("auth: JWT bearer tokens required (%s)", desc);
    snprintf(g_gate.auth_desc, sizeof g_gate.auth_desc, "jwt (%s)", desc);
    return 0;
}

/* Sets up the limiter from CHATKITD_RATE_* / CHATKITD_MAX_*. */
static int init_limits(void)
{
    long turns = (long)ck_env_int("CHATKITD_RATE_TURNS_PER_MIN");
    long requests = (long)ck_env_int("CHATKITD_RATE_REQUESTS_PER_MIN");
    long streams = (long)ck_env_int("CHATKITD_MAX_STREAMS_PER_USER");
    long seconds = (long)ck_env_int("CHATKITD_MAX_STREAM_SECONDS");
    long users = (long)ck_env_int("CHATKITD_RATE_MAX_USERS");
    ck_auth_rate_config_t cfg = {(unsigned)requests, (unsigned)turns, (unsigned)streams, (size_t)users, NULL, NULL};
    if ((g_gate.rate = ck_auth_rate_new(&cfg)) == NULL) {
        ck_error("rate limiter: out of memory");
        return -1;
    }
    g_gate.max_stream_ms = (uint64_t)seconds * 1000u;
    g_gate.limits[0] = requests, g_gate.limits[1] = turns, g_gate.limits[2] = streams, g_gate.limits[3] = seconds;
    ck_info("limits per user: %ld requests/min, %ld turns/min, %ld open streams, streams end after %ld s "
            "(0 = unlimited; counted per process)",
            requests, turns, streams, seconds);
    return 0;
}

static int init_cors(void)
{
    long max_age = (long)ck_env_int("CHATKITD_CORS_MAX_AGE");
    ck_auth_cors_settings_t s = {env_str("CHATKITD_CORS_ORIGINS"), env_str("CHATKITD_CORS_HEADERS"), max_age};
    char err[256];
    if ((g_gate.cors = ck_auth_cors_new(&s, err, sizeof(err))) == NULL) {
        ck_error("CORS configuration: %s", err);
        return -1;
    }
    if (ck_auth_cors_enabled(g_gate.cors))
        ck_info("CORS: allowed origins %s", s.origins);
    return 0;
}

int ck_auth_gate_init(void)
{
    ck_auth_gate_shutdown();
    if (init_auth() != 0 || init_limits() != 0 || init_cors() != 0) {
        ck_auth_gate_shutdown();
        return -1;
    }
    return 0;
}

void ck_auth_gate_shutdown(void)
{
    ck_auth_jwt_free(g_gate.jwt);
    ck_auth_jwks_source_stop(g_gate.jwks);
    ck_auth_rate_free(g_gate.rate);
    ck_auth_cors_free(g_gate.cors);
    memset(&g_gate, 0, sizeof(g_gate));
}

uint64_t ck_auth_gate_max_stream_ms(void) { return g_gate.max_stream_ms; }

json_t *ck_auth_gate_summary(void)
{
    return json_pack("{s:s,s:{s:I,s:I,s:I,s:I},s:b}", "auth",
                     g_gate.auth_desc[0] ? g_gate.auth_desc : "development (X-User-Id header, no authentication)",
                     "limits", "requests_per_min", (json_int_t)g_gate.limits[0], "turns_per_min",
                     (json_int_t)g_gate.limits[1], "streams_per_user", (json_int_t)g_gate.limits[2],
                     "max_stream_seconds", (json_int_t)g_gate.limits[3], "cors", ck_auth_cors_enabled(g_gate.cors));
}

int ck_auth_gate_uses_jwt(void) { return g_gate.jwt != NULL; }

void ck_auth_gate_turn_end(const char *user_id)
{
    if (g_gate.rate != NULL)
        ck_auth_rate_stream_end(g_gate.rate, user_id);
}

/* --- the decisions ---------------------------------------------------------- */

void ck_auth_gate_cors(const ck_auth_cors_request_t *req, ck_auth_cors_decision_t *out)
{
    ck_auth_cors_decide(g_gate.cors, req, out);
}

const char *ck_auth_bearer_token(const char *v, size_t n, size_t *len)
{
    *len = 0;
    if (v == NULL || n < 7 || strncasecmp(v, "bearer ", 7) != 0)
        return NULL;
    size_t start = 7;
    while (start < n && v[start] == ' ')
        start++;
    while (n > start && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n - start;
    return v + start;
}

static int refuse(ck_auth_refusal_t *why, int status, const char *code, const char *message, const char *challenge)
{
    /* a 401's message is its reason code (missing_token, invalid_request, the token check's code) */
    *why = (ck_auth_refusal_t){status, code, message, challenge, 0, status == 401 ? message : code};
    return 0;
}

/* With a JWT key: the bearer token decides. */
static int identify_jwt(const char *authz, size_t authz_len, int authz_count, char *user_id, ck_auth_refusal_t *why)
{
    if (authz_count > 1)
        return refuse(why, 401, "unauthorized", "invalid_request",
                      "Bearer realm=\"chatkitd\", error=\"invalid_request\"");
    size_t len = 0;
    const char *token = ck_auth_bearer_token(authz, authz_len, &len);
    if (token == NULL || len == 0)
        return refuse(why, 401, "unauthorized", "missing_token", "Bearer realm=\"chatkitd\"");
    ck_auth_jwt_result_t r = ck_auth_jwt_verify(g_gate.jwt, token, len, time(NULL), user_id);
    if (r != CK_AUTH_JWT_OK) {
        ck_debug("gate: rejected bearer token (%s)", ck_auth_jwt_result_code(r));
        return refuse(why, 401, "unauthorized", ck_auth_jwt_result_code(r),
                      "Bearer realm=\"chatkitd\", error=\"invalid_token\"");
    }
    return 1;
}

/* Development mode: X-User-Id, 1..255 bytes without control characters,
 * default "anonymous". */
static int identify_dev(const char *v, size_t n, char *user_id, ck_auth_refusal_t *why)
{
    if (v == NULL || n == 0) {
        strcpy(user_id, "anonymous");
        return 1;
    }
    int ok = n < CK_USER_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
    if (!ok)
        return refuse(why, 400, "invalid_user_id", "X-User-Id must be 1-255 bytes without control characters", NULL);
    memcpy(user_id, v, n);
    user_id[n] = '\0';
    return 1;
}

int ck_auth_gate_identify(const char *authorization, size_t authorization_len, int authorization_count,
                          const char *x_user_id, size_t x_user_id_len, char *user_id, ck_auth_refusal_t *why)
{
    user_id[0] = '\0';
    if (g_gate.jwt != NULL)
        return identify_jwt(authorization, authorization_len, authorization_count, user_id, why);
    return identify_dev(x_user_id, x_user_id_len, user_id, why);
}

int ck_auth_gate_admit(const char *user_id, int turn, ck_auth_refusal_t *why)
{
    if (g_gate.rate == NULL)
        return 1;
    uint32_t retry = 1;
    ck_auth_rate_verdict_t v = ck_auth_rate_admit(g_gate.rate, user_id, turn, &retry);
    if (v == CK_AUTH_RATE_OK)
        return 1;
    switch (v) {
    case CK_AUTH_RATE_TURNS:
        refuse(why, 429, "rate_limited", "too many turns; retry later", NULL);
        break;
    case CK_AUTH_RATE_STREAMS:
        refuse(why, 429, "too_many_streams", "too many open streams for this user", NULL);
        break;
    case CK_AUTH_RATE_FULL:
        refuse(why, 503, "overloaded", "too many users at once; retry later", NULL);
        break;
    default:
        refuse(why, 429, "rate_limited", "too many requests; retry later", NULL);
        break;
    }
    why->retry_after_s = retry;
    why->label = v == CK_AUTH_RATE_TURNS     ? "turns"
                 : v == CK_AUTH_RATE_STREAMS ? "streams"
                 : v == CK_AUTH_RATE_FULL    ? "users"
                                             : "requests";
    return 0;
}
