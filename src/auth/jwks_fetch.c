/*
 * jwks_fetch.c - loading a JWK set from a file or URL, and the thread
 * that refreshes a URL's set (see jwks_fetch.h).
 *
 * The refresh thread loops on ck_auth_jwks_wait(): on a period or an early
 * request it fetches with a blocking libcurl easy handle, parses, and swaps
 * the new set in; a stop request ends it, and aborts a fetch in progress
 * through the transfer-progress callback.
 */
#include "auth/jwks_fetch.h"

#include "base/file.h"
#include "base/log.h"
#include "base/setting_list.h"
#include "base/strbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct ck_auth_jwks_source {
    char *url; /* owned; NULL for a file source */
    long refresh_ms;
    ck_auth_jwks_t *keys;
    pthread_t thread;
    int thread_started;
};

/* The document of one load: a file's contents, or a URL's body as it arrives. */
typedef struct doc {
    char *data; /* the whole document (malloc'd), once loaded */
    size_t len;
    ck_strbuf_t body; /* a URL's body while it arrives */
    int too_big;
} doc_t;

static int is_url(const char *location)
{
    return strncmp(location, "http://", 7) == 0 || strncmp(location, "https://", 8) == 0;
}

/* Logs what a freshly loaded set holds (one line per key). */
static void log_set(const char *location, const ck_auth_jwks_set_t *set)
{
    ck_info("auth: JWKS %s: %zu usable key(s)", location, ck_auth_jwks_count(set));
    for (size_t i = 0; i < ck_auth_jwks_count(set); i++) {
        const ck_auth_jwk_t *k = ck_auth_jwks_key(set, i);
        ck_info("auth: JWKS key kid \"%.64s\": %s %d bits", k->kid ? k->kid : "(none)", k->rsa ? "RSA" : "EC", k->bits);
    }
}

/* --- files ---------------------------------------------------------------- */

/* Reads the file at `path` into `d` (malloc'd).  Returns 0 or -1 with `err`. */
static int read_file(const char *path, doc_t *d, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ck_setting_error(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    d->data = ck_file_read_all(f, CK_AUTH_JWKS_DOC_MAX, &d->len);
    fclose(f);
    if (d->data == NULL || d->len == 0) {
        ck_setting_error(err, errlen, "%s is empty, unreadable or larger than %d bytes", path, CK_AUTH_JWKS_DOC_MAX);
        free(d->data);
        d->data = NULL;
        return -1;
    }
    return 0;
}

/* --- URLs ------------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    doc_t *d = userdata;
    size_t n = size * nmemb;
    if (d->len + n > CK_AUTH_JWKS_DOC_MAX) {
        d->too_big = 1;
        return 0;
    }
    ck_strbuf_add(&d->body, ptr, n);
    d->len = d->body.len;
    return d->body.failed ? 0 : n;
}

/* Aborts the transfer once the source is stopping (NULL keys: never). */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return clientp != NULL && ck_auth_jwks_stopping(clientp);
}

/* GETs `url` into `d` (malloc'd) with a blocking easy handle; `keys` (or
 * NULL) lets a stop abort it.  Returns 0 on a 200 answer, or -1 with `err`. */
static int fetch_url(const char *url, ck_auth_jwks_t *keys, doc_t *d, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (h == NULL) {
        ck_setting_error(err, errlen, "cannot create a curl handle");
        return -1;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CK_AUTH_JWKS_FETCH_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CK_AUTH_JWKS_FETCH_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, keys);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "chatkitd-jwks");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || status != 200 || d->len == 0) {
        if (d->too_big)
            ck_setting_error(err, errlen, "GET %s: larger than %d bytes", url, CK_AUTH_JWKS_DOC_MAX);
        else if (rc != CURLE_OK)
            ck_setting_error(err, errlen, "GET %s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
        else
            ck_setting_error(err, errlen, "GET %s: HTTP status %ld%s", url, status, d->len == 0 ? ", empty body" : "");
        free(d->body.p);
        d->body = (ck_strbuf_t){0};
        return -1;
    }
    d->data = ck_strbuf_take(&d->body);
    return d->data != NULL ? 0 : -1;
}

