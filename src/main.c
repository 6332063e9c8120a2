/*
 * main.c - the chatkitd binary: `chatkitd [FLAGS] [serve | migrate | ingest
 * PATH... | audit ... | stats ...] | --help | --version`.
 *
 * Every setting is a row of the table in src/base/env.c, given as a flag or
 * an environment variable (the flag wins: ck_env_parse_args() sets the
 * variable); all are checked before anything reads one, and each module
 * reads its own through base/env.h.  `serve` starts the HTTP server (src/http) and
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
    fputs("usage: chatkitd [FLAGS] [serve]          serve HTTP (default)\n"
          "       chatkitd [FLAGS] migrate          apply the database migrations and exit\n"
          "       chatkitd [FLAGS] ingest PATH...   load .md/.txt/.html files (directories recursively) into the\n"
          "                                         search corpus (a path starting with '-': write ./-name)\n"
          "       chatkitd [FLAGS] audit [--user U] [--since 24h] [--action A] [--json]\n"
          "                                         print the audit log of state-changing actions\n"
          "       chatkitd [FLAGS] stats [--since 24h|7d] [--json]\n"
          "                                         usage per assistant and model (turns, success, latency, tokens, "
          "tools)\n"
          "       chatkitd --version                print the version\n"
          "       chatkitd --help                   this text\n"
          "FLAGS are the settings below; they may also follow the command. An unknown flag stops chatkitd (status 2).\n"
          "\n",
          out);
    ck_env_print_help(out);
}

/* Refuses the command line: one line naming `what`, status 2. */
static int refuse(const char *what, const char *arg)
{
    fprintf(stderr, "chatkitd: %s %s (see chatkitd --help)\n", what, arg);
    return 2;
}

/* The refusal of an argument `cmd` does not take. */
static int refuse_argument(const char *cmd, const char *arg)
{
    if (arg[0] == '-' && arg[1] != '\0')
        return refuse("unknown flag", arg);
    fprintf(stderr, "chatkitd: %s takes no argument %s (see chatkitd --help)\n", cmd, arg);
    return 2;
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

static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0; }

static int is_version(const char *a) { return strcmp(a, "--version") == 0 || strcmp(a, "version") == 0; }

/* Runs the command `args[0]` (default serve) with its arguments, the
 * settings flags already applied. */
static int run(int nargs, char **args)
{
    const char *cmd = nargs > 0 ? args[0] : "serve";
    int status;
    if (is_help(cmd) || (nargs > 1 && is_help(args[1]) && (!strcmp(cmd, "serve") || !strcmp(cmd, "migrate")))) {
        usage(stdout);
        return 0;
    }
    if (is_version(cmd)) {
        printf("chatkitd %s\n", CHATKITD_VERSION);
        return 0;
    }
    if (cmd[0] == '-')
        return refuse("unknown flag", cmd);
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 && strcmp(cmd, "audit") != 0 &&
        strcmp(cmd, "stats") != 0 && strcmp(cmd, "ingest") != 0)
        return refuse("unknown command", cmd);
    if ((strcmp(cmd, "serve") == 0 || strcmp(cmd, "migrate") == 0) && nargs > 1)
        return refuse_argument(cmd, args[1]);
    if (strcmp(cmd, "ingest") == 0)
        for (int i = 1; i < nargs; i++)
            if (args[i][0] == '-' && args[i][1] != '\0')
                return refuse("unknown flag", args[i]);
    /* Every variable is checked before anything reads one (the log settings included). */
    if (ck_env_validate(stderr) != 0)
        return 2;
    if (ck_log_init() != 0)
        return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ck_error("cannot initialise libcurl");
        return 1;
    }
    if (strcmp(cmd, "serve") == 0)
        status = serve();
    else if (strcmp(cmd, "migrate") == 0)
        status = migrate();
    else if (strcmp(cmd, "audit") == 0)
        status = report(ck_store_cli_audit, "audit", nargs - 1, args + 1);
    else if (strcmp(cmd, "stats") == 0)
        status = report(ck_store_cli_stats, "stats", nargs - 1, args + 1);
    else
        status = ingest(nargs - 1, args + 1);
    curl_global_cleanup();
    return status;
}

int main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);
    int nargs = 0;
    if (args == NULL)
        return 1;
    /* The settings flags first: each sets its variable, so it wins over the environment. */
    int status = ck_env_parse_args(argc, argv, args, &nargs, stderr);
    if (status == 0)
        status = run(nargs, args);
    free(args);
    return status;
}
