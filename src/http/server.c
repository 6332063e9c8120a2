/*
 * server.c - listeners, worker threads, the admin thread and shutdown
 * (see server.h).
 *
 * Start-up (main thread): load the docs, build the shared h2o configuration
 * (one globalconf for all workers, one SSL_CTX when TLS is on), check that
 * no other process serves the address (a probe bind without SO_REUSEPORT),
 * bind one listening socket per worker and address with SO_REUSEPORT (so
 * the kernel spreads connections over the workers and a bind error is
 * reported before any thread starts), start the admin thread, then the
 * workers.
 *
 * Worker thread: creates its evloop, h2o context, ck_loop, store and agent,
 * accepts on its own sockets and runs the loop until the stop pipe becomes
 * readable.  Then it closes its listeners, asks h2o to shut connections down
 * (HTTP/2 GOAWAY), lets open streams finish for the grace time
 * (CHATKITD_SHUTDOWN_GRACE_SECONDS), ends those still running (their
 * partial text saved), serves what is left for at most CK_HTTP_DRAIN_MS,
 * and frees everything it created on its own thread.
 *
 * Admin thread: with DATABASE_URL set, applies the migrations every second
 * until they succeed, then re-applies them every CK_HTTP_RECHECK_MS (a no-op
 * when up to date; it recreates the schema if the database was recreated)
 * and keeps ck_store_set_schema_ready() in step with the outcome.
 */
#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "base/log.h"
#include "base/metrics.h"
#include "base/version.h"
#include "http/docs.h"
#include "http/gate.h"
#include "http/peer_watch.h"
#include "http/request_ctx.h"
#include "loop/loop_h2o.h"
#include "http/router.h"
#include "http/stream_turn.h"
#include "store/ops_record.h"
#include "store/resolve.h"

#define CK_HTTP_DRAIN_MS                                                                                               \
    2000 /* after the grace time: how long the ended turns (saving their partial text) and other requests may finish */
#define CK_HTTP_DRAIN_TICK_MS 50
#define CK_HTTP_RETRY_MS 1000    /* admin thread: migration retry while failing */
#define CK_HTTP_RECHECK_MS 10000 /* admin thread: re-check once migrated */
#define CK_HTTP_PRUNE_S 3600     /* admin thread: audit/usage retention pass */
#define CK_HTTP_LISTEN_BACKLOG 1024
#define CK_HTTP_SOCKET_BUFFER 4096 /* initial input buffer of a connection (h2o reads 4 KiB at a time) */

struct ck_http_server {
    ck_http_config_t config; /* copy; workers point here */
    h2o_globalconf_t globalconf;
    SSL_CTX *ssl_ctx; /* NULL without TLS */
    ck_http_docs_t *docs;
    ck_agent_config_t agent_config;
    ck_http_worker_t *workers; /* config.workers entries */
    int *listen_fds;           /* per worker: cleartext fd or -1 */
    int *tls_fds;              /* per worker: TLS fd or -1 */
    int slots;                 /* entries of workers/listen_fds/tls_fds */
    int stop_pipe[2];          /* written once by ck_http_server_stop() */
    pthread_t admin;
    int admin_started;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* admin sleeps; workers report start-up */
    int stopping;
    int threads; /* worker threads created */
    int workers_started, workers_failed, workers_finished;
    int workers_undrained; /* finished with connections still open (context not disposed) */
};

/* h2o 2.2.5 keeps freed memory in per-thread recycle lists (thread-local,
 * with no API to release them), so a worker thread that exited would turn
 * them into leaks.  A finished worker parks here until the process exits. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

ck_http_worker_t *ck_http_worker_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(ck_http_worker_t, ctx, req->conn->ctx);
}

/* --- listeners ------------------------------------------------------------ */

/* Splits "host:port" / "[v6]:port" / ":port" into host (may be "") and port. */
static int split_address(const char *addr, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= port_cap)
        return -1;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
        h++, hlen -= 2;
    if (hlen >= host_cap)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* The port of "host:port" must be a number in 1..65535 (getaddrinfo
 * would take 99999 modulo 65536, or a service name). */
