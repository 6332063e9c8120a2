/*
 * config.c - the HTTP server's settings from the environment (see
 * server.h, ck_http_config_t).  Validates every value once at start-up so a
 * typo fails loudly instead of serving with a surprising default.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/log.h"
#include "http/server.h"
#include "http/upload_policy.h"

#define CK_MIN_SECRET_BYTES 16

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : fallback;
}

/* Parses a positive size with an optional K/M/G (binary) suffix. */
static int env_size(const char *name, size_t fallback, size_t *out)
{
    const char *v = env_or(name, NULL);
    if (v == NULL) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (errno != 0 || end == v || *end != '\0' || n == 0 || n > (UINT64_C(1) << 40) >> shift) {
        ck_error("config: %s=%s is not a positive size (bytes, or with a K/M/G suffix)", name, v);
        return -1;
    }
    *out = (size_t)(n << shift);
    return 0;
}

/* CHATKITD_HEARTBEAT_MS: a positive integer; anything else means the
 * default (lenient, as it always was: a heartbeat cannot be switched off). */
static uint64_t env_heartbeat_ms(void)
{
    const char *v = env_or("CHATKITD_HEARTBEAT_MS", NULL);
    long n = v != NULL ? strtol(v, NULL, 10) : 0;
    return n > 0 ? (uint64_t)n : 15000;
}

/* A whole number of seconds in 0..max (default `fallback`), as ms. */
static int env_seconds(const char *name, long fallback, long max, uint64_t *out_ms)
{
    const char *v = env_or(name, NULL);
    char *end = NULL;
    long n = v != NULL ? strtol(v, &end, 10) : fallback;
    if (v != NULL && (end == v || *end != '\0' || n < 0 || n > max)) {
        ck_error("config: %s=%s must be a whole number of seconds in 0..%ld", name, v, max);
        return -1;
    }
    *out_ms = (uint64_t)n * 1000;
    return 0;
}

/* CHATKITD_AUDIT_RETENTION_DAYS: 1..36500, default 90. */
static int env_retention(int *out)
{
    const char *v = env_or("CHATKITD_AUDIT_RETENTION_DAYS", NULL);
    char *end;
    long n = v != NULL ? strtol(v, &end, 10) : 90;
    if (v != NULL && (*end != '\0' || n < 1 || n > 36500)) {
        ck_error("config: CHATKITD_AUDIT_RETENTION_DAYS=%s must be a number of days in 1..36500", v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int env_workers(int *out)
{
    const char *v = env_or("CHATKITD_WORKERS", NULL);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (v == NULL) {
        *out = cores > 0 ? (int)(cores < 256 ? cores : 256) : 1;
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < 1 || n > 256) {
        ck_error("config: CHATKITD_WORKERS=%s must be an integer in 1..256", v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int upload_secret(ck_http_config_t *c)
{
    const char *v = env_or("CHATKITD_UPLOAD_SECRET", NULL);
    if (v != NULL) {
        size_t n = strlen(v);
        if (n < CK_MIN_SECRET_BYTES) {
            ck_error("config: CHATKITD_UPLOAD_SECRET must be at least %d bytes", CK_MIN_SECRET_BYTES);
            return -1;
        }
        c->upload_secret_len = n < sizeof c->upload_secret ? n : sizeof c->upload_secret;
        memcpy(c->upload_secret, v, c->upload_secret_len);
        return 0;
    }
    c->upload_secret_len = 32;
    if (RAND_bytes(c->upload_secret, (int)c->upload_secret_len) != 1) {
        ck_error("config: cannot generate a random upload secret");
        return -1;
    }
    ck_warn("config: CHATKITD_UPLOAD_SECRET is not set: using a random key, so upload and preview URLs stop "
            "working when this process exits (and differ between processes)");
    return 0;
}

static int public_url(ck_http_config_t *c)
{
    const char *v = env_or("CHATKITD_PUBLIC_URL", NULL);
    c->public_url = NULL;
    if (v == NULL)
        return 0;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || n >= 256 || strpbrk(v, " \"<>\\^`{|}") != NULL) {
        ck_error("config: CHATKITD_PUBLIC_URL=%s must be an absolute http(s) URL", v);
        return -1;
    }
    c->public_url = strndup(v, n);
    return c->public_url != NULL ? 0 : -1;
}

/* CHATKITD_REDACT_PII: off (default) or on; anything else refuses to start. */
static int env_redact(int *out)
{
    const char *v = env_or("CHATKITD_REDACT_PII", "off");
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        ck_error("config: CHATKITD_REDACT_PII=%s must be on or off", v);
        return -1;
    }
    *out = strcmp(v, "on") == 0;
    return 0;
}

int ck_http_config_from_env(ck_http_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = env_or("CHATKITD_LISTEN", "127.0.0.1:8000");
    c->tls_listen = env_or("CHATKITD_TLS_LISTEN", NULL);
    c->tls_cert = env_or("CHATKITD_TLS_CERT", NULL);
    c->tls_key = env_or("CHATKITD_TLS_KEY", NULL);
    c->database_url = env_or("DATABASE_URL", NULL);
    c->docs_dir = env_or("CHATKITD_DOCS_DIR", NULL);
    c->upload_mime_types = env_or("CHATKITD_UPLOAD_MIME_TYPES", CK_HTTP_DEFAULT_MIME_TYPES);
    c->model_configured = env_or("OPENAI_API_KEY", NULL) != NULL || env_or("OPENAI_BASE_URL", NULL) != NULL;
    c->heartbeat_ms = env_heartbeat_ms();
    c->metrics_token = env_or("CHATKITD_METRICS_TOKEN", NULL);
    c->admin_token = env_or("CHATKITD_ADMIN_TOKEN", NULL);
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        ck_error("config: CHATKITD_TLS_CERT and CHATKITD_TLS_KEY must be set together");
        return -1;
    }
    char why[256];
    if (c->database_url != NULL && ck_store_conninfo_check(c->database_url, why, sizeof why) != 0) {
        ck_error("config: DATABASE_URL is not a valid libpq URI or conninfo string: %s", why);
        return -1;
    }
    if (c->tls_listen != NULL && c->tls_cert == NULL) {
        ck_error("config: CHATKITD_TLS_LISTEN needs CHATKITD_TLS_CERT and CHATKITD_TLS_KEY");
        return -1;
    }
    if (env_workers(&c->workers) != 0 || env_retention(&c->audit_retention_days) != 0 || env_size("CHATKITD_MAX_BODY", 1 << 20, &c->max_body) != 0 ||
        env_size("CHATKITD_UPLOAD_MAX_BYTES", 10 << 20, &c->upload_max_bytes) != 0 || upload_secret(c) != 0 ||
        public_url(c) != 0 || env_redact(&c->redact_pii) != 0 ||
        env_seconds("CHATKITD_PERSIST_RETRY_SECONDS", 10, 300, &c->persist_retry_ms) != 0 ||
        env_seconds("CHATKITD_SHUTDOWN_GRACE_SECONDS", 10, 3600, &c->shutdown_grace_ms) != 0)
        return -1;
    return 0;
}

void ck_http_config_release(ck_http_config_t *c)
{
    free((char *)c->public_url);
    c->public_url = NULL;
    memset(c->upload_secret, 0, sizeof c->upload_secret);
}
