/*
 * cors.c - the CORS decisions of cors.h.
 *
 * Configured origins are validated (scheme://host[:port], or "null") and
 * lowercased once; a request's Origin is then compared byte for byte
 * (browsers serialize origins in lowercase).  With "*", any syntactically
 * valid origin other than "null" is allowed and echoed.
 */
#include "auth/cors.h"

#include "base/setting_list.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN_MAX 255
#define MAX_LISTED 64

struct ck_auth_cors {
    int any; /* "*" */
    size_t norigins;
    char *origins[MAX_LISTED]; /* owned, lowercase */
    size_t nheaders;           /* 0 = any valid header name */
    char *headers[MAX_LISTED]; /* owned, lowercase */
    long max_age_s;
};

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c) { return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL); }

/* "http(s)://host[:port]" with a DNS name, IPv4 or [IPv6] host, or "null". */
static int valid_origin(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "null", 4) == 0)
        return 1;
    size_t i;
    if (n > 7 && strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    if (n > ORIGIN_MAX)
        return 0;
    size_t host = i;
    if (s[i] == '[') {
        while (i < n && s[i] != ']' && (isxdigit((unsigned char)s[i]) || s[i] == ':' || s[i] == '.' || s[i] == '['))
            i++;
        if (i == n || s[i] != ']')
            return 0;
        i++;
    } else {
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
            i++;
    }
    if (i == host)
        return 0;
    if (i < n && s[i] == ':') {
        size_t port = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == port || i - port > 5)
            return 0;
    }
    return i == n;
}

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/* Splits the comma list `list` into lowercase copies in `out` (at most
 * MAX_LISTED), each checked with `valid`.  Returns the count or -1 with
 * `err` set. */
static long split_list(const char *list, char **out, int (*valid)(const char *, size_t), const char *what, char *err,
                       size_t errlen)
{
    size_t count = 0, n;
    for (const char *cursor = list, *p; (p = ck_setting_list_next(&cursor, &n)) != NULL;) {
        if (!valid(p, n) || count == MAX_LISTED) {
            ck_setting_error(err, errlen, "%s: invalid or too many entries at \"%.*s\"", what, (int)(n > 80 ? 80 : n),
                             p);
            return -1;
        }
        if ((out[count] = lower_dup(p, n)) == NULL) {
            ck_setting_error(err, errlen, "out of memory");
            return -1;
        }
        count++;
    }
    return (long)count;
}

static int valid_token(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

ck_auth_cors_t *ck_auth_cors_new(const ck_auth_cors_settings_t *settings, char *err, size_t errlen)
{
    ck_setting_error(err, errlen, "%s", "");
    ck_auth_cors_t *cors = calloc(1, sizeof(*cors));
    if (cors == NULL) {
        ck_setting_error(err, errlen, "out of memory");
        return NULL;
    }
    cors->max_age_s = settings->max_age_s;
    if (settings->max_age_s < 0 || settings->max_age_s > 86400) {
        ck_setting_error(err, errlen, "CHATKITD_CORS_MAX_AGE must be between 0 and 86400");
        goto fail;
    }
    const char *origins = settings->origins ? settings->origins : "";
    while (*origins == ' ')
        origins++;
    if (strcmp(origins, "*") == 0) {
        cors->any = 1;
    } else {
        long n = split_list(origins, cors->origins, valid_origin, "CHATKITD_CORS_ORIGINS", err, errlen);
        if (n < 0)
            goto fail;
        cors->norigins = (size_t)n;
    }
    if (settings->headers != NULL) {
        long n = split_list(settings->headers, cors->headers, valid_token, "CHATKITD_CORS_HEADERS", err, errlen);
        if (n < 0)
            goto fail;
        cors->nheaders = (size_t)n;
    }
    return cors;
fail:
    ck_auth_cors_free(cors);
    return NULL;
}

void ck_auth_cors_free(ck_auth_cors_t *cors)
{
    if (cors == NULL)
        return;
    for (size_t i = 0; i < MAX_LISTED; i++) {
        free(cors->origins[i]);
        free(cors->headers[i]);
    }
    free(cors);
}

int ck_auth_cors_enabled(const ck_auth_cors_t *cors) { return cors != NULL && (cors->any || cors->norigins > 0); }

static int origin_allowed(const ck_auth_cors_t *cors, const char *o, size_t n)
{
    if (o == NULL || !valid_origin(o, n))
        return 0;
    for (size_t i = 0; i < cors->norigins; i++) {
        if (strlen(cors->origins[i]) == n && memcmp(cors->origins[i], o, n) == 0)
            return 1;
    }
    return cors->any && !(n == 4 && memcmp(o, "null", 4) == 0);
}

static int method_allowed(const char *m, size_t n)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "OPTIONS"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
            return 1;
    }
    return 0;
}

