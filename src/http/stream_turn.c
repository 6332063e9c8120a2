/*
 * stream_turn.c - the streamed turn: pre-flight store op, SSE response,
 * agent run driven through the pure response pipeline (see stream_turn.h).
 *
 * One malloc'd turn_t per streamed request.  It may outlive the HTTP
 * request: when the client goes away, the cancellation persistence of spec
 * docs/protocol.md, "Cancellation" still has to reach the store, so the turn is freed only when nothing
 * is in flight any more.
 *
 *   PREFLIGHT --store reply ok--> STREAMING ----------------> (drained) -> end
 *      |  \                          |   agent on_finish / store failure /
 *      |   \ store reply error:      |   max duration / client gone
 *      |    4xx JSON, end            v
 *      +-- client gone: wait for the reply, then end without streaming
 *
 * Every event source (store replies, agent callbacks, h2o proceed/stop, the
 * request pool's dispose hook, timers) changes the turn and then calls
 * advance() (agent callbacks once per burst, through the `kick` timer),
 * which carries out the pipeline's steps in order: a PERSIST step starts
 * one store write that also takes every PERSIST step queued behind it and
 * the agent's records (one transaction: turn.write), and the FORWARD steps
 * among them wait until it committed (persist before forward, in order);
 * FORWARD steps are framed into the pending output buffer (base/strbuf.h).
 * A turn is thus two round trips to the store: the pre-flight op (which also
 * answers the agent's context) and the write of the answer (with the title
 * of a new thread and the usage row, when the agent is done by then).
 * Output: one h2o_send in flight at a time (`inflight`
 * buffer untouched until proceed()), later bytes accumulate in `pending`;
 * the last bytes go out with the single FINAL send, copied into the
 * request's pool so the turn can be freed at once.  The store and the agent
 * never call back from inside the call that starts their work (the callback
 * convention of src/base/loop.h), so a store op or an agent run started here
 * cannot change the turn before the starting call returns.  advance() is
 * still guarded against re-entry from h2o (a send may report progress at
 * once); only the outermost call may end and free the turn, so after
 * advance() returns the caller must not touch the turn; `hold` keeps the
 * turn alive while a function up the stack still uses it.
 *
 * custom_action: the action (and the sender widget, when item_id names one)
 * is routed to the agent as context (ck_turn_t.action / sender_item); an
 * item that is not a widget yields the single error event of docs/protocol.md, "threads.custom_action".
 */
#include "http/stream_turn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/strbuf.h"
#include "http/gate.h"
#include "http/peer_watch.h"
#include "http/request_ctx.h"
#include "http/respond.h"
#include "http/server.h"
#include "protocol/events.h"
#include "protocol/pipeline.h"
#include "protocol/turn.h"
#include "store/ops_record.h"

#define PAUSE_BYTES (1024 * 1024)
#define PERSIST_RETRY_DELAY_MS 100 /* between attempts of a write that lost its connection */

/* The human messages of the error events this file sends. */
#define MSG_NOT_SAVED "Your conversation could not be saved, so this answer was stopped. Please try again."
#define MSG_DB_DOWN "The database is unavailable, so this answer could not be saved. Please try again in a moment."
#define MSG_SHUTDOWN "The server is restarting, so this answer was stopped. Please try again in a moment."
#define MSG_NOT_STARTED "The assistant could not be started. Please try again."

typedef enum { TURN_PREFLIGHT, TURN_STREAMING } turn_phase_t;
typedef enum { AGENT_IDLE, AGENT_RUNNING, AGENT_DONE } agent_state_t;

typedef struct turn turn_t;

/* Lives in the request's pool; its dispose hook tells the turn the request is gone. */
typedef struct req_link {
    turn_t *turn;
} req_link_t;

struct turn {
    h2o_generator_t generator; /* first member: h2o hands it back to proceed/stop */
    h2o_linklist_t node;       /* in worker->turns while the turn exists */
    h2o_req_t *req;            /* NULL once the client is gone or FINAL was sent */
    req_link_t *link;          /* valid while req != NULL */
    ck_http_worker_t *worker;
    ck_request_t request; /* owned (moved in from the router) */
    char user_id[CK_USER_ID_MAX];
    turn_phase_t phase;

    ck_proto_pipeline_t *pipe;
    json_t *thread;       /* ThreadMetadata for the agent */
    json_t *user_message; /* the turn's user message, or NULL */
    json_t *sender_item;  /* custom_action: the widget item, or NULL */
    json_t *context;      /* the pre-flight op's `context` (the agent's context.load), or NULL */

    agent_state_t agent_state;
    ck_agent_run_t *run; /* while AGENT_RUNNING */
    int paused;

