/*
 * llm.c - libcurl multi on the worker loop (see llm.h).
 *
 * Call states:
 *
 *     post --> RUNNING --(done/fail)--> on_done, freed
 *                 |  ^
 *   (retryable    v  | retry timer
 *    failure) WAITING
 *
 *     cancel (any state) --> CANCELLED: queued, reaped by a 0 ms timer
 *
 * curl talks to the loop through sock_cb (CURLMOPT_SOCKETFUNCTION: one
 * ck_watch per socket, write interest re-armed after every action because
 * ck_watch write notifications are one-shot) and timer_cb
 * (CURLMOPT_TIMERFUNCTION: one ck_timer).  After every
 * curl_multi_socket_action() the finished transfers are collected from
 * curl_multi_info_read(); that is the only place (besides the watchdog and
 * the reaper, both ck timers) where handles leave the multi.
 */
#include "agent/llm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/strbuf.h"

#define ERROR_BODY_MAX 4096
#define BUFFERED_BODY_MAX (4u << 20)
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 8000
#define RETRY_AFTER_CAP_MS 60000
/* libcurl's receive buffer of a streamed call (its default is 16 KiB, held
 * by every easy handle for its whole life; 1 KiB is libcurl's minimum).  A
 * streamed answer arrives as SSE events of a few hundred bytes each, so a
 * small buffer costs no extra reads in practice and saves 15 KiB per open
 * stream; a longer burst is simply read in several pieces (over HTTP/2 the
 * rest of a DATA frame waits in nghttp2).  Buffered calls keep the default. */
#define STREAM_BUFFER_SIZE 1024L
/* libcurl's upload buffer (default 64 KiB, 16 KiB minimum): over HTTP/2 and
 * over TLS the request body is copied through it, and libcurl 7.88 keeps it
 * until the transfer ends, i.e. for an open stream's whole life. */
#define UPLOAD_BUFFER_SIZE 16384L

typedef struct llm_sock {
    ck_agent_llm_t *llm;
    curl_socket_t fd;
    ck_watch_t *watch;
    int what;
    struct llm_sock *next, **prev; /* llm->socks; prev points at the link to this one */
} llm_sock_t;

enum call_state { CALL_RUNNING, CALL_WAITING, CALL_CANCELLED };

struct ck_agent_llm_call {
    ck_agent_llm_t *llm;
    ck_agent_llm_call_t *next, **prev; /* llm->calls; prev points at the link to this one */
    enum call_state state;
    CURL *easy;
    struct curl_slist *headers;
    char *body;      /* JSON body (NULL for a form, or once released: release_body) */
    size_t body_len;
    curl_mime *mime; /* form body, or NULL */
    ck_agent_llm_opts_t opts;
    ck_agent_llm_callbacks_t cb;
    void *user;
    int in_multi;
    int attempt;   /* attempts started */
    int delivered; /* text reached on_text: no more retries */
    int got_data;  /* this attempt produced its first event/bytes */
    int timed_out;
    int start_failed; /* curl_multi_add_handle refused the handle */
    int paused;
    int done_pending;  /* the transfer ended while paused: finished on unpause */
    CURLcode done_res; /* ... with this result */
    int too_large; /* raw_answer: the body went over opts.max_body */
    long status;
    long retry_after_ms; /* -1: none */
    ck_agent_sse_t sse;
    char request_id[132]; /* opts.request_id copied ("" when none) */
    ck_strbuf_t raw;      /* error body or buffered answer */
    ck_strbuf_t held;     /* stream bytes that arrived after a pause, fed on unpause */
    ck_timer_t *watchdog;
    ck_timer_t *retry_timer;
    ck_timer_t *unpause_timer;
};

struct ck_agent_llm {
    ck_loop_t *loop;
    CURLM *multi;
    ck_timer_t *curl_timer;
    ck_timer_t *reaper;
    llm_sock_t *socks;
    ck_agent_llm_call_t *calls;
    llm_sock_t *acting; /* the socket on_sock_event is reporting to curl, or NULL */
    int acting_dropped; /* curl removed `acting` meanwhile (it is freed) */
};