/* Loads and parses the set at `location`.  Returns a new set or NULL with
 * `err` set. */
static ck_auth_jwks_set_t *load(const char *location, ck_auth_jwks_t *keys, char *err, size_t errlen)
{
    doc_t d = {0};
    int rc = is_url(location) ? fetch_url(location, keys, &d, err, errlen) : read_file(location, &d, err, errlen);
    if (rc != 0)
        return NULL;
    char why[200];
    ck_auth_jwks_set_t *set = ck_auth_jwks_parse(d.data, d.len, why, sizeof(why));
    free(d.data);
    if (set == NULL)
        ck_setting_error(err, errlen, "%s: %s", location, why);
    return set;
}

/* --- the refresh thread --------------------------------------------------------- */

static void *refresh_main(void *arg)
{
    ck_auth_jwks_source_t *src = arg;
    ck_auth_jwks_wake_t why;
    while ((why = ck_auth_jwks_wait(src->keys, src->refresh_ms)) != CK_AUTH_JWKS_WAKE_STOP) {
        char err[512];
        ck_auth_jwks_set_t *set = load(src->url, src->keys, err, sizeof(err));
        if (set == NULL) {
            if (!ck_auth_jwks_stopping(src->keys))
                ck_warn("auth: JWKS refresh failed, keeping the current keys: %s", err);
            continue;
        }
        ck_debug("auth: JWKS refreshed (%s)", why == CK_AUTH_JWKS_WAKE_EARLY ? "unknown kid seen" : "period");
        ck_auth_jwks_replace(src->keys, set);
    }
    return NULL;
}

ck_auth_jwks_source_t *ck_auth_jwks_source_start(const char *location, long refresh_s, char *err, size_t errlen)
{
    if (refresh_s < 1 || refresh_s > 86400) {
        ck_setting_error(err, errlen, "CHATKITD_JWT_JWKS_REFRESH_S must be between 1 and 86400");
        return NULL;
    }
    ck_auth_jwks_source_t *src = calloc(1, sizeof(*src));
    if (src == NULL || (is_url(location) && (src->url = strdup(location)) == NULL)) {
        ck_setting_error(err, errlen, "out of memory");
        free(src);
        return NULL;
    }
    src->refresh_ms = refresh_s * 1000;
    ck_auth_jwks_set_t *set = load(location, NULL, err, errlen);
    if (set != NULL)
        log_set(location, set);
    if (set == NULL || (src->keys = ck_auth_jwks_new(set)) == NULL) {
        if (set != NULL)
            ck_setting_error(err, errlen, "out of memory");
        ck_auth_jwks_source_stop(src);
        return NULL;
    }
    if (src->url != NULL) {
        if (pthread_create(&src->thread, NULL, refresh_main, src) != 0) {
            ck_setting_error(err, errlen, "cannot start the JWKS refresh thread");
            ck_auth_jwks_source_stop(src);
            return NULL;
        }
        src->thread_started = 1;
        ck_info("auth: JWKS refreshed every %ld s, and early (at most every %d s) on an unknown kid", refresh_s,
                CK_AUTH_JWKS_EARLY_REFRESH_S);
    }
    return src;
}

ck_auth_jwks_t *ck_auth_jwks_source_keys(ck_auth_jwks_source_t *src) { return src->keys; }

void ck_auth_jwks_source_stop(ck_auth_jwks_source_t *src)
{
    if (src == NULL)
        return;
    if (src->thread_started) {
        ck_auth_jwks_stop(src->keys);
        pthread_join(src->thread, NULL);
    }
    ck_auth_jwks_free(src->keys);
    free(src->url);
    free(src);
}