    int store_busy;       /* one store op (pre-flight or a write) in flight, or waiting for its retry */
    json_t *held;         /* the FORWARD steps queued behind the write in flight: sent once it committed */
    json_t *riders;       /* records to write with the next write ([{"op","params"}]: context.notice) */
    int usage_in_write;   /* the usage row is part of the write in flight */
    int usage_written;    /* ... and that write committed: no separate usage.add at the end */
    ck_timer_t *kick;     /* runs advance() once after a burst of agent callbacks */
    const char *retry_op; /* the write in flight: op and params, kept to retry it */
    char *retry_params;
    uint64_t retry_since; /* loop ms of the first failed attempt of the current write, or 0 */
    ck_timer_t *retry;    /* the next attempt */
    uint64_t peer_key;    /* HTTP/1.x: registration with the worker's peer watch, or 0 */
    int client_left;      /* the peer watch saw the client leave: the turn is cancelled, the request ends */
    int advancing, again;
    int hold;         /* >0 while a caller up the stack still uses the turn: it must not be freed */
    int open_counted; /* counted in chatkitd_open_streams */

    char request_id[CK_REQUEST_ID_MAX + 1]; /* the request's id: log scope, model and tool calls */
    char turn_key[40];                      /* random, 128 bits: the usage row's key (one row per turn) */
    double start;                           /* ck_metrics_now() when the request arrived */
    long first_token_ms;                    /* request -> first text delta framed, -1 before */
    int had_error;                          /* an error event was framed */
    int cancelled;                          /* the client left while the agent was running */
    ck_turn_stats_t stats;                  /* written by the agent */

    ck_strbuf_t pending, inflight;
    int sending; /* an h2o_send is in flight */
    ck_timer_t *heartbeat, *deadline;
};

static void advance(turn_t *t);
static void unwatch_peer(turn_t *t);

/* --- output buffers --------------------------------------------------- */

/* Appends `len` bytes to `b`.  Returns 0, or -1 when out of memory (then
 * `b` keeps what it had and takes later bytes again). */
static int buf_append(ck_strbuf_t *b, const char *data, size_t len)
{
    ck_strbuf_add(b, data, len);
    if (!b->failed)
        return 0;
    b->failed = 0;
    return -1;
}

/* --- agent control ------------------------------------------------------ */

/* Stops the agent run (no sink call follows). */
static void agent_stop(turn_t *t)
{
    if (t->agent_state != AGENT_RUNNING)
        return;
    ck_agent_cancel(t->run);
    t->run = NULL;
    t->agent_state = AGENT_DONE;
}

static void agent_pause(turn_t *t, int paused)
{
    if (t->run != NULL && t->agent_state == AGENT_RUNNING && t->paused != paused) {
        t->paused = paused;
        ck_agent_pause(t->run, paused);
    }
}

/* --- SSE writing -------------------------------------------------------- */

/* Sends `pending` when nothing is in flight (never touches `inflight` before proceed). */
static void flush(turn_t *t)
{
    if (t->req == NULL || t->sending || t->pending.len == 0)
        return;
    ck_strbuf_t sent = t->pending;
    t->pending = t->inflight;
    ck_strbuf_clear(&t->pending);
    t->inflight = sent;
    t->sending = 1;
    h2o_iovec_t vec = h2o_iovec_init(t->inflight.p, t->inflight.len);
    h2o_send(t->req, &vec, 1, H2O_SEND_STATE_IN_PROGRESS);
    if (t->heartbeat != NULL)
        ck_timer_arm(t->heartbeat, t->worker->config->heartbeat_ms);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    turn_t *t = (turn_t *)gen;
    (void)req;
    t->sending = 0;
    ck_strbuf_free(&t->inflight); /* an open stream waiting for its next token keeps no output buffer */
    if (t->pending.len < PAUSE_BYTES)
        agent_pause(t, 0);
    advance(t);
}

/* The client is gone: a running turn is cancelled (docs/protocol.md "Cancellation": the partial
 * text and the hidden note are persisted, nothing more is forwarded). */
static void cancel_turn(turn_t *t)
{
    if (t->phase == TURN_STREAMING) {
        if (t->agent_state == AGENT_RUNNING) {
            t->cancelled = 1;
            ck_proto_pipeline_cancel(t->pipe);
        }
        agent_stop(t);
    }
}

/* The client went away (generator stop or request disposal). */
static void client_gone(turn_t *t)
{
    if (t->req == NULL)
        return;
    if (t->link != NULL)
        t->link->turn = NULL;
    unwatch_peer(t);
    t->req = NULL;
    t->link = NULL;
    t->sending = 0; /* h2o no longer references `inflight` */
    cancel_turn(t);
    advance(t);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    client_gone((turn_t *)gen);
}

static void on_link_dispose(void *p)
{
    req_link_t *link = p;
    if (link->turn != NULL)
        client_gone(link->turn);
}

static void start_sse(turn_t *t)
{
    h2o_req_t *req = t->req;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/event-stream; charset=utf-8"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0, NULL, H2O_STRLIT("no"));
    t->generator.proceed = on_proceed;
    t->generator.stop = on_stop;
    h2o_start_response(req, &t->generator);
}