static void process_done(ck_agent_llm_t *llm);
static void start_attempt(ck_agent_llm_call_t *call);
static void finish_attempt(ck_agent_llm_call_t *call, CURLcode res);
static int feed_stream(ck_agent_llm_call_t *call, const char *data, size_t n);

/* --- sockets and timers ---------------------------------------------------- */

static int interest(int what)
{
    return ((what & CURL_POLL_IN) ? CK_READABLE : 0) | ((what & CURL_POLL_OUT) ? CK_WRITABLE : 0);
}

static void drop_sock(ck_agent_llm_t *llm, llm_sock_t *sock)
{
    *sock->prev = sock->next;
    if (sock->next)
        sock->next->prev = sock->prev;
    if (llm->acting == sock)
        llm->acting_dropped = 1;
    ck_watch_stop(sock->watch);
    free(sock);
}

static void on_sock_event(ck_watch_t *watch, int events, void *user)
{
    (void)watch;
    llm_sock_t *sock = user;
    ck_agent_llm_t *llm = sock->llm;
    curl_socket_t fd = sock->fd;
    int flags = ((events & CK_READABLE) ? CURL_CSELECT_IN : 0) | ((events & CK_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    llm->acting = sock;
    llm->acting_dropped = 0;
    curl_multi_socket_action(llm->multi, fd, flags, &running);
    int dropped = llm->acting_dropped; /* curl may have removed (and we freed) it */
    llm->acting = NULL;
    if (!dropped && (sock->what & CURL_POLL_OUT))
        ck_watch_want(sock->watch, interest(sock->what));
    process_done(llm);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    ck_agent_llm_t *llm = userp;
    llm_sock_t *sock = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sock)
            drop_sock(llm, sock);
        curl_multi_assign(llm->multi, fd, NULL);
        return 0;
    }
    if (sock == NULL) {
        sock = calloc(1, sizeof(*sock));
        if (sock == NULL)
            return -1;
        sock->llm = llm;
        sock->fd = fd;
        sock->watch = ck_watch_start(llm->loop, fd, on_sock_event, sock);
        if (sock->watch == NULL) {
            free(sock);
            return -1;
        }
        sock->next = llm->socks;
        sock->prev = &llm->socks;
        if (llm->socks)
            llm->socks->prev = &sock->next;
        llm->socks = sock;
        curl_multi_assign(llm->multi, fd, sock);
    }
    sock->what = what;
    ck_watch_want(sock->watch, interest(what));
    return 0;
}

