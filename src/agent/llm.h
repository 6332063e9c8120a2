/*
 * llm.h - HTTP client of an OpenAI-compatible endpoint on libcurl multi,
 * driven by the worker's loop (src/base/loop.h: ck_watch for curl's
 * sockets, ck_timer for curl's timer).
 *
 * One ck_agent_llm_t per worker (inside its ck_agent_t).  A call POSTs a
 * JSON body (or a multipart/form-data upload, ck_agent_llm_post_form) and
 * either streams the answer (text/event-stream parsed by
 * upstream_sse.h: text deltas go to on_text as they arrive, tool calls and
 * finish_reason are in the result) or buffers it (a JSON response).
 *
 * Reliability: connect timeout (curl), first-token and stall timeouts
 * (ck timers), retries with exponential backoff and full jitter (honouring
 * Retry-After) for connect errors, timeouts, 408/409/429/5xx and broken
 * streams, but only while no text was handed to on_text yet.
 *
 * Invariants: curl handles are never removed or cleaned up from inside a
 * curl callback (cancelled calls are reaped from a 0 ms timer); callbacks
 * never run after ck_agent_llm_cancel(); nothing blocks.
 */
#ifndef CK_AGENT_LLM_H
#define CK_AGENT_LLM_H

#include <stddef.h>

#include <jansson.h>

#include "base/loop.h"
#include "agent/upstream_sse.h"

typedef struct ck_agent_llm ck_agent_llm_t;
typedef struct ck_agent_llm_call ck_agent_llm_call_t;

/* The HTTP version of a call (CHATKITD_UPSTREAM_HTTP for model calls):
 *   AUTO   HTTP/2 where TLS negotiation (ALPN) offers it, else HTTP/1.1;
 *          calls to one https endpoint wait for the first connection's
 *          answer (CURLOPT_PIPEWAIT), so concurrent calls share HTTP/2
 *          connections (at most the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS,
 *          and ck_agent_llm_set_max_streams(), per connection) instead of
 *          opening one each;
 *   HTTP1  HTTP/1.1 only: one connection per call in flight.
 * HTTP/2 without TLS (h2c with prior knowledge) is not offered: libcurl
 * 7.88.1 fails every request that reuses such a connection ("Error in the
 * HTTP2 framing layer"; fixed in libcurl 8.0). */
typedef enum ck_agent_http { CK_AGENT_HTTP_AUTO = 0, CK_AGENT_HTTP_1_1 } ck_agent_http_t;

typedef struct ck_agent_llm_opts {
    const char *url;            /* full URL, e.g. https://api.openai.com/v1/chat/completions */
    const char *api_key;        /* NULL or "" = no Authorization header */
    int stream;                 /* 1: SSE answer, 0: one JSON document */
    int connect_timeout_ms;     /* <= 0: 10000 */
    int first_token_timeout_ms; /* until the first SSE event (streamed) or the whole answer (buffered); <= 0: 60000 */
    int stall_timeout_ms;       /* longest silence once data flows; <= 0: 30000 */
    int max_retries;            /* < 0: 0 */
    /* Plain HTTP calls (HTTP tools): with raw_answer = 1 (and stream = 0)
     * any 2xx answer is a success whatever its body, which is handed over
     * as bytes (result.raw); a body above max_body bytes (0: 4 MiB) fails
     * the call ("answer larger than ..."); total_timeout_ms > 0 bounds the
     * whole call. */
    int raw_answer;
    size_t max_body;
    int total_timeout_ms;
    const char *const *headers; /* NULL-terminated extra "Name: value" lines, or NULL */
    const char *request_id;     /* sent as X-Request-Id and put on the call's log lines ("" = none);
                                   NULL = the thread's current log scope (ck_log_scope_current) */
    ck_agent_http_t http;       /* HTTP version towards the endpoint (CK_AGENT_HTTP_AUTO when 0) */
    const char *ca_file;        /* PEM bundle of the CAs trusted for an https endpoint; NULL = the system's */
} ck_agent_llm_opts_t;

typedef struct ck_agent_llm_result {
    int ok;                       /* 1: complete answer; 0: failed (after retries) */
    const char *error;            /* on failure: what went wrong, for the log */
    long http_status;             /* last HTTP status (0 when none) */
    int attempts;                 /* 1 + retries done */
    const ck_agent_sse_t *stream; /* streamed: tool calls, finish_reason (valid during the callback) */
    const json_t *body;           /* buffered: the decoded answer (borrowed, valid during the callback) */
    const char *raw;              /* raw_answer: the body bytes (NUL-terminated), valid during the callback */
    size_t raw_len;
} ck_agent_llm_result_t;

typedef struct ck_agent_llm_callbacks {
    /* Streamed calls: one content delta (valid during the call). */
    void (*on_text)(const char *delta, size_t len, void *user);
    /* Exactly once, unless cancelled first.  The call handle is freed when
     * it returns: do not cancel or pause it from here on. */
    void (*on_done)(const ck_agent_llm_result_t *result, void *user);
} ck_agent_llm_callbacks_t;

/* Creates the per-worker client.  Returns NULL on failure.  Free with
 * ck_agent_llm_free() on the loop thread (cancels every call silently). */
ck_agent_llm_t *ck_agent_llm_new(ck_loop_t *loop);

/* At most `n` calls share one HTTP/2 connection (<= 0: libcurl's default,
 * 100; the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS bounds it too).
 * libcurl 7.88.1 runs every transfer of a connection whenever data for one
 * of them arrives (and each polls the socket), so the CPU a chunk costs
 * grows with this number; more connections cost memory instead. */
void ck_agent_llm_set_max_streams(ck_agent_llm_t *llm, int n);
void ck_agent_llm_free(ck_agent_llm_t *llm);

/* Starts a POST of `body` (JSON text; copied) with `opts` (copied).  The
 * callbacks follow the async convention of src/base/loop.h: they run on the
 * loop thread, never from inside this function.  Returns the call handle,
 * or NULL when curl could not even set it up (then nothing is called). */
ck_agent_llm_call_t *ck_agent_llm_post(ck_agent_llm_t *llm, const ck_agent_llm_opts_t *opts, const char *body,
                                       const ck_agent_llm_callbacks_t *callbacks, void *user);

/* A multipart/form-data body: one file part and text fields. */
typedef struct ck_agent_llm_form {
    const char *file_field; /* name of the file part, e.g. "file" */
    const void *file_data;  /* its bytes (copied by the call) */
    size_t file_len;
    const char *file_name;     /* its filename, e.g. "audio.webm" */
    const char *file_type;     /* its Content-Type, or NULL */
    const char *const *fields; /* NULL-terminated name, value, name, value... text parts; may be NULL */
} ck_agent_llm_form_t;

/* Like ck_agent_llm_post(), with `form` (copied) as a multipart/form-data
 * body.  Use opts->stream = 0 (a JSON answer).  Same callback contract. */
ck_agent_llm_call_t *ck_agent_llm_post_form(ck_agent_llm_t *llm, const ck_agent_llm_opts_t *opts,
                                            const ck_agent_llm_form_t *form, const ck_agent_llm_callbacks_t *callbacks,
                                            void *user);

/* No callback will run any more; the transfer is aborted and freed soon
 * (outside curl callbacks).  Safe from inside on_text. */
void ck_agent_llm_cancel(ck_agent_llm_call_t *call);

/* Backpressure: while paused, no on_text is delivered (curl keeps the data
 * and stops reading the socket); the stall timeout is suspended. */
void ck_agent_llm_pause(ck_agent_llm_call_t *call, int paused);

#endif