static int header_listed(const ck_auth_cors_t *cors, const char *name, size_t n)
{
    if (cors->nheaders == 0)
        return 1;
    for (size_t i = 0; i < cors->nheaders; i++) {
        if (strlen(cors->headers[i]) == n && strncasecmp(cors->headers[i], name, n) == 0)
            return 1;
    }
    return 0;
}

/* The body of echo_request_headers(); may leave a partial list behind on
 * failure. */
static int write_request_headers(const ck_auth_cors_t *cors, const char *list, size_t len, ck_auth_cors_decision_t *out)
{
    size_t i = 0, w = 0;
    while (i < len) {
        while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
            i++;
        size_t start = i;
        while (i < len && list[i] != ',' && list[i] != ' ' && list[i] != '\t')
            i++;
        size_t n = i - start;
        if (n == 0)
            break;
        if (!valid_token(list + start, n) || !header_listed(cors, list + start, n))
            return -1;
        if (w + n + 2 >= sizeof(out->allow_headers))
            return -1;
        if (w > 0) {
            memcpy(out->allow_headers + w, ", ", 2);
            w += 2;
        }
        for (size_t k = 0; k < n; k++)
            out->allow_headers[w++] = (char)tolower((unsigned char)list[start + k]);
    }
    out->allow_headers[w] = '\0';
    out->allow_headers_len = w;
    return 0;
}

/* Validates the Access-Control-Request-Headers list and writes it,
 * lowercased and ", "-joined, into out->allow_headers.  Returns 0, or -1
 * with out->allow_headers left empty. */
static int echo_request_headers(const ck_auth_cors_t *cors, const char *list, size_t len, ck_auth_cors_decision_t *out)
{
    if (write_request_headers(cors, list, len, out) == 0)
        return 0;
    out->allow_headers[0] = '\0';
    out->allow_headers_len = 0;
    return -1;
}

void ck_auth_cors_decide(const ck_auth_cors_t *cors, const ck_auth_cors_request_t *req, ck_auth_cors_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->action = CK_AUTH_CORS_NONE;
    out->vary = ck_auth_cors_enabled(cors);
    int preflight = req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0 && req->origin != NULL &&
                    req->request_method != NULL;
    int allowed = out->vary && origin_allowed(cors, req->origin, req->origin_len);
    if (preflight) {
        out->action = CK_AUTH_CORS_FORBIDDEN;
        if (!allowed || !method_allowed(req->request_method, req->request_method_len) ||
            echo_request_headers(cors, req->request_headers ? req->request_headers : "",
                                 req->request_headers ? req->request_headers_len : 0, out) != 0)
            return;
        out->action = CK_AUTH_CORS_PREFLIGHT;
        out->max_age_s = cors->max_age_s;
    } else if (allowed) {
        out->action = CK_AUTH_CORS_ALLOW;
    } else {
        return;
    }
    out->allow_origin = req->origin;
    out->allow_origin_len = req->origin_len;
}