/* The metric labels of the turn: assistant and model ("none" without an agent). */
static const char *const *turn_labels(const turn_t *t, const char *pair[2])
{
    pair[0] = t->stats.assistant[0] ? t->stats.assistant : "default";
    pair[1] = t->stats.model[0] ? t->stats.model : "none";
    return pair;
}

/* Records the first text delta of the turn (chatkitd_turn_first_token_seconds). */
static void note_first_token(turn_t *t, const json_t *event)
{
    const json_t *update = json_object_get(event, "update");
    const char *type = json_string_value(json_object_get(update, "type"));
    if (type == NULL || strcmp(type, "assistant_message.content_part.text_delta") != 0)
        return;
    double seconds = ck_metrics_now() - t->start;
    const char *labels[2];
    t->first_token_ms = (long)(seconds * 1000.0);
    ck_metrics_observe(CK_M_TURN_FIRST_TOKEN, turn_labels(t, labels), seconds);
}

/* Frames one event into `pending`; the event is released. */
static void write_event(turn_t *t, json_t *event)
{
    char *frame;
    size_t len;
    if (t->first_token_ms < 0 && t->req != NULL)
        note_first_token(t, event);
    const char *type = json_string_value(json_object_get(event, "type"));
    if (type != NULL && strcmp(type, "error") == 0)
        t->had_error = 1;
    if (t->req != NULL && ck_proto_sse_frame(event, &frame, &len) == 0) {
        if (buf_append(&t->pending, frame, len) != 0)
            ck_warn("stream_turn: out of memory, event dropped");
        free(frame);
        if (t->pending.len > PAUSE_BYTES)
            agent_pause(t, 1);
    }
    json_decref(event);
}

/* A log line about `t`, in its request's scope, with the user as the keyed
 * hash of the access line (field `user`), never the raw id. */