static void on_curl_timer(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_llm_t *llm = user;
    int running;
    curl_multi_socket_action(llm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_done(llm);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    ck_agent_llm_t *llm = userp;
    if (timeout_ms < 0)
        ck_timer_cancel(llm->curl_timer);
    else
        ck_timer_arm(llm->curl_timer, (uint64_t)timeout_ms);
    return 0;
}

/* --- call lifetime ------------------------------------------------------------ */

static void unlink_call(ck_agent_llm_call_t *call)
{
    if (call->prev == NULL)
        return;
    *call->prev = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = NULL;
}

static void detach(ck_agent_llm_call_t *call)
{
    if (call->in_multi) {
        curl_multi_remove_handle(call->llm->multi, call->easy);
        call->in_multi = 0;
    }
    if (call->watchdog)
        ck_timer_cancel(call->watchdog);
}

static void free_timer(ck_timer_t *timer)
{
    if (timer)
        ck_timer_free(timer);
}

/* Frees a call that is no longer in the multi handle's hands. */
static void free_call(ck_agent_llm_call_t *call)
{
    detach(call);
    unlink_call(call);
    curl_easy_cleanup(call->easy);
    curl_mime_free(call->mime); /* after the easy handle that used it */
    curl_slist_free_all(call->headers);
    free_timer(call->watchdog);
    free_timer(call->retry_timer);
    free_timer(call->unpause_timer);
    ck_agent_sse_free(&call->sse);
    free((char *)call->opts.url);
    free(call->body);
    free(call->raw.p);
    ck_strbuf_free(&call->held);
    free(call);
}

static void on_reaper(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_llm_t *llm = user;
    ck_agent_llm_call_t *call = llm->calls, *next;
    for (; call; call = next) {
        next = call->next;
        if (call->state == CALL_CANCELLED)
            free_call(call);
    }
}

void ck_agent_llm_cancel(ck_agent_llm_call_t *call)
{
    if (call == NULL || call->state == CALL_CANCELLED)
        return;
    call->state = CALL_CANCELLED;
    call->cb.on_text = NULL;
    call->cb.on_done = NULL;
    ck_timer_cancel(call->watchdog);
    ck_timer_cancel(call->retry_timer);
    ck_timer_cancel(call->unpause_timer);
    ck_timer_arm(call->llm->reaper, 0);
}

/* --- pause ---------------------------------------------------------------------- */

static void arm_watchdog(ck_agent_llm_call_t *call)
{
    if (call->paused)
        return;
    ck_timer_arm(call->watchdog,
                 (uint64_t)(call->got_data ? call->opts.stall_timeout_ms : call->opts.first_token_timeout_ms));
}

/* Resumes a call: first the bytes held back when it paused (which may
 * pause it again), then the transfer's end if that came meanwhile, else
 * curl's delivery. */
static void on_unpause(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_llm_call_t *call = user;
    if (call->state != CALL_RUNNING || call->paused)
        return;
    if (call->held.len > 0) {
        ck_strbuf_t held = call->held; /* feeding may hold a rest again */
        call->held = (ck_strbuf_t){0};
        int rc = feed_stream(call, held.p, held.len);
        ck_strbuf_free(&held);
        if (call->state != CALL_RUNNING)
            return;
        if (rc < 0) {
            finish_attempt(call, CURLE_WRITE_ERROR);
            return;
        }
        if (call->paused)
            return;
    }
    if (call->done_pending) {
        call->done_pending = 0;
        finish_attempt(call, call->done_res);
        return;
    }
    if (call->in_multi) {
        curl_easy_pause(call->easy, CURLPAUSE_CONT);
        arm_watchdog(call);
    }
    process_done(call->llm);
}

void ck_agent_llm_pause(ck_agent_llm_call_t *call, int paused)
{
    if (call == NULL || call->state == CALL_CANCELLED || call->paused == !!paused)
        return;
    call->paused = !!paused;
    if (paused)
        ck_timer_cancel(call->watchdog);
    else
        ck_timer_arm(call->unpause_timer, 0); /* never unpause from inside a curl callback */
}

/* --- data -------------------------------------------------------------------- */

static void sse_text(const char *delta, size_t len, void *user)
{
    ck_agent_llm_call_t *call = user;
    if (call->state != CALL_RUNNING || call->cb.on_text == NULL)
        return;
    call->delivered = 1;
    call->cb.on_text(delta, len, call->user);
}

/* Frees the request body of a streamed call once nothing can send it again:
 * text was delivered (no retry of ours follows, and libcurl retries a
 * request only before any of its answer arrived) and libcurl has taken all
 * of it (CURLINFO_SIZE_UPLOAD_T: sent, or copied into its upload buffer).
 * An open stream then keeps no copy of the prompt. */
static void release_body(ck_agent_llm_call_t *call)
{
    curl_off_t sent = 0;
    if (call->body == NULL || !call->delivered ||
        curl_easy_getinfo(call->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK || sent < (curl_off_t)call->body_len)
        return;
    free(call->body);
    call->body = NULL;
}

/* Appends at most what keeps `raw` within `max` bytes.  0, or -1 when out of memory. */
static int append_raw(ck_agent_llm_call_t *call, const char *data, size_t n, size_t max)
{
    if (call->raw.len + n > max)
        n = max - call->raw.len;
    ck_strbuf_add(&call->raw, data, n);
    return call->raw.failed ? -1 : 0;
}

/* Feeds streamed bytes to the SSE parser a line at a time, so that an
 * event that pauses the call is the last one delivered: the rest of the
 * chunk is held (curl cannot take back part of what it handed over) and
 * fed on unpause.  0, or -1 when the stream is garbage or out of memory. */
static int feed_stream(ck_agent_llm_call_t *call, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n && call->state == CALL_RUNNING) {
        if (call->paused) {
            ck_strbuf_add(&call->held, data + i, n - i);
            return call->held.failed ? -1 : 0;
        }
        const char *nl = memchr(data + i, '\n', n - i);
        size_t len = nl != NULL ? (size_t)(nl - (data + i)) + 1 : n - i;
        if (ck_agent_sse_feed(&call->sse, data + i, len) < 0)
            return -1;
        i += len;
    }
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *user)
{
    ck_agent_llm_call_t *call = user;
    size_t n = size * nmemb;
    if (call->state != CALL_RUNNING)
        return 0;
    if (call->paused || call->held.len > 0) /* held bytes go first, on unpause */
        return CURL_WRITEFUNC_PAUSE;
    if (call->status == 0)
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
    if (call->opts.raw_answer && call->status >= 200 && call->status <= 299) {
        if (call->raw.len + n > call->opts.max_body) {
            call->too_large = 1;
            return 0; /* aborts the transfer */
        }
        if (append_raw(call, data, n, call->opts.max_body) < 0)
            return 0;
        arm_watchdog(call);
        return n;
    }
    if (call->status != 200) {
        append_raw(call, data, n, ERROR_BODY_MAX);
        return n;
    }
    if (!call->opts.stream) {
        if (call->raw.len + n > BUFFERED_BODY_MAX || append_raw(call, data, n, BUFFERED_BODY_MAX) < 0)
            return 0;
        arm_watchdog(call);
        return n;
    }
    int rc = feed_stream(call, data, n);
    if (call->state != CALL_RUNNING || rc < 0)
        return 0; /* cancelled from on_text, or garbage: abort the transfer */
    release_body(call);
    if (!call->got_data && (call->sse.chunks > 0 || call->sse.done))
        call->got_data = 1;
    arm_watchdog(call);
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *user)
{
    ck_agent_llm_call_t *call = user;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char *end;
        long seconds = strtol(data + sizeof(name) - 1, &end, 10);
        /* cap before multiplying: a huge value from the network must not overflow */
        if (end != data + sizeof(name) - 1 && seconds >= 0)
            call->retry_after_ms = seconds > RETRY_AFTER_CAP_MS / 1000 ? RETRY_AFTER_CAP_MS : seconds * 1000;
    }
    return n;
}

