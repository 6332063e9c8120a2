/*
 * main.c - the chatkitd binary: `chatkitd [serve] | migrate | ingest PATH... |
 * audit ... | stats ... | --version | --help`.
 *
 * All configuration comes from the environment, through the table of
 * src/base/env.c: every variable is checked here before anything reads one
 * (a bad value exits with status 2), and --help prints the table.  `serve` starts the HTTP server (src/http) and
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
#include "base/env.h"
#include "base/log.h"
#include "corpus/ingest.h"
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
          "\n",
          out);
    ck_env_print_help(out);
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
    const char *url = ck_env_str("DATABASE_URL");
    if (url == NULL) {
        ck_error("%s: DATABASE_URL is not set", name);
        return 2;
    }
    return fn(url, argc, argv);
}

static int migrate(void)
{
    const char *url = ck_env_str("DATABASE_URL");
    if (url == NULL) {
        ck_error("migrate: DATABASE_URL is not set");
        return 2;
    }
    return ck_store_migrate(url) == 0 ? 0 : 1;
}

static int ingest(int npaths, char **paths)
{
    const char *url = ck_env_str("DATABASE_URL");
    if (npaths < 1) {
        usage(stderr);
        return 2;
    }
    if (url == NULL) {
        ck_error("ingest: DATABASE_URL is not set");
        return 2;
    }
    return ck_corpus_ingest(url, npaths, paths);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    int status;
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("chatkitd %s\n", CHATKITD_VERSION);
        return 0;
    }
    /* Every variable is checked before anything reads one (the log settings included). */
    if (ck_env_validate(stderr) != 0)
        return 2;
    if (ck_log_init() != 0)
        return 2;
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
