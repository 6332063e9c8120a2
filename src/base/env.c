/*
 * env.c - the table of every variable the server reads, its checks, its
 * getters, the command-line flags derived from it and `--help` (see env.h).
 * To add a variable, add one row to the section it belongs to: it gets its
 * flag, its check and its `--help` lines from that row.
 */
#include "base/env.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#define MS_MAX 86400000LL /* one day in milliseconds */
#define SIZE_MAX_BYTES (1LL << 40)

/* clang-format off */
static const ck_env_var_t g_vars[] = {
    /* server */
    {"CHATKITD_LISTEN", "server", CK_ENV_STRING, "127.0.0.1:8000", NULL, 0, 0, NULL,
     "address to serve on; HTTP/1.1 and h2c, or TLS when CHATKITD_TLS_CERT/KEY are set and CHATKITD_TLS_LISTEN is not", "ADDR"},
    {"CHATKITD_TLS_CERT", "server", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "PEM certificate chain: serve TLS with ALPN h2 + http/1.1", "PATH"},
    {"CHATKITD_TLS_KEY", "server", CK_ENV_STRING, NULL, NULL, 0, 0, NULL, "PEM private key of that certificate", "PATH"},
    {"CHATKITD_TLS_LISTEN", "server", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "serve TLS on this address and cleartext on CHATKITD_LISTEN", "ADDR"},
    {"CHATKITD_WORKERS", "server", CK_ENV_INT, NULL, "number of cores", 1, 256, NULL,
     "worker threads, one event loop each"},
    {"CHATKITD_DB_CONNECTIONS", "server", CK_ENV_INT, "2", NULL, 1, 64, NULL,
     "PostgreSQL connections per worker, each a pipeline"},
    {"CHATKITD_MAX_BODY", "server", CK_ENV_SIZE, "1M", NULL, 1, SIZE_MAX_BYTES, NULL, "POST /chatkit body limit"},
    {"CHATKITD_DOCS_DIR", "server", CK_ENV_STRING, NULL, "./docs, else docs/ beside the binary's folder", 0, 0, NULL,
     "Markdown pages served at /", "DIR"},
    {"CHATKITD_LOG_LEVEL", "server", CK_ENV_ENUM, "info", NULL, 0, 0, "debug|info|warn|error", "log threshold"},
    {"CHATKITD_LOG_FORMAT", "server", CK_ENV_ENUM, NULL, "json, text when stderr is a terminal", 0, 0, "json|text",
     "log line format"},
    {"CHATKITD_LOG_USER_KEY", "server", CK_ENV_STRING, NULL, "random per process", 0, 0, NULL,
     "key of the user hash in access lines"},
    {"CHATKITD_METRICS_TOKEN", "server", CK_ENV_STRING, NULL, "none: open", 0, 0, NULL,
     "bearer token GET /metrics requires"},
    {"CHATKITD_ADMIN_TOKEN", "server", CK_ENV_STRING, NULL, "none: admin routes off", 0, 0, NULL,
     "bearer token of the /admin/ routes"},
    {"CHATKITD_AUDIT_RETENTION_DAYS", "server", CK_ENV_INT, "90", NULL, 1, 36500, NULL,
     "audit and usage rows are deleted after this many days"},

    {"CHATKITD_REDACT_PII", "server", CK_ENV_ENUM, "off", NULL, 0, 0, "off|on",
     "on: mask e-mails, phone, card, IBAN and SSN numbers in user text before it is stored, streamed or sent to the "
     "model (log lines are always masked)"},

    /* database */
    {"DATABASE_URL", "database", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "libpq URI or conninfo; unset = degraded mode (docs and health only)", "CONNINFO"},

    /* attachments */
    {"CHATKITD_UPLOAD_MAX_BYTES", "attachments", CK_ENV_SIZE, "10M", NULL, 1, SIZE_MAX_BYTES, NULL,
     "largest attachment"},
    {"CHATKITD_UPLOAD_MIME_TYPES", "attachments", CK_ENV_STRING,
     "image/*,application/pdf,text/plain,text/markdown,text/csv", NULL, 0, 0, NULL,
     "accepted types, comma list, '*' wildcards", "LIST"},
    {"CHATKITD_PUBLIC_URL", "attachments", CK_ENV_URL, NULL, "scheme://host of each request", 0, 0, NULL,
     "absolute base of upload/preview URLs"},
    {"CHATKITD_UPLOAD_SECRET", "attachments", CK_ENV_STRING, NULL, "random per process", 16, 0, NULL,
     "HMAC key signing upload/preview URLs"},

    /* agent (docs/agent.md) */
    {"OPENAI_BASE_URL", "agent (see docs/agent.md)", CK_ENV_URL, "https://api.openai.com/v1", NULL, 0, 0, NULL,
     "OpenAI-compatible Chat Completions endpoint"},
    {"OPENAI_API_KEY", "agent (see docs/agent.md)", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "its API key; with OPENAI_BASE_URL also unset: retrieval-only answers"},
    {"CHATKITD_MODEL", "agent (see docs/agent.md)", CK_ENV_STRING, "gpt-4o-mini", NULL, 0, 0, NULL, "model name", "NAME"},
    {"CHATKITD_SYSTEM_PROMPT_FILE", "agent (see docs/agent.md)", CK_ENV_STRING, NULL, "built-in prompt", 0, 0, NULL,
     "file holding the system prompt", "PATH"},
    {"CHATKITD_ALLOW_MODEL_OVERRIDE", "agent (see docs/agent.md)", CK_ENV_BOOL, "0", NULL, 0, 0, NULL,
     "use inference_options.model from the request"},
    {"CHATKITD_MAX_TURNS", "agent (see docs/agent.md)", CK_ENV_INT, "10", NULL, 1, 1000, NULL,
     "model round trips per user message"},
    {"CHATKITD_UPSTREAM_CONNECT_TIMEOUT_MS", "agent (see docs/agent.md)", CK_ENV_INT, "10000", NULL, 0, MS_MAX, NULL,
     "connect timeout"},
    {"CHATKITD_UPSTREAM_FIRST_TOKEN_TIMEOUT_MS", "agent (see docs/agent.md)", CK_ENV_INT, "60000", NULL, 0, MS_MAX,
     NULL, "request sent -> first chunk"},
    {"CHATKITD_UPSTREAM_STALL_TIMEOUT_MS", "agent (see docs/agent.md)", CK_ENV_INT, "30000", NULL, 0, MS_MAX, NULL,
     "longest silence mid-stream"},
    {"CHATKITD_UPSTREAM_RETRIES", "agent (see docs/agent.md)", CK_ENV_INT, "2", NULL, 0, 100, NULL,
     "retries before any text reached the user"},
    {"CHATKITD_UPSTREAM_HTTP", "agent (see docs/agent.md)", CK_ENV_ENUM, "auto", NULL, 0, 0, "auto|http1.1",
     "HTTP version to the model: auto = HTTP/2 where TLS offers it (many turns share a connection), else HTTP/1.1"},
    {"CHATKITD_UPSTREAM_MAX_STREAMS", "agent (see docs/agent.md)", CK_ENV_INT, "10", NULL, 1, 1000, NULL,
     "HTTP/2: most turns sharing one connection to the model (libcurl wakes every turn of a connection for each chunk)"},
    {"CHATKITD_UPSTREAM_CA_FILE", "agent (see docs/agent.md)", CK_ENV_STRING, NULL, "the system's", 0, 0, NULL,
     "PEM file of the certificate authorities trusted for an https model endpoint"},
    {"CHATKITD_TRANSCRIBE_MODEL", "agent (see docs/agent.md)", CK_ENV_STRING, "whisper-1", NULL, 0, 0, NULL,
     "model for input.transcribe", "NAME"},
    {"CHATKITD_ASSISTANTS", "agent (see docs/agent.md)", CK_ENV_STRING, NULL, "one assistant", 0, 0, NULL,
     "JSON file of assistants and HTTP/client tools (docs/assistants.md)", "PATH"},
    {"CHATKITD_CONTEXT_TOKENS", "agent (see docs/agent.md)", CK_ENV_INT, "6000", NULL, 500, 10000000, NULL,
     "token budget of one model request (docs/context.md)"},
    {"CHATKITD_SUMMARY", "agent (see docs/agent.md)", CK_ENV_ENUM, NULL, "on with a model, off without", 0, 0, "off|on",
     "rolling summaries of long threads"},
    {"CHATKITD_MEMORY", "agent (see docs/agent.md)", CK_ENV_ENUM, NULL, "tool with a model, off without", 0, 0,
     "off|tool|auto", "user memory: off, remember/forget tools, or automatic"},
    {"CHATKITD_MEMORY_MAX_FACTS", "agent (see docs/agent.md)", CK_ENV_INT, "50", NULL, 1, 100000, NULL,
     "facts kept per user"},

    /* streams */
    {"CHATKITD_HEARTBEAT_MS", "streams", CK_ENV_INT, "15000", NULL, 1, MS_MAX, NULL,
     "SSE comment after this much silence"},
    {"CHATKITD_MAX_STREAM_SECONDS", "streams", CK_ENV_INT, "300", NULL, 0, 7 * 86400, NULL,
     "a stream is ended after this long, 0 = never"},
    {"CHATKITD_PERSIST_RETRY_SECONDS", "streams", CK_ENV_INT, "10", NULL, 0, 300, NULL,
     "a stream's store write that failed for want of a connection is retried this long"},
    {"CHATKITD_SHUTDOWN_GRACE_SECONDS", "streams", CK_ENV_INT, "10", NULL, 0, 3600, NULL,
     "on SIGTERM, open streams get this long to finish before they are ended"},

    /* security (docs/security.md) */
    {"CHATKITD_JWT_SECRET", "security (see docs/security.md)", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "HMAC secret (HS256/384/512, >= 32 bytes); enables JWT auth"},
    {"CHATKITD_JWT_PUBLIC_KEY", "security (see docs/security.md)", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "PEM public key file (RS*/ES*); enables JWT auth", "PATH"},
    {"CHATKITD_JWT_JWKS", "security (see docs/security.md)", CK_ENV_STRING, NULL, NULL, 0, 0, NULL,
     "JWK set file or http(s) URL, keys chosen by kid; enables JWT auth", "PATH|URL"},
    {"CHATKITD_JWT_JWKS_REFRESH_S", "security (see docs/security.md)", CK_ENV_INT, "300", NULL, 0, 86400, NULL,
     "refresh period of a JWKS URL, seconds"},
    {"CHATKITD_JWT_ALGORITHMS", "security (see docs/security.md)", CK_ENV_STRING, NULL, "by key type", 0, 0, NULL,
     "comma list pinning the accepted algorithms", "LIST"},
    {"CHATKITD_JWT_ISSUER", "security (see docs/security.md)", CK_ENV_STRING, NULL, "not checked", 0, 0, NULL,
     "required `iss`", "ISS"},
    {"CHATKITD_JWT_AUDIENCE", "security (see docs/security.md)", CK_ENV_STRING, NULL, "not checked", 0, 0, NULL,
     "required `aud`", "AUD"},
    {"CHATKITD_JWT_LEEWAY_S", "security (see docs/security.md)", CK_ENV_INT, "30", NULL, 0, 86400, NULL,
     "clock skew allowed for exp/nbf, seconds"},
    {"CHATKITD_RATE_REQUESTS_PER_MIN", "security (see docs/security.md)", CK_ENV_INT, "120", NULL, 0, 1000000, NULL,
     "requests per user per minute, 0 = off"},
    {"CHATKITD_RATE_TURNS_PER_MIN", "security (see docs/security.md)", CK_ENV_INT, "8", NULL, 0, 1000000, NULL,
     "streamed turns per user per minute, 0 = off"},
    {"CHATKITD_MAX_STREAMS_PER_USER", "security (see docs/security.md)", CK_ENV_INT, "4", NULL, 0, 100000, NULL,
     "concurrently open streams per user, 0 = off"},
    {"CHATKITD_RATE_MAX_USERS", "security (see docs/security.md)", CK_ENV_INT, "100000", NULL, 0, 100000000, NULL,
     "users tracked by the limiter at once"},
    {"CHATKITD_CORS_ORIGINS", "security (see docs/security.md)", CK_ENV_STRING, NULL, "none", 0, 0, NULL,
     "allowed browser origins, comma list or *", "LIST"},
    {"CHATKITD_CORS_HEADERS", "security (see docs/security.md)", CK_ENV_STRING, NULL, "any valid name", 0, 0, NULL,
     "request headers a preflight may ask for", "LIST"},
    {"CHATKITD_CORS_MAX_AGE", "security (see docs/security.md)", CK_ENV_INT, "600", NULL, 0, 86400, NULL,
     "Access-Control-Max-Age of preflights, seconds"},
};
/* clang-format on */