/* --- completion -------------------------------------------------------------- */

static int retryable(const ck_agent_llm_call_t *call, CURLcode res)
{
    long s = call->status;
    if (call->delivered || call->attempt > call->opts.max_retries)
        return 0;
    if (s == 408 || s == 409 || s == 429 || s >= 500)
        return 1;
    if (s != 0 && s != 200)
        return 0;
    return res != CURLE_OK || call->timed_out || call->sse.error != NULL || s == 200;
}

static uint64_t backoff_ms(const ck_agent_llm_call_t *call)
{
    if (call->retry_after_ms >= 0)
        return (uint64_t)call->retry_after_ms;
    uint64_t cap = BACKOFF_BASE_MS << (call->attempt < 5 ? call->attempt - 1 : 4);
    if (cap > BACKOFF_CAP_MS)
        cap = BACKOFF_CAP_MS;
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
        r = (uint32_t)rand();
    return r % (cap + 1); /* full jitter */
}

/* Describes a failed attempt into `buf`. */
static const char *describe(ck_agent_llm_call_t *call, CURLcode res, char *buf, size_t len)
{
    if (call->too_large)
        snprintf(buf, len, "the answer is larger than %zu bytes", call->opts.max_body);
    else if (call->opts.raw_answer && (call->timed_out || res == CURLE_OPERATION_TIMEDOUT))
        snprintf(buf, len, "timed out after %d ms", call->opts.total_timeout_ms);
    else if (call->timed_out || res == CURLE_OPERATION_TIMEDOUT)
        snprintf(buf, len, "timed out waiting for %s", call->got_data ? "more data (stall)" : "the first token");
    else if (call->status != 0 && call->status != 200)
        snprintf(buf, len, "HTTP %ld: %.300s", call->status, call->raw.len > 0 ? call->raw.p : "");
    else if (call->sse.error)
        snprintf(buf, len, "%s", call->sse.error);
    else if (res != CURLE_OK)
        snprintf(buf, len, "%s", curl_easy_strerror(res));
    else
        snprintf(buf, len, "unusable answer");
    return buf;
}

