/*
 * main.c - the chatkitd binary: `chatkitd [serve] | migrate | ingest PATH... | --help`.
 *
 * All configuration comes from the environment (see usage()); each module
 * reads its own variables.  `serve` starts the HTTP server (src/http) and
 * waits for SIGINT/SIGTERM, which stop it gracefully.  Signals are blocked
 * in every thread and taken synchronously with sigwait() here, so no code
 * runs in signal-handler context.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "agent/ingest.h"
#include "base/log.h"
#include "http/server.h"
#include "store/store.h"

static void usage(FILE *out)
{
    fputs("usage: chatkitd [serve]          serve HTTP (default)\n"
          "       chatkitd migrate          apply the database migrations and exit\n"
          "       chatkitd ingest PATH...   load .md/.txt/.html files (directories recursively) into the search corpus\n"
          "       chatkitd --help           this text\n"
          "\n"
          "Environment (defaults in brackets):\n"
          "  server\n"
          "    CHATKITD_LISTEN             address to serve on [127.0.0.1:8000]; HTTP/1.1 and h2c, or TLS when\n"
          "                                CHATKITD_TLS_CERT/KEY are set and CHATKITD_TLS_LISTEN is not\n"
          "    CHATKITD_TLS_CERT           PEM certificate chain: serve TLS with ALPN h2 + http/1.1\n"
          "    CHATKITD_TLS_KEY            PEM private key of that certificate\n"
          "    CHATKITD_TLS_LISTEN         serve TLS on this address and cleartext on CHATKITD_LISTEN\n"
          "    CHATKITD_WORKERS            worker threads, one event loop each [number of cores]\n"
          "    CHATKITD_MAX_BODY           POST /chatkit body limit in bytes, K/M/G suffixes allowed [1M]\n"
          "    CHATKITD_DOCS_DIR           Markdown pages served at / [./docs, else docs/ beside the binary's folder]\n"
          "    CHATKITD_LOG_LEVEL          debug|info|warn|error [info]\n"
          "  database\n"
          "    DATABASE_URL                libpq URI or conninfo; unset = degraded mode (docs and health only)\n"
          "  attachments\n"
          "    CHATKITD_UPLOAD_MAX_BYTES   largest attachment [10M]\n"
          "    CHATKITD_UPLOAD_MIME_TYPES  accepted types, '*' wildcards [image/*,application/pdf,text/plain,text/markdown,text/csv]\n"
          "    CHATKITD_PUBLIC_URL         absolute base of upload/preview URLs [scheme://host of each request]\n"
          "    CHATKITD_UPLOAD_SECRET      HMAC key (>= 16 bytes) signing upload/preview URLs [random per process]\n"
          "  agent (see docs/agent.md)\n"
          "    OPENAI_BASE_URL             OpenAI-compatible Chat Completions endpoint [https://api.openai.com/v1]\n"
          "    OPENAI_API_KEY              its API key; with OPENAI_BASE_URL also unset: retrieval-only answers\n"
          "    CHATKITD_MODEL              model name\n"
          "    CHATKITD_SYSTEM_PROMPT_FILE file holding the system prompt [built-in prompt]\n"
          "  security (see docs/security.md)\n"
          "    CHATKITD_JWT_*              JWT bearer authentication (key, algorithm, issuer, audience);\n"
          "                                unset = development identity from the X-User-Id header\n"
          "    CHATKITD_RATE_*             per-user request rate limits and open-stream caps\n"
          "    CHATKITD_CORS_*             allowed browser origins\n",
          out);
}

/* Serves until SIGINT or SIGTERM.  Returns the process exit status. */
/* Every open stream holds a client socket and, with a model configured, an
 * upstream socket plus the event loop's dup() of it: raise the soft limit on
 * open files to the hard limit so thousands of streams fit (1024 would cap
 * them at ~300). */
static void raise_open_files_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
        return;
    rlim_t before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
        ck_info("open files limit raised from %lu to %lu", (unsigned long)before, (unsigned long)lim.rlim_cur);
    else
        ck_warn("cannot raise the open files limit above %lu", (unsigned long)before);
}

static int serve(void)
{
    ck_http_config_t config;
    sigset_t stop_signals;
    int sig = 0;
    if (ck_http_config_from_env(&config) != 0)
        return 2;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    raise_open_files_limit();
    ck_http_server_t *server = ck_http_server_start(&config);
    if (server == NULL) {
        ck_http_config_release(&config);
        return 1;
    }
    sigwait(&stop_signals, &sig);
    ck_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ck_http_server_stop(server);
    ck_http_config_release(&config);
    return 0;
}

static int migrate(void)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || *url == '\0') {
        ck_error("migrate: DATABASE_URL is not set");
        return 2;
    }
    return ck_store_migrate(url) == 0 ? 0 : 1;
}

static int ingest(int npaths, char **paths)
{
    const char *url = getenv("DATABASE_URL");
    if (npaths < 1) {
        usage(stderr);
        return 2;
    }
    if (url == NULL || *url == '\0') {
        ck_error("ingest: DATABASE_URL is not set");
        return 2;
    }
    return ck_agent_ingest(url, npaths, paths);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    int status;
    ck_log_init();
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ck_error("cannot initialise libcurl");
        return 1;
    }
    if (strcmp(cmd, "serve") == 0 && argc <= 2)
        status = serve();
    else if (strcmp(cmd, "migrate") == 0 && argc == 2)
        status = migrate();
    else if (strcmp(cmd, "ingest") == 0)
        status = ingest(argc - 2, argv + 2);
    else {
        usage(stderr);
        status = 2;
    }
    curl_global_cleanup();
    return status;
}