static int valid_port(const char *port)
{
    char *end;
    errno = 0;
    long n = strtol(port, &end, 10);
    return port[0] >= '0' && port[0] <= '9' && *end == '\0' && errno == 0 && n >= 1 && n <= 65535;
}

/* A non-blocking listening socket on `addr`, or -1 (logged).  `shared`:
 * with SO_REUSEPORT, so that every worker of this process binds its own
 * socket to the address; without it the bind fails when any socket
 * listens there already (the probe of open_listeners()). */
static int open_listener(const char *addr, int shared)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    if (split_address(addr, host, sizeof host, port, sizeof port) != 0) {
        ck_error("listen: %s is not host:port", addr);
        return -1;
    }
    if (!valid_port(port)) {
        ck_error("listen: %s: the port must be a number in 1..65535", addr);
        return -1;
    }
    int rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        ck_error("listen: %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, CK_HTTP_LISTEN_BACKLOG) != 0) {
        if (errno == EADDRINUSE)
            ck_error("listen: %s is already served by another process (or in use): refusing to share it", addr);
        else
            ck_error("listen: %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Refuses an address another process serves already: the workers' sockets
 * use SO_REUSEPORT, which would let them join that process's sockets
 * (same user) and silently split the traffic with it.  So a probe socket
 * without SO_REUSEPORT binds first (this fails when anything listens
 * there) and is closed right before the workers bind. */
static int probe_address(const char *addr)
{
    int fd = open_listener(addr, 0);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static SSL_CTX *create_ssl_ctx(const ck_http_config_t *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ck_error("tls: cannot use CHATKITD_TLS_CERT=%s / CHATKITD_TLS_KEY=%s (unreadable, not PEM, or not a pair)",
                 c->tls_cert, c->tls_key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

/* --- worker threads ------------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 64; i++) { /* accept a batch, then let the loop breathe */
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        h2o_accept(accept_ctx, sock);
    }
}

static h2o_socket_t *start_listener(ck_http_worker_t *w, int fd, h2o_accept_ctx_t *accept_ctx, SSL_CTX *ssl_ctx)
{
    accept_ctx->ctx = &w->ctx;
    accept_ctx->hosts = w->ctx.globalconf->hosts;
    accept_ctx->ssl_ctx = ssl_ctx;
    h2o_socket_t *sock = h2o_evloop_socket_create(w->evloop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

/* Workers of a stopped server that could not drain: their h2o contexts
 * (and the connections, requests and turns these still hold) were left
 * undisposed on purpose, so the workers are kept here, reachable, instead
 * of being freed under them (found by tests/stress: a slow reader of a long
 * stream at SIGTERM made LeakSanitizer report 14 MB and fail the exit). */
static ck_http_worker_t *abandoned_workers;

static void on_stop_pipe(ck_watch_t *watch, int events, void *user)
{
    (void)watch, (void)events;
    ck_http_worker_t *w = user;
    w->stopping = 1;
}

static void on_drain_tick(ck_timer_t *timer, void *user)
{
    (void)user;
    ck_timer_arm(timer, CK_HTTP_DRAIN_TICK_MS);
}

static int has_connections(h2o_context_t *ctx)
{
    return !h2o_linklist_is_empty(&ctx->http1._conns) || !h2o_linklist_is_empty(&ctx->http2._conns);
}

/* Stops accepting and serves in-flight requests: streamed turns may finish
 * for up to the grace time (CHATKITD_SHUTDOWN_GRACE_SECONDS), then those
 * still running are ended (their partial text saved) and everything gets
 * CK_HTTP_DRAIN_MS more.  Returns 1 when every connection closed. */
static int drain(ck_http_worker_t *w)
{
    if (w->listener != NULL)
        h2o_socket_close(w->listener);
    if (w->tls_listener != NULL)
        h2o_socket_close(w->tls_listener);
    w->listener = w->tls_listener = NULL;
    h2o_context_request_shutdown(&w->ctx);
    /* h2o 2.2.5 keeps idle keep-alive connections until their idle timeout:
     * expire this context's idle buckets now (busy requests are not in them) */
    w->ctx.http1.req_timeout.timeout = 0;
    w->ctx.http2.idle_timeout.timeout = 0;
    ck_timer_t *tick = ck_timer_new(w->loop, on_drain_tick, NULL);
    if (tick != NULL)
        ck_timer_arm(tick, CK_HTTP_DRAIN_TICK_MS);
    uint64_t grace_end = ck_loop_now_ms(w->loop) + w->config->shutdown_grace_ms;
    uint64_t deadline = grace_end + CK_HTTP_DRAIN_MS;
    int turns_stopped = 0;
    if (ck_http_stream_turns_open(w))
        ck_info("worker %d: letting open streams finish for up to %llu ms", w->index,
                (unsigned long long)w->config->shutdown_grace_ms);
    while (tick != NULL && has_connections(&w->ctx) && ck_loop_now_ms(w->loop) < deadline) {
        /* streamed turns get the grace time, then are ended (partial text saved) */
        if (!turns_stopped && (ck_loop_now_ms(w->loop) >= grace_end || !ck_http_stream_turns_open(w))) {
            ck_http_stream_turn_shutdown(w);
            turns_stopped = 1;
            deadline = ck_loop_now_ms(w->loop) + CK_HTTP_DRAIN_MS;
        }
        if (ck_loop_run_once(w->loop) != 0)
            break;
    }
    ck_timer_free(tick);
    return !has_connections(&w->ctx);
}

/* Creates the worker's loop, context, store and agent (on its own thread). */
static int worker_setup(ck_http_worker_t *w)
{
    ck_http_server_t *s = w->server;
    h2o_linklist_init_anchor(&w->turns);
    /* Every connection's input buffer starts at the prototype's capacity
     * (8 KiB) and stays allocated while the connection is open: an HTTP/1.1
     * request's headers point into it until its response ends, i.e. for the
     * whole life of a stream.  h2o reads at least 4 KiB at a time, so 4 KiB
     * still holds a usual request in one allocation (a larger one grows
     * it) and saves 4 KiB per open stream.  The prototype is per thread. */
    h2o_socket_buffer_prototype._initial_buf.capacity = CK_HTTP_SOCKET_BUFFER;
    w->evloop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->evloop, &s->globalconf);
    if ((w->loop = ck_loop_new(w->evloop)) == NULL)
        return -1;
    if (s->config.database_url != NULL) {
        ck_store_config_t sc = {s->config.database_url, s->config.db_connections, CK_HTTP_RETRY_MS};
        if ((w->store = ck_store_create(w->loop, &sc)) == NULL)
            return -1;
        if ((w->agent = ck_agent_create(w->loop, w->store, &s->agent_config)) == NULL)
            return -1;
    }
    if (s->listen_fds[w->index] >= 0)
        w->listener =
            start_listener(w, s->listen_fds[w->index], &w->accept_ctx, s->tls_fds[w->index] >= 0 ? NULL : s->ssl_ctx);
    if (s->tls_fds[w->index] >= 0)
        w->tls_listener = start_listener(w, s->tls_fds[w->index], &w->tls_accept_ctx, s->ssl_ctx);
    s->listen_fds[w->index] = s->tls_fds[w->index] = -1; /* owned by the h2o sockets now */
    return 0;
}

/* Frees what worker_setup() created; skips the h2o context when
 * connections are still open (h2o cannot dispose of a busy context). */
static void worker_teardown(ck_http_worker_t *w, int drained)
{
    if (w->agent != NULL)
        ck_agent_destroy(w->agent);
    if (w->store != NULL)
        ck_store_destroy(w->store);
    w->agent = NULL;
    w->store = NULL;
    if (!drained) {
        ck_warn("worker %d: connections still open after %d ms; exiting without closing them", w->index,
                CK_HTTP_DRAIN_MS);
        return;
    }
    ck_http_peer_watch_free(w->peers); /* every turn that used it has ended */
    w->peers = NULL;
    if (w->loop != NULL)
        ck_loop_free(w->loop);
    w->loop = NULL;
    /* h2o_context_request_shutdown() armed the HTTP/2 GOAWAY re-send timer */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    h2o_multithread_queue_t *queue = w->ctx.queue;
    h2o_context_dispose(&w->ctx);
    free(queue); /* 2.2.5's evloop h2o_multithread_destroy_queue() never frees the queue itself */
    h2o_evloop_destroy(w->evloop);
    w->evloop = NULL;
}

static void report(ck_http_server_t *s, int *counter, int failed)
{
    pthread_mutex_lock(&s->lock);
    (*counter)++;
    s->workers_failed += failed;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void park_forever(void)
{
    pthread_mutex_lock(&park_lock);
    for (;;)
        pthread_cond_wait(&park_cond, &park_lock);
}

static void *worker_main(void *arg)
{
    ck_http_worker_t *w = arg;
    int ok = worker_setup(w) == 0;
    ck_watch_t *stop = ok ? ck_watch_start(w->loop, w->server->stop_pipe[0], on_stop_pipe, w) : NULL;
    report(w->server, &w->server->workers_started, !(ok && stop != NULL));
    if (stop != NULL) {
        ck_watch_want(stop, CK_READABLE);
        while (!w->stopping)
            if (ck_loop_run_once(w->loop) != 0) {
                ck_error("worker %d: event loop failed", w->index);
                break;
            }
        ck_watch_stop(stop);
    }
    int drained = w->evloop != NULL ? drain(w) : 1;
    worker_teardown(w, drained);
    if (!drained)
        report(w->server, &w->server->workers_undrained, 0);
    report(w->server, &w->server->workers_finished, 0); /* last use of the server */
    park_forever();
    return NULL;
}

/* --- admin thread --------------------------------------------------------- */

/* Sleeps `ms` unless the server stops; returns 1 when stopping. */
static int admin_sleep(ck_http_server_t *s, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
        ;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

/* Deletes audit and usage rows past CHATKITD_AUDIT_RETENTION_DAYS, once at
 * start and then every CK_HTTP_PRUNE_S (blocking: this is the admin thread). */
static void maybe_prune(ck_http_server_t *s, struct timespec *last)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (last->tv_sec != 0 && now.tv_sec - last->tv_sec < CK_HTTP_PRUNE_S)
        return;
    *last = now;
    long n = ck_store_prune(s->config.database_url, s->config.audit_retention_days);
    if (n > 0)
        ck_info("admin: pruned %ld audit and usage rows older than %d days", n, s->config.audit_retention_days);
}

static void *admin_main(void *arg)
{
    ck_http_server_t *s = arg;
    int ready = 0, failures = 0;
    struct timespec last_prune = {0, 0};
    do {
        ck_store_resolve_refresh(s->config.database_url); /* DNS here, never on a worker loop */
        int rc = ck_store_migrate(s->config.database_url);
        /* a schema once migrated stays usable while the database cannot be
         * reached (a restart): the workers' calls wait for their own
         * connections instead of failing at once on the flag */
        int ok = rc == 0 || (rc == -2 && ready);
        if (ok != ready)
            ck_log(ok ? CK_LOG_INFO : CK_LOG_WARN, "admin: database schema %s", ok ? "ready" : "not available");
        ready = ok;
        ck_store_set_schema_ready(ok);
        failures = ok ? 0 : failures + 1;
        if (rc != 0 && ready)
            ck_debug("admin: migration check failed (%d); the schema stays ready", rc);
        if (!ok && (failures == 1 || failures % 60 == 0))
            ck_warn("admin: migrations failed (attempt %d); retrying every %d ms", failures, CK_HTTP_RETRY_MS);
        if (ok)
            maybe_prune(s, &last_prune);
    } while (!admin_sleep(s, ready ? CK_HTTP_RECHECK_MS : CK_HTTP_RETRY_MS));
    return NULL;
}

/* --- start / stop --------------------------------------------------------- */

static int open_listeners(ck_http_server_t *s)
{
    const ck_http_config_t *c = &s->config;
    if (probe_address(c->listen) != 0 || (c->tls_listen != NULL && probe_address(c->tls_listen) != 0))
        return -1;
    for (int i = 0; i < c->workers; i++) {
        if ((s->listen_fds[i] = open_listener(c->listen, 1)) < 0)
            return -1;
        if (c->tls_listen != NULL && (s->tls_fds[i] = open_listener(c->tls_listen, 1)) < 0)
            return -1;
    }
    if (c->tls_cert == NULL)
        ck_info("serving http://%s/ (HTTP/1.1 and h2c) with %d worker(s)", c->listen, c->workers);
    else if (c->tls_listen == NULL)
        ck_info("serving https://%s/ (TLS, ALPN h2 + http/1.1) with %d worker(s)", c->listen, c->workers);
    else
        ck_info("serving https://%s/ (TLS) and http://%s/ (cleartext) with %d worker(s)", c->tls_listen, c->listen,
                c->workers);
    return 0;
}

/* The docs directory: CHATKITD_DOCS_DIR, ./docs, or <binary>/../docs. */
static ck_http_docs_t *load_docs(const ck_http_config_t *c)
{
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    if (c->docs_dir != NULL)
        return ck_http_docs_load(c->docs_dir);
    if (access("docs", R_OK | X_OK) == 0)
        return ck_http_docs_load("docs");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(dir, sizeof dir, "%s/../docs", exe);
    return ck_http_docs_load(dir);
}

/* h2o's own body ceiling: well above the application limits (which answer
 * 413 as JSON), so h2o's bare 413 / HTTP/2 REFUSED_STREAM is only for abuse. */
static size_t entity_ceiling(const ck_http_config_t *c)
{
    size_t app = c->max_body > c->upload_max_bytes ? c->max_body : c->upload_max_bytes;
    return app > SIZE_MAX / 2 ? SIZE_MAX : 2 * app + 65536;
}

static int server_init(ck_http_server_t *s)
{
    const ck_http_config_t *c = &s->config;
    int n = c->workers;
    s->workers = calloc((size_t)n, sizeof *s->workers);
    int *fds = malloc(2 * (size_t)n * sizeof(int));
    if (s->workers == NULL || fds == NULL || pipe2(s->stop_pipe, O_CLOEXEC) != 0) {
        free(fds);
        return -1;
    }
    for (int i = 0; i < 2 * n; i++)
        fds[i] = -1;
    s->listen_fds = fds;
    s->tls_fds = fds + n;
    s->slots = n;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("chatkitd"));
    s->globalconf.max_request_entity_size = entity_ceiling(c);
    if (ck_http_router_install(&s->globalconf) != 0 || (s->docs = load_docs(c)) == NULL)
        return -1;
    if (c->tls_cert != NULL && (s->ssl_ctx = create_ssl_ctx(c)) == NULL)
        return -1;
    if (ck_agent_config_from_env(&s->agent_config) != 0)
        return -1;
    if (c->database_url == NULL)
        ck_warn("DATABASE_URL is not set: serving documentation and health endpoints only; POST /chatkit answers 503");
    return open_listeners(s);
}

/* The one line that says how this process is set up. */
static void log_startup(const ck_http_server_t *s)
{
    const ck_http_config_t *c = &s->config;
    char url[300], db[512];
    json_t *f = ck_auth_gate_summary(), *listen = json_array();
    if (f == NULL || listen == NULL) {
        json_decref(f);
        json_decref(listen);
        return;
    }
    snprintf(url, sizeof url, "%s://%s/", c->tls_cert != NULL && c->tls_listen == NULL ? "https" : "http", c->listen);
    json_array_append_new(listen, json_string(url));
    if (c->tls_listen != NULL) {
        snprintf(url, sizeof url, "https://%s/", c->tls_listen);
        json_array_append_new(listen, json_string(url));
    }
    if (c->database_url != NULL)
        ck_store_describe(c->database_url, db, sizeof db);
    else
        snprintf(db, sizeof db, "none (documentation and health only)");
    json_object_set_new(f, "version", json_string(CHATKITD_VERSION));
    json_object_set_new(f, "listen", listen);
    json_object_set_new(f, "workers", json_integer(c->workers));
    json_object_set_new(f, "database", json_string(db));
    if (c->database_url == NULL || s->agent_config.retrieval_only) {
        json_object_set_new(f, "model", json_string("retrieval-only"));
    } else {
        json_object_set_new(f, "model_endpoint", json_string(s->agent_config.base_url));
        json_object_set_new(f, "model", json_string(s->agent_config.model));
    }
    json_object_set_new(f, "metrics",
                        json_string(c->metrics_token != NULL ? "GET /metrics (bearer token)" : "GET /metrics (open)"));
    ck_log_fields(CK_LOG_INFO, "chatkitd started", f);
}

static int start_threads(ck_http_server_t *s)
{
    if (s->config.database_url != NULL) {
        if (pthread_create(&s->admin, NULL, admin_main, s) != 0)
            return -1;
        s->admin_started = 1;
    }
    for (int i = 0; i < s->config.workers; i++) {
        ck_http_worker_t *w = &s->workers[i];
        *w = (ck_http_worker_t){.index = i, .config = &s->config, .docs = s->docs, .server = s};
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
        pthread_detach(w->thread);
        s->threads++;
    }
    pthread_mutex_lock(&s->lock);
    while (s->workers_started < s->threads)
        pthread_cond_wait(&s->cond, &s->lock);
    int failed = s->workers_failed;
    pthread_mutex_unlock(&s->lock);
    return failed == 0 && s->threads == s->config.workers ? 0 : -1;
}

ck_http_server_t *ck_http_server_start(const ck_http_config_t *config)
{
    ck_http_server_t *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;
    if (s == NULL)
        return NULL;
    s->config = *config;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    ck_http_request_ctx_init();
    ck_metrics_gauge_set(CK_M_BUILD_INFO, CK_LABELS(CHATKITD_VERSION), 1);
    if (ck_http_gate_init() != 0) {
        free(s);
        return NULL;
    }
    if (server_init(s) != 0 || start_threads(s) != 0) {
        ck_error("server: start-up failed");
        ck_http_server_stop(s);
        return NULL;
    }
    log_startup(s);
    return s;
}

void ck_http_server_stop(ck_http_server_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->stop_pipe[1] >= 0 && write(s->stop_pipe[1], "x", 1) != 1)
        ck_warn("server: cannot wake the workers: %s", strerror(errno));
    pthread_mutex_lock(&s->lock);
    while (s->workers_finished < s->threads)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (s->admin_started)
        pthread_join(s->admin, NULL);
    for (int i = 0; s->listen_fds != NULL && i < s->slots; i++) {
        if (s->listen_fds[i] >= 0)
            close(s->listen_fds[i]);
        if (s->tls_fds[i] >= 0)
            close(s->tls_fds[i]);
    }
    for (int i = 0; i < 2; i++)
        if (s->stop_pipe[i] >= 0)
            close(s->stop_pipe[i]);
    if (s->globalconf.hosts != NULL)
        h2o_config_dispose(&s->globalconf);
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    ck_http_docs_free(s->docs);
    if (s->workers_undrained > 0)
        abandoned_workers = s->workers;
    else
        free(s->workers);
    free(s->listen_fds); /* tls_fds shares this allocation */
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    ck_http_gate_shutdown();
    free(s);
    ck_info("server: stopped");
}