__attribute__((format(printf, 3, 4))) static void turn_log(const turn_t *t, enum ck_log_level level, const char *fmt,
                                                           ...)
{
    char msg[512], user[17];
    va_list ap;
    if (!ck_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ck_http_user_hash(t->user_id, user);
    const char *scope = ck_log_scope_enter(t->request_id);
    ck_log_fields(level, msg, json_pack("{s:s}", "user", user));
    ck_log_scope_leave(scope);
}

/* --- timers ------------------------------------------------------------- */

static void on_heartbeat(ck_timer_t *timer, void *user)
{
    turn_t *t = user;
    if (t->req != NULL && !t->sending && t->pending.len == 0)
        buf_append(&t->pending, ": \n\n", 4);
    ck_timer_arm(timer, t->worker->config->heartbeat_ms);
    advance(t);
}

static void on_deadline(ck_timer_t *timer, void *user)
{
    turn_t *t = user;
    (void)timer;
    if (t->agent_state == AGENT_RUNNING) {
        const char *scope = ck_log_scope_enter(t->request_id);
        ck_info("stream_turn: maximum stream duration reached; the turn is stopped");
        ck_log_scope_leave(scope);
        agent_stop(t);
        /* Behind the steps already queued (a done item waiting for its
         * store write keeps its persist and forward), then end normally. */
        ck_proto_pipeline_feed(t->pipe, ck_proto_ev_error("custom", "The response took too long and was stopped.", 1));
        ck_proto_pipeline_finish(t->pipe);
    }
    advance(t);
}

/* The worker's peer watch saw the client of this HTTP/1.x stream leave
 * (http/peer_watch.h): h2o reads nothing from an HTTP/1 connection while
 * its response is being generated, so without it a silent stream (model
 * thinking, or hung) would notice only at the next write. */
static void on_peer_left(void *user)
{
    turn_t *t = user;
    t->peer_key = 0; /* the registration ended with this report */
    if (t->req == NULL || t->client_left)
        return;
    turn_log(t, CK_LOG_INFO, "stream_turn: the HTTP/1.1 client left; cancelling the turn");
    t->client_left = 1;
    cancel_turn(t);
    advance(t); /* the request ends with FINAL once the cancellation is persisted */
}

/* Registers an HTTP/1.x stream's socket with the worker's peer watch
 * (created with the worker's first such stream).  Without a registration
 * the client leaving is noticed at the next write (a token or heartbeat). */
static void watch_peer(turn_t *t)
{
    ck_http_worker_t *w = t->worker;
    h2o_socket_t *sock =
        t->req->conn->callbacks->get_socket != NULL ? t->req->conn->callbacks->get_socket(t->req->conn) : NULL;
    int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    if (fd < 0)
        return;
    if (w->peers == NULL && (w->peers = ck_http_peer_watch_new(w->loop, on_peer_left)) == NULL) {
        ck_warn("stream_turn: no peer watch (%s); HTTP/1.1 clients leaving are noticed at the next write",
                strerror(errno));
        return;
    }
    t->peer_key = ck_http_peer_watch_add(w->peers, fd, t);
}

/* The stream's socket no longer needs watching (the request ended or is ending). */
static void unwatch_peer(turn_t *t)
{
    ck_http_peer_watch_remove(t->worker->peers, t->peer_key);
    t->peer_key = 0;
}

static void start_timers(turn_t *t)
{
    if (t->req->version < 0x200)
        watch_peer(t);
    t->heartbeat = ck_timer_new(t->worker->loop, on_heartbeat, t);
    if (t->heartbeat != NULL)
        ck_timer_arm(t->heartbeat, t->worker->config->heartbeat_ms);
    uint64_t max_ms = ck_http_gate_max_stream_ms();
    if (max_ms > 0) {
        t->deadline = ck_timer_new(t->worker->loop, on_deadline, t);
        if (t->deadline != NULL)
            ck_timer_arm(t->deadline, max_ms);
    }
}

/* --- the end ------------------------------------------------------------ */

/* The op and the params text (malloc'd) that write `writes`
 * ([{"op","params"}]) and the usage row `usage` (usage.add params, stolen;
 * may be NULL) in one transaction: the op itself when it is alone (*op then
 * points into `writes` or is usage.add), else turn.write, whose `usage`
 * makes the write idempotent (sql/functions/turns.sql).  NULL when there
 * is nothing to write or out of memory. */
static char *writes_text(const json_t *writes, json_t *usage, const char **op)
{
    json_t *params = NULL;
    if (json_array_size(writes) == 1 && usage == NULL) {
        const json_t *only = json_array_get(writes, 0);
        *op = json_string_value(json_object_get(only, "op"));
        return *op != NULL ? ck_proto_dumps(json_object_get(only, "params")) : NULL;
    }
    if (json_array_size(writes) == 0) {
        *op = "usage.add";
        params = usage;
    } else {
        *op = "turn.write";
        params = json_pack("{s:O,s:o*}", "writes", writes, "usage", usage);
    }
    char *text = params != NULL ? ck_proto_dumps(params) : NULL;
    json_decref(params);
    return text;
}

/* The params of the turn's usage row as of now; `error` when an error
 * event is on its way (held behind the last write). */
static json_t *usage_params(turn_t *t, int error)
{
    const char *labels[2];
    turn_labels(t, labels);
    ck_usage_row_t row = {
        .request_id = t->request_id,
        .user_id = t->user_id,
        .thread_id = json_string_value(json_object_get(ck_proto_pipeline_thread(t->pipe), "id")),
        .assistant = labels[0],
        .model = labels[1],
        .outcome = t->had_error || error ? "error"
                   : t->cancelled        ? "cancelled"
                                         : "ok",
        .first_token_ms = t->first_token_ms,
        .duration_ms = (long)((ck_metrics_now() - t->start) * 1000.0),
        .prompt_tokens = t->stats.prompt_tokens,
        .completion_tokens = t->stats.completion_tokens,
        .tool_calls = t->stats.tool_calls,
        .turn_key = t->turn_key,
    };
    return ck_store_usage_params(&row);
}

static void on_recorded(const ck_store_reply_t *reply, void *user)
{
    (void)user;
    if (!reply->ok)
        ck_warn("stream_turn: writing the turn's records failed: %s", reply->message ? reply->message : "?");
}

/* The turn's metrics, and its records that no write carried (the usage
 * row, a notice): one fire-and-forget turn.write after the stream ended,
 * so it never delays the turn. */
static void record_turn(turn_t *t)
{
    const char *labels[2];
    ck_metrics_gauge_add(CK_M_OPEN_STREAMS, NULL, -1);
    ck_metrics_observe(CK_M_TURN_DURATION, turn_labels(t, labels), ck_metrics_now() - t->start);
    json_t *writes = t->riders != NULL ? t->riders : json_array();
    t->riders = NULL;
    const char *op = NULL;
    char *text = writes_text(writes, t->usage_written ? NULL : usage_params(t, 0), &op);
    if (text != NULL && t->worker->store != NULL)
        ck_store_op(t->worker->store, op, t->user_id, text, strlen(text), on_recorded, NULL);
    free(text);
    json_decref(writes);
}

static void turn_free(turn_t *t)
{
    if (t->link != NULL)
        t->link->turn = NULL;
    h2o_linklist_unlink(&t->node);
    if (t->open_counted)
        record_turn(t);
    if (t->heartbeat != NULL)
        ck_timer_free(t->heartbeat);
    if (t->deadline != NULL)
        ck_timer_free(t->deadline);
    if (t->retry != NULL)
        ck_timer_free(t->retry);
    unwatch_peer(t);
    if (t->kick != NULL)
        ck_timer_free(t->kick);
    json_decref(t->held);
    json_decref(t->riders);
    free(t->retry_params);
    ck_http_gate_turn_end(t->user_id);
    ck_proto_pipeline_free(t->pipe);
    json_decref(t->thread);
    json_decref(t->user_message);
    json_decref(t->sender_item);
    json_decref(t->context);
    ck_request_free(&t->request);
    ck_strbuf_free(&t->pending);
    ck_strbuf_free(&t->inflight);
    free(t);
}

/* Sends the remaining bytes with FINAL (copied into the request's pool). */
static void send_final(turn_t *t)
{
    h2o_req_t *req = t->req;
    h2o_iovec_t vec = {NULL, 0};
    if (t->pending.len > 0) {
        vec.base = h2o_mem_alloc_pool(&req->pool, t->pending.len);
        memcpy(vec.base, t->pending.p, t->pending.len);
        vec.len = t->pending.len;
    }
    ck_http_request_ctx_t *ctx = ck_http_request_ctx(req);
    if (ctx != NULL) {
        ck_http_turn_figures_t *f = &ctx->turn;
        const char *labels[2];
        turn_labels(t, labels);
        f->present = 1;
        snprintf(f->assistant, sizeof f->assistant, "%s", labels[0]);
        snprintf(f->model, sizeof f->model, "%s", labels[1]);
        f->first_token_ms = t->first_token_ms;
        f->prompt_tokens = t->stats.prompt_tokens;
        f->completion_tokens = t->stats.completion_tokens;
        f->tool_calls = t->stats.tool_calls;
    }
    t->link->turn = NULL;
    t->link = NULL;
    t->req = NULL;
    unwatch_peer(t); /* before h2o may close the socket or read the next request from it */
    h2o_send(req, &vec, vec.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

/* Ends and frees the turn when nothing is left to do. */
static void maybe_end(turn_t *t)
{
    if (t->hold > 0 || t->store_busy || t->agent_state == AGENT_RUNNING)
        return;
    if (t->phase == TURN_STREAMING && ck_proto_pipeline_queued(t->pipe) > 0)
        return;
    if (t->req != NULL) {
        if (t->phase != TURN_STREAMING || t->sending)
            return;
        send_final(t);
    }
    turn_free(t);
}

/* --- persistence -------------------------------------------------------- */

static void on_retry_persist(ck_timer_t *timer, void *user);

/* A PERSIST step failed for good: nothing queued behind it may be
 * forwarded (its done above all); the client gets an error event instead. */
static void release_held(turn_t *t, int forward);

static void persist_give_up(turn_t *t, const char *why, const char *message)
{
    release_held(t, 0);
    t->usage_in_write = 0;
    turn_log(t, CK_LOG_WARN, "stream_turn: persisting %s failed: %s", t->retry_op, why);
    free(t->retry_params);
    t->retry_params = NULL;
    t->retry_since = 0;
    agent_stop(t);
    ck_proto_pipeline_fail(t->pipe, "stream.error", message, 1);
}

static void on_persisted(const ck_store_reply_t *reply, void *user)
{
    turn_t *t = user;
    if (reply->ok) {
        t->store_busy = 0;
        t->retry_since = 0;
        free(t->retry_params);
        t->retry_params = NULL;
        t->usage_written |= t->usage_in_write;
        t->usage_in_write = 0;
        release_held(t, 1);
        advance(t);
        return;
    }
    /* 503: the connection was lost or is being re-established, and the op
     * (idempotent: upserts, updates, deletes by id) may or may not have
     * committed: run it again on the next connection, for a while.  Once
     * the turn has failed, its remaining writes are tried once. */
    uint64_t now = ck_loop_now_ms(t->worker->loop);
    if (t->retry_since == 0)
        t->retry_since = now;
    int failed = ck_proto_pipeline_state(t->pipe) == CK_PROTO_PIPE_FAILED;
    if (reply->http_status == 503 && !failed && now - t->retry_since < t->worker->config->persist_retry_ms &&
        (t->retry != NULL || (t->retry = ck_timer_new(t->worker->loop, on_retry_persist, t)) != NULL)) {
        ck_timer_arm(t->retry, PERSIST_RETRY_DELAY_MS); /* store_busy stays set: nothing moves meanwhile */
        return;
    }
    t->store_busy = 0;
    if (failed) {
        turn_log(t, CK_LOG_WARN, "stream_turn: persisting %s failed: %s", t->retry_op,
                 reply->message ? reply->message : "?");
        free(t->retry_params);
        t->retry_params = NULL;
        t->usage_in_write = 0;
        release_held(t, 1); /* as before the failure: the forwards behind a write tried once go out */
    } else {
        persist_give_up(t, reply->message ? reply->message : "?",
                        reply->http_status == 503 ? MSG_DB_DOWN : MSG_NOT_SAVED);
    }
    advance(t);
}

/* Starts (or starts again) the PERSIST step kept in retry_op/retry_params. */
static void persist_start(turn_t *t)
{
    t->store_busy = 1;
    if (ck_store_op(t->worker->store, t->retry_op, t->user_id, t->retry_params, strlen(t->retry_params), on_persisted,
                    t) == NULL) {
        t->store_busy = 0;
        persist_give_up(t, "the store could not start it", MSG_NOT_SAVED);
    }
}

static void on_retry_persist(ck_timer_t *timer, void *user)
{
    turn_t *t = user;
    (void)timer;
    turn_log(t, CK_LOG_DEBUG, "stream_turn: retrying %s", t->retry_op);
    t->hold++;
    persist_start(t);
    t->hold--;
    advance(t);
}

/* The forwards held behind the write that just ended: framed in order
 * (`forward`), or dropped (the write failed: none of them may go out). */
static void release_held(turn_t *t, int forward)
{
    size_t i;
    json_t *event;
    json_array_foreach(t->held, i, event)
    {
        if (forward)
            write_event(t, json_incref(event));
    }
    json_array_clear(t->held);
}

/* Starts one write (retried as a whole) for the PERSIST step `first` and
 * every step queued behind it: the PERSIST steps and the riders go to the
 * store in order in ONE transaction (turn.write, or the op itself when it
 * is alone), the FORWARD steps wait in `held` until it committed (persist
 * before forward; a failed write forwards none of them).  When the agent is
 * done and nothing more can be queued, this is the turn's last write and
 * the usage row goes with it. */
static void write_queued(turn_t *t, ck_proto_step_t *first)
{
    json_t *writes = json_array();
    const char *op = first->op, *unused;
    int error = 0;
    ck_proto_step_t step = *first;
    do {
        if (step.kind == CK_PROTO_STEP_PERSIST) {
            json_array_append_new(writes, json_pack("{s:s,s:o}", "op", step.op, "params", step.json));
        } else {
            const char *type = json_string_value(json_object_get(step.json, "type"));
            error |= type != NULL && strcmp(type, "error") == 0;
            if (json_array_append_new(t->held, step.json) != 0)
                ck_warn("stream_turn: out of memory, event dropped");
        }
    } while (ck_proto_pipeline_next(t->pipe, &step));
    json_array_extend(writes, t->riders);
    json_array_clear(t->riders);
    ck_proto_pipe_state_t state = ck_proto_pipeline_state(t->pipe);
    json_t *usage = NULL;
    if (t->agent_state != AGENT_RUNNING && state != CK_PROTO_PIPE_LEADING && state != CK_PROTO_PIPE_STREAMING &&
        !t->usage_written) {
        usage = usage_params(t, error); /* its turn_key makes a repeat of this write a no-op */
        t->usage_in_write = 1;
    }
    free(t->retry_params);
    t->retry_op = json_array_size(writes) == 1 && usage == NULL ? op : "turn.write";
    t->retry_params = writes_text(writes, usage, &unused);
    t->retry_since = 0;
    json_decref(writes);
    if (t->retry_params == NULL) {
        persist_give_up(t, "out of memory", MSG_NOT_SAVED);
        return;
    }
    persist_start(t);
}

/* Carries out pipeline steps until a store op is in flight or none is left. */
static void run_steps(turn_t *t)
{
    ck_proto_step_t step;
    while (t->phase == TURN_STREAMING && !t->store_busy && ck_proto_pipeline_next(t->pipe, &step)) {
        if (step.kind == CK_PROTO_STEP_PERSIST)
            write_queued(t, &step);
        else
            write_event(t, step.json);
    }
}

static void advance(turn_t *t)
{
    if (t->advancing) {
        t->again = 1;
        return;
    }
    const char *scope = ck_log_scope_enter(t->request_id);
    t->advancing = 1;
    do {
        t->again = 0;
        run_steps(t);
        flush(t);
    } while (t->again);
    t->advancing = 0;
    maybe_end(t); /* may free t */
    ck_log_scope_leave(scope);
}

/* --- the agent ---------------------------------------------------------- */

static void on_kick(ck_timer_t *timer, void *user)
{
    (void)timer;
    advance(user);
}

/* The agent calls back in bursts (one read of the model's stream; the end
 * of an answer: its done, the title, the finish): the steps a burst queues
 * are carried out once, right after it, so that its writes reach the store
 * together in one write. */
static void kick(turn_t *t)
{
    if (t->kick == NULL && (t->kick = ck_timer_new(t->worker->loop, on_kick, t)) == NULL) {
        advance(t);
        return;
    }
    if (!ck_timer_is_armed(t->kick))
        ck_timer_arm(t->kick, 0);
}

static void sink_event(json_t *event, void *user)
{
    turn_t *t = user;
    if (t->agent_state != AGENT_RUNNING) {
        json_decref(event);
        return;
    }
    ck_proto_pipeline_feed(t->pipe, event);
    kick(t);
}

static void sink_thread_changed(const json_t *changes, void *user)
{
    turn_t *t = user;
    ck_proto_pipeline_thread_changed(t->pipe, changes);
    kick(t);
}

static void sink_finish(void *user)
{
    turn_t *t = user;
    if (t->agent_state != AGENT_RUNNING)
        return;
    t->agent_state = AGENT_DONE;
    t->run = NULL;
    ck_proto_pipeline_finish(t->pipe);
    kick(t);
}

/* A record of the agent's (context.notice) rides with the turn's next write. */
static void sink_record(const char *op, const json_t *params, void *user)
{
    turn_t *t = user;
    json_array_append_new(t->riders, json_pack("{s:s,s:O}", "op", op, "params", params));
}

static const ck_agent_sink_t SINK = {sink_event, sink_thread_changed, sink_finish, sink_record};

/* Frees the request and the documents of the pre-flight once nothing reads them any more. */
static void drop_documents(turn_t *t)
{
    ck_request_free(&t->request);
    json_decref(t->thread);
    json_decref(t->user_message);
    json_decref(t->sender_item);
    t->thread = t->user_message = t->sender_item = NULL;
}

/* Starts the agent; its first sink call comes on a later loop tick. */
static void start_agent(turn_t *t)
{
    if (t->worker->agent == NULL) {
        ck_proto_pipeline_finish(t->pipe);
        return;
    }
    const json_t *params = t->request.params;
    int action = t->request.type == CK_REQ_THREADS_CUSTOM_ACTION;
    ck_turn_t turn = {
        .request_id = t->request_id,
        .stats = &t->stats,
        .user_id = t->user_id,
        .thread = t->thread,
        .user_message = t->user_message,
        .request_metadata = t->request.metadata,
        .action = action ? json_object_get(params, "action") : NULL,
        .sender_item = t->sender_item,
        .context = t->context,
    };
    t->run = ck_agent_respond(t->worker->agent, &turn, &SINK, t);
    /* The agent copied what it needs and the pipeline has the thread: an
     * open stream keeps none of the request's documents (the body, the
     * pre-flight answer, the user message) for the turn's life. */
    json_decref(t->context);
    t->context = NULL;
    drop_documents(t);
    if (t->run == NULL) {
        t->agent_state = AGENT_DONE;
        ck_proto_pipeline_fail(t->pipe, "stream.error", MSG_NOT_STARTED, 1);
        return;
    }
    t->agent_state = AGENT_RUNNING;
}

/* --- pre-flight --------------------------------------------------------- */

/* The pre-flight op and its params for the request type (protocol/turn.h;
 * user text redacted when CHATKITD_REDACT_PII=on); params owned by caller.
 * Every pre-flight op also answers the agent's context.load and
 * (turn.create) writes the thread's audit row, in the same statement: one
 * round trip before the model is called. */
static const char *preflight_op(turn_t *t, json_t **params)
{
    ck_proto_turn_t pt = {0};
    const char *op = ck_proto_turn_preflight(&pt, &t->request, t->worker->config->redact_pii, params);
    t->thread = pt.thread;
    if (*params == NULL)
        return op;
    json_t *context = ck_agent_context_request(t->worker->agent);
    if (context != NULL)
        json_object_set_new(*params, "context", context);
    if (t->request.type == CK_REQ_THREADS_CREATE) {
        const char *ids[] = {json_string_value(json_object_get(t->thread, "id")), NULL};
        json_t *audit = ck_store_audit_params(t->request_id, CK_AUDIT_THREAD_CREATED, ids, NULL);
        if (audit != NULL)
            json_object_set_new(*params, "audit", audit);
    }
    return op;
}

/* Answers a pre-flight failure as JSON (nothing was streamed). */
static void preflight_failed(turn_t *t, int status, const char *code, const char *message)
{
    if (t->req != NULL)
        ck_http_send_error(t->req, status, code, message);
    if (t->link != NULL)
        t->link->turn = NULL;
    t->link = NULL;
    t->req = NULL;
}

/* Builds the pipeline and queues the leading events once the pre-flight op
 * succeeded (protocol/turn.h).  Returns 0 (run the agent), 1 (stream without
 * an agent) or -1 with `err` filled (answer `err` as JSON, nothing streamed). */
static int open_stream(turn_t *t, json_t *result, ck_proto_error_t *err)
{
    ck_proto_turn_t pt = {.thread = t->thread};
    int rc = ck_proto_turn_open(&pt, &t->request, result, err);
    t->thread = pt.thread;
    t->pipe = pt.pipe;
    t->user_message = pt.user_message;
    t->sender_item = pt.sender_item;
    t->context = pt.context;
    return rc;
}

static void on_preflight(const ck_store_reply_t *reply, void *user)
{
    turn_t *t = user;
    ck_proto_error_t err = {0};
    t->store_busy = 0;
    t->hold++;
    if (!reply->ok) {
        preflight_failed(t, reply->http_status >= 400 ? reply->http_status : 500,
                         reply->code ? reply->code : "internal", reply->message ? reply->message : "the store failed");
    } else if (t->req != NULL) {
        json_t *result = json_loadb(reply->json ? reply->json : "{}", reply->json ? reply->json_len : 2, 0, NULL);
        int rc = result ? open_stream(t, result, &err)
                        : ck_proto_error_set(&err, 500, "internal", "the store returned invalid JSON");
        json_decref(result);
        if (rc < 0) {
            preflight_failed(t, err.http_status, err.code, err.message);
        } else {
            t->phase = TURN_STREAMING;
            t->open_counted = 1;
            ck_metrics_gauge_add(CK_M_OPEN_STREAMS, NULL, 1);
            start_sse(t);
            start_timers(t);
            if (rc == 0)
                start_agent(t);
        }
    }
    t->hold--;
    advance(t);
}

int ck_http_stream_turn(h2o_req_t *req, struct ck_http_worker *worker, ck_request_t *request, const char *user_id)
{
    turn_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        ck_request_free(request);
        ck_http_gate_turn_end(user_id);
        return ck_http_send_error(req, 500, "internal", "out of memory");
    }
    t->req = req;
    t->worker = worker;
    h2o_linklist_insert(&worker->turns, &t->node);
    t->request = *request;
    memset(request, 0, sizeof(*request));
    snprintf(t->user_id, sizeof(t->user_id), "%s", user_id);
    ck_http_request_ctx_t *ctx = ck_http_request_ctx(req);
    snprintf(t->request_id, sizeof t->request_id, "%s", ctx != NULL ? ctx->id : "");
    char half[2][CK_ID_MAX];
    ck_proto_new_id("turn", half[0]);
    ck_proto_new_id("k", half[1]);
    snprintf(t->turn_key, sizeof t->turn_key, "%.21s%.16s", half[0], half[1] + 2); /* turn_ + 32 hex digits */
    t->start = ctx != NULL ? ctx->start : ck_metrics_now();
    t->first_token_ms = -1;
    t->link = h2o_mem_alloc_shared(&req->pool, sizeof(*t->link), on_link_dispose);
    t->link->turn = t;
    t->held = json_array();
    t->riders = json_array();

    /* a message that alone exceeds the context budget never starts a turn */
    const json_t *input = json_object_get(t->request.params, "input");
    if (worker->agent != NULL && worker->config->model_configured &&
        (t->request.type == CK_REQ_THREADS_CREATE || t->request.type == CK_REQ_THREADS_ADD_USER_MESSAGE) && input) {
        size_t limit, need = ck_agent_message_tokens(worker->agent, input, &limit);
        if (need > limit) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "the message needs about %zu tokens with the system prompt and tools; "
                     "the limit (CHATKITD_CONTEXT_TOKENS) is %zu",
                     need, limit);
            t->hold++;
            preflight_failed(t, 413, "too_large", msg);
            t->hold--;
            advance(t);
            return 0;
        }
    }
    json_t *params = NULL;
    const char *op = preflight_op(t, &params);
    char *text = params ? ck_proto_dumps(params) : NULL;
    json_decref(params);
    t->hold++;
    if (op == NULL || text == NULL) {
        preflight_failed(t, 500, "internal", "this request type cannot be streamed");
    } else if (worker->store == NULL) {
        preflight_failed(t, 503, "db_unavailable", "no database is configured");
    } else {
        t->store_busy = 1;
        if (ck_store_op(worker->store, op, t->user_id, text, strlen(text), on_preflight, t) == NULL) {
            t->store_busy = 0;
            preflight_failed(t, 503, "db_unavailable", "the store could not start the operation");
        }
    }
    free(text);
    t->hold--;
    advance(t);
    return 0;
}

void ck_http_stream_turn_shutdown(struct ck_http_worker *worker)
{
    h2o_linklist_t *node = worker->turns.next;
    while (node != &worker->turns) {
        turn_t *t = H2O_STRUCT_FROM_MEMBER(turn_t, node, node);
        node = node->next; /* advance() may free t */
        if (t->agent_state != AGENT_RUNNING)
            continue;
        turn_log(t, CK_LOG_INFO, "stream_turn: ending the turn for the shutdown");
        agent_stop(t);
        /* like the maximum duration: the text shown so far is kept (the
         * pipeline finishes it before the error), then the stream ends */
        ck_proto_pipeline_feed(t->pipe, ck_proto_ev_error("stream.error", MSG_SHUTDOWN, 1));
        ck_proto_pipeline_finish(t->pipe);
        advance(t);
    }
}

int ck_http_stream_turns_open(struct ck_http_worker *worker) { return !h2o_linklist_is_empty(&worker->turns); }