/* 1 when the finished transfer delivered a complete, usable answer. */
static int complete(ck_agent_llm_call_t *call, CURLcode res, json_t **body)
{
    if (call->opts.raw_answer)
        return res == CURLE_OK && !call->timed_out && call->status >= 200 && call->status <= 299;
    if (res != CURLE_OK || call->timed_out || call->status != 200)
        return 0;
    if (call->opts.stream)
        return ck_agent_sse_finish(&call->sse) == 0;
    *body = call->raw.len > 0 ? json_loadb(call->raw.p, call->raw.len, 0, NULL) : NULL;
    return json_is_object(*body);
}

static void finish_attempt(ck_agent_llm_call_t *call, CURLcode res)
{
    detach(call);
    if (call->state == CALL_CANCELLED)
        return;
    json_t *body = NULL;
    char why[512];
    ck_agent_llm_result_t result = {.http_status = call->status, .attempts = call->attempt, .stream = &call->sse};
    result.ok = complete(call, res, &body);
    if (!result.ok) {
        describe(call, res, why, sizeof(why));
        if (retryable(call, res)) {
            uint64_t delay = backoff_ms(call);
            const char *scope = ck_log_scope_enter(call->request_id);
            ck_warn("llm: attempt %d failed (%s); retrying in %llu ms", call->attempt, why, (unsigned long long)delay);
            ck_log_scope_leave(scope);
            call->state = CALL_WAITING;
            ck_timer_arm(call->retry_timer, delay);
            json_decref(body);
            return;
        }
        result.error = why;
    }
    result.body = body;
    result.raw = call->raw.len > 0 ? call->raw.p : "";
    result.raw_len = call->raw.len;
    ck_agent_llm_callbacks_t cb = call->cb;
    call->state = CALL_CANCELLED; /* from now on nothing reaches the user */
    const char *scope = ck_log_scope_enter(call->request_id);
    if (cb.on_done)
        cb.on_done(&result, call->user);
    ck_log_scope_leave(scope);
    json_decref(body);
    free_call(call);
}

static void process_done(ck_agent_llm_t *llm)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(llm->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        ck_agent_llm_call_t *call = (ck_agent_llm_call_t *)(void *)priv;
        CURLcode res = msg->data.result;
        if (call && call->state == CALL_RUNNING && (call->paused || call->held.len > 0)) {
            call->done_pending = 1; /* the held events come first: on unpause */
            call->done_res = res;
        } else if (call)
            finish_attempt(call, res);
    }
}

static void on_watchdog(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_llm_call_t *call = user;
    if (call->state != CALL_RUNNING || (!call->in_multi && !call->start_failed))
        return;
    call->timed_out = !call->start_failed;
    finish_attempt(call, call->start_failed ? CURLE_FAILED_INIT : CURLE_OPERATION_TIMEDOUT);
}

static void on_retry(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_llm_call_t *call = user;
    if (call->state == CALL_WAITING) {
        call->state = CALL_RUNNING;
        start_attempt(call);
    }
}

/* --- set-up ------------------------------------------------------------------ */

static void start_attempt(ck_agent_llm_call_t *call)
{
    call->attempt++;
    call->got_data = call->timed_out = call->start_failed = 0;
    call->status = 0;
    call->too_large = 0;
    call->retry_after_ms = -1;
    call->raw.len = 0; /* an attempt starts with an empty body; the buffer is kept */
    call->raw.failed = 0;
    ck_strbuf_free(&call->held);
    call->done_pending = 0;
    ck_agent_sse_free(&call->sse);
    if (curl_multi_add_handle(call->llm->multi, call->easy) != CURLM_OK) {
        call->start_failed = 1; /* reported by the watchdog on the next tick, never from here */
        ck_timer_arm(call->watchdog, 0);
        return;
    }
    call->in_multi = 1;
    arm_watchdog(call);
}

