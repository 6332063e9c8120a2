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

#include "agent/assistants.h"
#include "corpus/ingest.h"
#include "base/log.h"
#include "http/server.h"
#include "base/version.h"
#include "store/ops_report.h"
#include "store/store.h"

static void usage(FILE *out)
{
    fputs("usage: chatkitd [serve]          serve HTTP (default)\n"
          "       chatkitd migrate          apply the database migrations and exit\n"
          "       chatkitd ingest PATH...   load .md/.txt/.html files (directories recursively) into the search corpus\n"
          "       chatkitd audit [--user U] [--since 24h] [--action A] [--json]\n"
          "                                 print the audit log of state-changing actions\n"
          "       chatkitd stats [--since 24h|7d] [--json]\n"
          "                                 usage per assistant and model (turns, success, latency, tokens, tools)\n"
          "       chatkitd --version        print the version\n"
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
          "    CHATKITD_LOG_FORMAT         json|text [json, text when stderr is a terminal]\n"
          "    CHATKITD_LOG_USER_KEY       key of the user hash in access lines [random per process]\n"
          "    CHATKITD_METRICS_TOKEN      bearer token GET /metrics requires [none: open]\n"
          "    CHATKITD_ADMIN_TOKEN        bearer token of GET /admin/stats [none: route disabled]\n"
          "    CHATKITD_AUDIT_RETENTION_DAYS audit and usage rows are deleted after this many days [90]\n"
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
          "    CHATKITD_MODEL              model name [gpt-4o-mini]\n"
          "    CHATKITD_SYSTEM_PROMPT_FILE file holding the system prompt [built-in prompt]\n"
          "    CHATKITD_ALLOW_MODEL_OVERRIDE 1 = use inference_options.model from the request [off]\n"
          "    CHATKITD_MAX_TURNS          model round trips per user message [10]\n"
          "    CHATKITD_UPSTREAM_CONNECT_TIMEOUT_MS      connect timeout [10000]\n"
          "    CHATKITD_UPSTREAM_FIRST_TOKEN_TIMEOUT_MS  request sent -> first chunk [60000]\n"
          "    CHATKITD_UPSTREAM_STALL_TIMEOUT_MS        longest silence mid-stream [30000]\n"
          "    CHATKITD_UPSTREAM_RETRIES   retries before any text reached the user [2]\n"
          "    CHATKITD_TRANSCRIBE_MODEL   model for input.transcribe [whisper-1]\n"
          "    CHATKITD_ASSISTANTS         JSON file of assistants and HTTP/client tools (docs/assistants.md) [one assistant]\n"
          "  context (see docs/context.md)\n"
          "    CHATKITD_CONTEXT_TOKENS     token budget of every model request [6000]\n"
          "    CHATKITD_SUMMARY            on|off: rolling thread summaries [on with a model]\n"
          "    CHATKITD_MEMORY             off|tool|auto: per-user facts [tool with a model]\n"
          "    CHATKITD_MEMORY_MAX_FACTS   facts kept per user [50]\n"
          "    CHATKITD_REDACT_PII         on|off: redact e-mails, phones, cards, IBANs, SSNs in user text [off]\n"
          "  streams\n"
          "    CHATKITD_HEARTBEAT_MS       SSE comment after this much silence [15000]\n"
          "    CHATKITD_MAX_STREAM_SECONDS a stream is ended after this long [300]\n"
          "    CHATKITD_PERSIST_RETRY_SECONDS  a write that lost its connection is retried this long [10]\n"
          "    CHATKITD_SHUTDOWN_GRACE_SECONDS after SIGTERM, open streams may finish this long [10]\n"
          "  security (see docs/security.md)\n"
          "    CHATKITD_JWT_SECRET         HMAC secret (HS256/384/512, >= 32 bytes); enables JWT auth\n"
          "    CHATKITD_JWT_PUBLIC_KEY     PEM public key file (RS*/ES*); enables JWT auth\n"
          "    CHATKITD_JWT_JWKS           JWK set file or http(s) URL, keys chosen by kid; enables JWT auth\n"
          "    CHATKITD_JWT_JWKS_REFRESH_S refresh period of a JWKS URL, seconds [300]\n"
          "    CHATKITD_JWT_ALGORITHMS     comma list pinning the accepted algorithms [by key type]\n"
          "    CHATKITD_JWT_ISSUER         required `iss` [not checked]\n"
          "    CHATKITD_JWT_AUDIENCE       required `aud` [not checked]\n"
          "    CHATKITD_JWT_LEEWAY_S       clock skew allowed for exp/nbf [30]\n"
          "                                no JWT key = development identity from the X-User-Id header\n"
          "    CHATKITD_RATE_REQUESTS_PER_MIN  requests per user per minute, 0 = off [120]\n"
          "    CHATKITD_RATE_TURNS_PER_MIN     streamed turns per user per minute, 0 = off [8]\n"
          "    CHATKITD_MAX_STREAMS_PER_USER   concurrently open streams per user [4]\n"
          "    CHATKITD_RATE_MAX_USERS     users tracked by the limiter at once [100000]\n"
          "    CHATKITD_CORS_ORIGINS       allowed browser origins, comma list or * [none]\n"
          "    CHATKITD_CORS_HEADERS       request headers a preflight may ask for [any valid name]\n"
          "    CHATKITD_CORS_MAX_AGE       Access-Control-Max-Age of preflights [600]\n",
          out);
}

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

/* Serves until SIGINT or SIGTERM.  Returns the process exit status. */
static int serve(void)
{
    ck_http_config_t config;
    sigset_t stop_signals;
    int sig = 0;
    if (ck_http_config_from_env(&config) != 0)
        return 2;
    if (ck_assistants_init_from_env() != 0) {
        ck_http_config_release(&config);
        return 2;
    }
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    raise_open_files_limit();
    ck_http_server_t *server = ck_http_server_start(&config);
    if (server == NULL) {
        ck_http_config_release(&config);
        ck_assistants_shutdown();
        return 1;
    }
    sigwait(&stop_signals, &sig);
    ck_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ck_http_server_stop(server);
    ck_http_config_release(&config);
    ck_assistants_shutdown();
    return 0;
}

/* `chatkitd audit ...` / `chatkitd stats ...`: blocking reports. */
static int report(int (*fn)(const char *, int, char **), const char *name, int argc, char **argv)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || *url == '\0') {
        ck_error("%s: DATABASE_URL is not set", name);
        return 2;
    }
    return fn(url, argc, argv);
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
    return ck_corpus_ingest(url, npaths, paths);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    int status;
    if (ck_log_init() != 0)
        return 2;
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("chatkitd %s\n", CHATKITD_VERSION);
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
    else if (strcmp(cmd, "audit") == 0)
        status = report(ck_store_cli_audit, "audit", argc - 2, argv + 2);
    else if (strcmp(cmd, "stats") == 0)
        status = report(ck_store_cli_stats, "stats", argc - 2, argv + 2);
    else if (strcmp(cmd, "ingest") == 0)
        status = ingest(argc - 2, argv + 2);
    else {
        usage(stderr);
        status = 2;
    }
    curl_global_cleanup();
    return status;
}
