/*
 * server.h - the HTTP server: configuration, worker threads and routes.
 *
 * The process runs N worker threads (CHATKITD_WORKERS, default one per core).
 * Each worker owns one h2o event loop, its own listening socket(s) bound with
 * SO_REUSEPORT to the shared address, one ck_loop_t over that evloop, one
 * per-worker store (src/store) and one agent (src/agent).  Everything a
 * request handler needs is reachable from its worker, which handlers find
 * with ck_http_worker_of(req).  Nothing is shared between workers except the
 * read-only server configuration and the pre-rendered documentation pages.
 *
 * An admin thread (not an event loop) applies the database migrations until
 * they succeed, so the server starts and serves /healthz even while
 * PostgreSQL is down.
 */
#ifndef CK_HTTP_SERVER_H
#define CK_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>

#include "agent/agent.h"
#include "base/loop.h"
#include "store/store.h"

/* Process-wide settings, read once from the environment (ck_http_config_from_env). */
typedef struct ck_http_config {
    const char *listen;              /* CHATKITD_LISTEN, default "127.0.0.1:8000" */
    const char *tls_listen;          /* CHATKITD_TLS_LISTEN, or NULL */
    const char *tls_cert;            /* CHATKITD_TLS_CERT (PEM chain), or NULL */
    const char *tls_key;             /* CHATKITD_TLS_KEY (PEM), or NULL */
    const char *database_url;        /* DATABASE_URL, or NULL: degraded mode */
    const char *public_url;          /* CHATKITD_PUBLIC_URL without trailing '/' (malloc'd), or NULL */
    const char *docs_dir;            /* CHATKITD_DOCS_DIR, or NULL: ./docs, else docs/ beside the binary's folder */
    const char *upload_mime_types;   /* CHATKITD_UPLOAD_MIME_TYPES, comma-separated, '*' wildcards */
    int workers;                     /* CHATKITD_WORKERS, default number of online cores */
    int db_connections;              /* CHATKITD_DB_CONNECTIONS: PostgreSQL connections per worker, default 2 */
    size_t max_body;                 /* CHATKITD_MAX_BODY: POST /chatkit body limit, default 1 MiB */
    size_t upload_max_bytes;         /* CHATKITD_UPLOAD_MAX_BYTES, default 10 MiB */
    unsigned char upload_secret[64]; /* CHATKITD_UPLOAD_SECRET (up to 64 bytes used) or random per process */
    size_t upload_secret_len;
    int model_configured;       /* OPENAI_API_KEY or OPENAI_BASE_URL is set */
    uint64_t heartbeat_ms;      /* CHATKITD_HEARTBEAT_MS: SSE comment after this much silence, default 15000 */
    int redact_pii;             /* CHATKITD_REDACT_PII=on: user text is redacted before it is stored (default off) */
    uint64_t persist_retry_ms;  /* CHATKITD_PERSIST_RETRY_SECONDS: a stream's write retried this long on
                                   a lost database connection, default 10 s */
    uint64_t shutdown_grace_ms; /* CHATKITD_SHUTDOWN_GRACE_SECONDS: open streams may finish this long
                                   after SIGTERM before they are ended, default 10 s */
    const char *metrics_token;  /* CHATKITD_METRICS_TOKEN: Bearer token GET /metrics requires, or NULL (open) */
    const char *admin_token;  /* CHATKITD_ADMIN_TOKEN: Bearer token of the /admin/ routes, or NULL (routes disabled) */
    int audit_retention_days; /* CHATKITD_AUDIT_RETENTION_DAYS: audit and usage rows kept this long, default 90 */
} ck_http_config_t;

/* One worker thread.  Owned by the server; lives from ck_http_server_start()
 * to ck_http_server_stop(). */
struct ck_http_worker {
    h2o_context_t ctx;               /* h2o context; ctx.loop == evloop */
    h2o_evloop_t *evloop;            /* this worker's h2o event loop */
    ck_loop_t *loop;                 /* the same loop as seen by src/store and src/agent */
    ck_store_t *store;               /* this worker's store, or NULL without DATABASE_URL */
    ck_agent_t *agent;               /* this worker's agent, or NULL without a store */
    int index;                       /* 0..workers-1 */
    const ck_http_config_t *config;  /* the server's configuration (read-only) */
    const struct ck_http_docs *docs; /* the rendered documentation pages (read-only) */
    struct ck_http_server *server;   /* the owning server */
    pthread_t thread;
    h2o_accept_ctx_t accept_ctx;     /* cleartext listener */
    h2o_accept_ctx_t tls_accept_ctx; /* TLS listener (ssl_ctx set) */
    h2o_socket_t *listener;          /* cleartext listening socket, or NULL */
    h2o_socket_t *tls_listener;      /* TLS listening socket, or NULL */
    int stopping;                    /* set on the worker's thread when the server stops */
    h2o_linklist_t turns;            /* streamed turns alive on this worker (stream_turn.c) */
    /* HTTP/1.x stream sockets whose client may leave (stream_turn.c), or NULL */
    struct ck_http_peer_watch *peers;
};

typedef struct ck_http_worker ck_http_worker_t;

typedef struct ck_http_server ck_http_server_t;

/* Fills `config` from the environment.  Returns 0, or -1 on an invalid
 * value (logged).  Strings point into the environment (not copied), except
 * public_url: release the config with ck_http_config_release(). */
int ck_http_config_from_env(ck_http_config_t *config);
void ck_http_config_release(ck_http_config_t *config);

/* Binds, starts the admin thread and the workers.  Returns the server
 * (free with ck_http_server_stop()) or NULL on failure (logged). */
ck_http_server_t *ck_http_server_start(const ck_http_config_t *config);

/* Stops accepting, ends every worker loop, joins the threads and frees
 * everything.  Safe to call from the main thread only. */
void ck_http_server_stop(ck_http_server_t *server);

/* The worker whose h2o context runs `req`. */
ck_http_worker_t *ck_http_worker_of(h2o_req_t *req);

#endif