/* Builds the multipart body of `form` for the call's easy handle. */
static int setup_form(ck_agent_llm_call_t *call, const ck_agent_llm_form_t *form)
{
    call->mime = curl_mime_init(call->easy);
    curl_mimepart *part = call->mime ? curl_mime_addpart(call->mime) : NULL;
    if (part == NULL || curl_mime_name(part, form->file_field) != CURLE_OK ||
        curl_mime_data(part, form->file_data, form->file_len) != CURLE_OK ||
        curl_mime_filename(part, form->file_name) != CURLE_OK ||
        (form->file_type && curl_mime_type(part, form->file_type) != CURLE_OK))
        return -1;
    for (const char *const *f = form->fields; f && f[0] && f[1]; f += 2) {
        part = curl_mime_addpart(call->mime);
        if (part == NULL || curl_mime_name(part, f[0]) != CURLE_OK ||
            curl_mime_data(part, f[1], CURL_ZERO_TERMINATED) != CURLE_OK)
            return -1;
    }
    return curl_easy_setopt(call->easy, CURLOPT_MIMEPOST, call->mime) == CURLE_OK ? 0 : -1;
}

/* Sets up the easy handle: the JSON body, or `form` when call->body is NULL. */
static int setup_easy(ck_agent_llm_call_t *call, const ck_agent_llm_form_t *form)
{
    char auth[1024];
    call->easy = curl_easy_init();
    if (call->easy == NULL)
        return -1;
    call->headers =
        curl_slist_append(NULL, call->opts.stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (call->body)
        call->headers = curl_slist_append(call->headers, "Content-Type: application/json");
    call->headers = curl_slist_append(call->headers, "Expect:");
    if (call->opts.api_key && call->opts.api_key[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", call->opts.api_key);
        call->headers = curl_slist_append(call->headers, auth);
    }
    for (const char *const *h = call->opts.headers; h && *h && call->headers; h++)
        call->headers = curl_slist_append(call->headers, *h);
    if (call->request_id[0] != '\0') {
        snprintf(auth, sizeof(auth), "X-Request-Id: %s", call->request_id);
        call->headers = curl_slist_append(call->headers, auth);
    }
    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, call->opts.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    if (call->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    } else if (setup_form(call, form) < 0) {
        return -1;
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)call->opts.connect_timeout_ms);
    if (call->opts.total_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)call->opts.total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (call->opts.http == CK_AGENT_HTTP_1_1)
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    else if (strncasecmp(call->opts.url, "https:", 6) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                         1L); /* may multiplex: wait for a connection being set up rather than open another */
    if (call->opts.ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, call->opts.ca_file);
    if (call->opts.stream)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, STREAM_BUFFER_SIZE);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_SIZE);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    return call->headers ? 0 : -1;
}

static int or_default(int value, int fallback) { return value > 0 ? value : fallback; }

/* Creates and starts a call whose body is `body` (JSON text, copied) or,
 * when `body` is NULL, `form`.  NULL when it cannot be set up. */
