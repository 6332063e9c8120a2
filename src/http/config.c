/*
 * config.c - the HTTP server's settings from the environment (see
 * server.h, ck_http_config_t), read through src/base/env.h, which checks
 * every variable once at start-up so a typo fails loudly instead of serving
 * with a surprising default.  The checks that span variables (TLS) are here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/env.h"
#include "base/log.h"
#include "http/server.h"

/* CHATKITD_WORKERS, else one per online core (at most 256). */
static int workers(void)
{
    if (ck_env_is_set("CHATKITD_WORKERS"))
        return (int)ck_env_int("CHATKITD_WORKERS");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)(cores < 256 ? cores : 256) : 1;
}

static int upload_secret(ck_http_config_t *c)
{
    const char *v = ck_env_str("CHATKITD_UPLOAD_SECRET");
    if (v != NULL) {
        size_t n = strlen(v);
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
    const char *v = ck_env_str("CHATKITD_PUBLIC_URL");
    c->public_url = NULL;
    if (v == NULL)
        return 0;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    c->public_url = strndup(v, n);
    return c->public_url != NULL ? 0 : -1;
}

int ck_http_config_from_env(ck_http_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = ck_env_str("CHATKITD_LISTEN");
    c->tls_listen = ck_env_str("CHATKITD_TLS_LISTEN");
    c->tls_cert = ck_env_str("CHATKITD_TLS_CERT");
    c->tls_key = ck_env_str("CHATKITD_TLS_KEY");
    c->database_url = ck_env_str("DATABASE_URL");
    c->docs_dir = ck_env_str("CHATKITD_DOCS_DIR");
    c->upload_mime_types = ck_env_str("CHATKITD_UPLOAD_MIME_TYPES");
    c->model_configured = ck_env_is_set("OPENAI_API_KEY") || ck_env_is_set("OPENAI_BASE_URL");
    c->heartbeat_ms = (uint64_t)ck_env_int("CHATKITD_HEARTBEAT_MS");
    c->workers = workers();
    c->db_connections = (int)ck_env_int("CHATKITD_DB_CONNECTIONS");
    c->max_body = ck_env_size("CHATKITD_MAX_BODY");
    c->upload_max_bytes = ck_env_size("CHATKITD_UPLOAD_MAX_BYTES");
    c->redact_pii = strcmp(ck_env_str("CHATKITD_REDACT_PII"), "on") == 0;
    c->persist_retry_ms = (uint64_t)ck_env_int("CHATKITD_PERSIST_RETRY_SECONDS") * 1000;
    c->shutdown_grace_ms = (uint64_t)ck_env_int("CHATKITD_SHUTDOWN_GRACE_SECONDS") * 1000;
    c->metrics_token = ck_env_str("CHATKITD_METRICS_TOKEN");
    c->admin_token = ck_env_str("CHATKITD_ADMIN_TOKEN");
    c->audit_retention_days = (int)ck_env_int("CHATKITD_AUDIT_RETENTION_DAYS");
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
    if (upload_secret(c) != 0 || public_url(c) != 0)
        return -1;
    return 0;
}

void ck_http_config_release(ck_http_config_t *c)
{
    free((char *)c->public_url);
    c->public_url = NULL;
    memset(c->upload_secret, 0, sizeof c->upload_secret);
}