#define NVARS (sizeof(g_vars) / sizeof(g_vars[0]))

/* Which rows were set by a command-line flag (ck_env_parse_args), so a bad
 * value is reported under the name the user typed.  Written by main()'s
 * thread before any other thread starts. */
static unsigned char g_from_flag[NVARS];

const ck_env_var_t *ck_env_table(size_t *count)
{
    *count = NVARS;
    return g_vars;
}

const ck_env_var_t *ck_env_find(const char *name)
{
    for (size_t i = 0; i < NVARS; i++)
        if (strcmp(g_vars[i].name, name) == 0)
            return &g_vars[i];
    return NULL;
}

/* The row of `name`; a name without a row is a programming error. */
static const ck_env_var_t *row(const char *name)
{
    const ck_env_var_t *v = ck_env_find(name);
    if (v == NULL) {
        ck_error("env: %s has no row in the table of src/base/env.c", name);
        abort();
    }
    return v;
}

/* The raw value: NULL when unset or empty. */
static const char *raw(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* --- parsing ------------------------------------------------------------------ */

static int parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

static int parse_size(const char *s, long long min, long long max, long long *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (errno != 0 || end == s || *end != '\0' || n > ((unsigned long long)max >> shift))
        return -1;
    long long bytes = (long long)(n << shift);
    if (bytes < min || bytes > max)
        return -1;
    *out = bytes;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int in_choices(const char *s, const char *choices)
{
    size_t n = strlen(s);
    for (const char *p = choices; *p != '\0';) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return 1;
        p += len + (bar != NULL);
    }
    return 0;
}

static int is_url(const char *s)
{
    return (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) && strlen(s) < 256 &&
           strpbrk(s, " \"<>\\^`{|}") == NULL;
}

/* The accepted form of `var`, as the error message and `--help` say it. */
static void describe_form(const ck_env_var_t *var, char *out, size_t len)
{
    switch (var->kind) {
    case CK_ENV_INT:
        snprintf(out, len, "an integer from %lld to %lld", var->min, var->max);
        break;
    case CK_ENV_SIZE:
        snprintf(out, len, "a size in bytes, optionally with a K, M or G suffix, from %lld to %lldG", var->min,
                 var->max >> 30);
        break;
    case CK_ENV_BOOL:
        snprintf(out, len, "1/0, true/false, yes/no or on/off");
        break;
    case CK_ENV_ENUM:
        snprintf(out, len, "one of %s", var->choices);
        break;
    case CK_ENV_URL:
        snprintf(out, len, "an absolute http:// or https:// URL, under 256 bytes, without spaces");
        break;
    default:
        if (var->min > 0 && var->max > 0)
            snprintf(out, len, "text of %lld to %lld bytes", var->min, var->max);
        else if (var->min > 0)
            snprintf(out, len, "text of at least %lld bytes", var->min);
        else if (var->max > 0)
            snprintf(out, len, "text of at most %lld bytes", var->max);
        else
            snprintf(out, len, "any text");
        break;
    }
}

int ck_env_check(const ck_env_var_t *var, const char *value, char *err, size_t errlen)
{
    long long n;
    int b, ok;
    size_t len = strlen(value);
    switch (var->kind) {
    case CK_ENV_INT:
        ok = parse_int(value, var->min, var->max, &n) == 0;
        break;
    case CK_ENV_SIZE:
        ok = parse_size(value, var->min, var->max, &n) == 0;
        break;
    case CK_ENV_BOOL:
        ok = parse_bool(value, &b) == 0;
        break;
    case CK_ENV_ENUM:
        ok = in_choices(value, var->choices);
        break;
    case CK_ENV_URL:
        ok = is_url(value);
        break;
    default:
        ok = (var->min == 0 || len >= (size_t)var->min) && (var->max == 0 || len <= (size_t)var->max);
        break;
    }
    if (!ok)
        describe_form(var, err, errlen);
    return ok ? 0 : -1;
}

int ck_env_validate(FILE *err)
{
    int bad = 0;
    for (size_t i = 0; i < NVARS; i++) {
        const ck_env_var_t *var = &g_vars[i];
        const char *v = raw(var->name);
        char form[160], name[64];
        if (v == NULL || ck_env_check(var, v, form, sizeof(form)) == 0)
            continue;
        if (!g_from_flag[i] || ck_env_flag_name(var, name, sizeof(name)) < 0)
            snprintf(name, sizeof(name), "%s", var->name);
        /* Text values may be secrets (keys, tokens, a URL with a password): their length only. */
        if (var->kind == CK_ENV_STRING)
            fprintf(err, "chatkitd: %s (%zu bytes): expected %s (see chatkitd --help)\n", name, strlen(v), form);
        else
            fprintf(err, "chatkitd: %s=\"%.80s\": expected %s (see chatkitd --help)\n", name, v, form);
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* --- getters -------------------------------------------------------------------- */

const char *ck_env_raw(const char *name) { return getenv(name); }

int ck_env_is_set(const char *name)
{
    row(name);
    return raw(name) != NULL;
}

const char *ck_env_str(const char *name)
{
    const ck_env_var_t *var = row(name);
    const char *v = raw(name);
    return v != NULL ? v : var->def;
}

/* The parsed INT or SIZE value of `name`, else its default, else 0. */
static long long number(const char *name, int (*parse)(const char *, long long, long long, long long *))
{
    const ck_env_var_t *var = row(name);
    const char *v = raw(name);
    long long n = 0;
    if (v != NULL && parse(v, var->min, var->max, &n) == 0)
        return n;
    if (var->def != NULL && parse(var->def, var->min, var->max, &n) == 0)
        return n;
    return 0;
}

long long ck_env_int(const char *name) { return number(name, parse_int); }

size_t ck_env_size(const char *name) { return (size_t)number(name, parse_size); }

int ck_env_bool(const char *name)
{
    const ck_env_var_t *var = row(name);
    const char *v = raw(name);
    int b = 0;
    if (v != NULL && parse_bool(v, &b) == 0)
        return b;
    if (var->def != NULL && parse_bool(var->def, &b) == 0)
        return b;
    return 0;
}

/* --- flags and help ------------------------------------------------------------------ */

int ck_env_flag_name(const ck_env_var_t *var, char *out, size_t len)
{
    const char *s = var->name;
    if (strncmp(s, "CHATKITD_", 9) == 0)
        s += 9;
    size_t n = strlen(s);
    if (len < n + 3)
        return -1;
    out[0] = out[1] = '-';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
    out[n + 2] = '\0';
    return (int)(n + 2);
}

/* The row whose flag is the `len` bytes at `flag` ("--max-body"), or NULL. */
static const ck_env_var_t *find_flag(const char *flag, size_t len, size_t *index)
{
    char name[64];
    for (size_t i = 0; i < NVARS; i++) {
        int n = ck_env_flag_name(&g_vars[i], name, sizeof(name));
        if (n > 0 && (size_t)n == len && memcmp(name, flag, len) == 0) {
            *index = i;
            return &g_vars[i];
        }
    }
    return NULL;
}

const ck_env_var_t *ck_env_find_flag(const char *flag)
{
    size_t i;
    return find_flag(flag, strlen(flag), &i);
}

int ck_env_parse_args(int argc, char **argv, char **rest, int *nrest, FILE *err)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            rest[n++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a), index;
        const ck_env_var_t *var = find_flag(a, len, &index);
        if (var == NULL) {
            rest[n++] = argv[i]; /* not a setting: the command's own option, or unknown */
            continue;
        }
        const char *value;
        if (eq != NULL)
            value = eq + 1;
        else if (var->kind == CK_ENV_BOOL)
            value = "1"; /* a bare boolean flag switches it on; it never takes the next argument */
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            value = argv[++i];
        else
            value = "";
        if (*value == '\0') {
            fprintf(err, "chatkitd: flag %.*s needs a value (see chatkitd --help)\n", (int)len, a);
            return 2;
        }
        if (setenv(var->name, value, 1) != 0) {
            fprintf(err, "chatkitd: cannot set %s\n", var->name);
            return 2;
        }
        g_from_flag[index] = 1;
    }
    rest[n] = NULL;
    *nrest = n;
    return 0;
}

/* The placeholder of a row's value in `--help`. */
static const char *metavar(const ck_env_var_t *v)
{
    if (v->metavar != NULL)
        return v->metavar;
    switch (v->kind) {
    case CK_ENV_INT:
        return "N";
    case CK_ENV_SIZE:
        return "SIZE";
    case CK_ENV_BOOL:
        return "[=BOOL]";
    case CK_ENV_ENUM:
        return v->choices;
    case CK_ENV_URL:
        return "URL";
    default:
        return "TEXT";
    }
}

void ck_env_print_help(FILE *out)
{
    const char *section = NULL;
    fputs("Settings. Each is a flag and an environment variable; the flag wins. A flag takes its value as\n"
          "--name VALUE or --name=VALUE (a boolean flag alone means on). Defaults in brackets; an empty\n"
          "variable counts as unset; a bad value stops chatkitd, naming it. Flags show in `ps`: give\n"
          "secrets (keys, tokens, passwords) as variables.\n",
          out);
    for (size_t i = 0; i < NVARS; i++) {
        const ck_env_var_t *v = &g_vars[i];
        if (section == NULL || strcmp(section, v->section) != 0)
            fprintf(out, "  %s\n", section = v->section);
        char flag[96];
        int n = ck_env_flag_name(v, flag, sizeof(flag) - 32);
        if (n > 0)
            snprintf(flag + n, sizeof(flag) - (size_t)n, "%s%s", v->kind == CK_ENV_BOOL ? "" : " ", metavar(v));
        fprintf(out, "    %-36s %s\n", n > 0 ? flag : "", v->name);
        const char *def = v->def_help != NULL ? v->def_help : v->def;
        fprintf(out, "        %s", v->help);
        int b = 0;
        if (v->kind == CK_ENV_BOOL && v->def_help == NULL)
            fprintf(out, " [%s]", v->def != NULL && parse_bool(v->def, &b) == 0 && b ? "on" : "off");
        else if (def != NULL)
            fprintf(out, " [%s]", def);
        if (v->kind != CK_ENV_STRING || v->min > 0 || v->max > 0) {
            char form[160];
            describe_form(v, form, sizeof(form));
            fprintf(out, "\n        (%s)", form);
        }
        fputc('\n', out);
    }
}