static ck_agent_llm_call_t *start_call(ck_agent_llm_t *llm, const ck_agent_llm_opts_t *opts, const char *body,
                                       const ck_agent_llm_form_t *form, const ck_agent_llm_callbacks_t *callbacks,
                                       void *user)
{
    ck_agent_llm_call_t *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return NULL;
    call->llm = llm;
    call->opts = *opts;
    call->opts.url = strdup(opts->url);
    call->opts.api_key = opts->api_key;                                             /* only read in setup_easy below */
    const char *rid = opts->request_id ? opts->request_id : ck_log_scope_current(); /* e.g. input.transcribe */
    snprintf(call->request_id, sizeof call->request_id, "%s", rid ? rid : "");
    call->opts.request_id = NULL;
    call->opts.connect_timeout_ms = or_default(opts->connect_timeout_ms, 10000);
    call->opts.first_token_timeout_ms = or_default(opts->first_token_timeout_ms, 60000);
    call->opts.stall_timeout_ms = or_default(opts->stall_timeout_ms, 30000);
    call->opts.max_retries = opts->max_retries > 0 ? opts->max_retries : 0;
    call->opts.max_body = opts->max_body > 0 ? opts->max_body : BUFFERED_BODY_MAX;
    call->cb = *callbacks;
    call->user = user;
    call->body = body ? strdup(body) : NULL;
    call->body_len = call->body ? strlen(call->body) : 0;
    call->next = llm->calls;
    call->prev = &llm->calls;
    if (llm->calls)
        llm->calls->prev = &call->next;
    llm->calls = call;
    ck_agent_sse_init(&call->sse, sse_text, call);
    call->watchdog = ck_timer_new(llm->loop, on_watchdog, call);
    call->retry_timer = ck_timer_new(llm->loop, on_retry, call);
    call->unpause_timer = ck_timer_new(llm->loop, on_unpause, call);
    if (!call->opts.url || (body && !call->body) || !call->watchdog || !call->retry_timer || !call->unpause_timer ||
        setup_easy(call, form) < 0) {
        free_call(call);
        return NULL;
    }
    call->opts.api_key = NULL;
    call->opts.headers = NULL; /* likewise */
    call->opts.ca_file = NULL; /* likewise (curl copies it) */
    start_attempt(call);
    return call;
}

ck_agent_llm_call_t *ck_agent_llm_post(ck_agent_llm_t *llm, const ck_agent_llm_opts_t *opts, const char *body,
                                       const ck_agent_llm_callbacks_t *callbacks, void *user)
{
    return body ? start_call(llm, opts, body, NULL, callbacks, user) : NULL;
}

ck_agent_llm_call_t *ck_agent_llm_post_form(ck_agent_llm_t *llm, const ck_agent_llm_opts_t *opts,
                                            const ck_agent_llm_form_t *form, const ck_agent_llm_callbacks_t *callbacks,
                                            void *user)
{
    if (form == NULL || form->file_field == NULL || form->file_name == NULL ||
        (form->file_data == NULL && form->file_len))
        return NULL;
    return start_call(llm, opts, NULL, form, callbacks, user);
}

static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

ck_agent_llm_t *ck_agent_llm_new(ck_loop_t *loop)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    ck_agent_llm_t *llm = calloc(1, sizeof(*llm));
    if (llm == NULL)
        return NULL;
    pthread_once(&once, global_init);
    llm->loop = loop;
    llm->multi = curl_multi_init();
    llm->curl_timer = ck_timer_new(loop, on_curl_timer, llm);
    llm->reaper = ck_timer_new(loop, on_reaper, llm);
    if (!llm->multi || !llm->curl_timer || !llm->reaper) {
        ck_agent_llm_free(llm);
        return NULL;
    }
    curl_multi_setopt(llm->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(llm->multi, CURLMOPT_SOCKETDATA, llm);
    curl_multi_setopt(llm->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(llm->multi, CURLMOPT_TIMERDATA, llm);
    /* Keep at most this many idle upstream connections for reuse: after a
     * burst of thousands of turns curl would otherwise hold ~half of them. */
    curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS, 64L);
    return llm;
}

void ck_agent_llm_set_max_streams(ck_agent_llm_t *llm, int n)
{
    if (n > 0)
        curl_multi_setopt(llm->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)n);
}

void ck_agent_llm_free(ck_agent_llm_t *llm)
{
    if (llm == NULL)
        return;
    while (llm->calls)
        free_call(llm->calls);
    if (llm->multi)
        curl_multi_cleanup(llm->multi);
    while (llm->socks)
        drop_sock(llm, llm->socks);
    free_timer(llm->curl_timer);
    free_timer(llm->reaper);
    free(llm);
}
