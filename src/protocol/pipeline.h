/*
 * pipeline.h - the common response pipeline of every streamed turn
 * (docs/protocol.md, "The response pipeline", "Cancellation", "Errors during
 * a stream") as a pure state machine: no I/O, no clock other than
 * ck_proto_now() for the items it creates.
 *
 * The caller (src/http/stream_turn.c) feeds it what happens - leading events,
 * the agent's events, the agent's thread changes, the end of the agent, a
 * failure, a client disconnect - and the pipeline queues STEPS in the order
 * they must be carried out:
 *
 *   CK_PROTO_STEP_PERSIST  run store op `op` with params `json`
 *                          (item.add / item.save / item.delete / thread.save)
 *                          and wait for it before carrying out the next step;
 *   CK_PROTO_STEP_FORWARD  write the event `json` to the client (SSE).
 *
 * Persistence always comes before the forward of the same event, so a
 * client never sees an item the store does not have.  Rules (docs/protocol.md, "Persist before forward"):
 * done -> item.add then forward (hidden items: persisted, never forwarded);
 * replaced -> item.save; removed -> item.delete; added -> remembered as
 * pending (deep copy); updated -> applied to the pending copy (assistant
 * content parts, workflow tasks); error -> every pending assistant message
 * with text is kept first (item.add, then its thread.item.done), since the
 * user saw that text; every other event is only forwarded.
 *
 * Partial answers are kept on every early end: an error event from the
 * source (model failure, maximum duration, shutdown), fail() (a store
 * write that could not be made) and cancel() (the client left).
 *
 * States:
 *
 *        ck_proto_pipeline_new()
 *                 |
 *                 v        begin(): stream_options
 *             [LEADING] --------------------------> [STREAMING] <-- feed(), thread_changed()
 *                 |  forward(): leading events          |   |  \
 *                 |                              finish()|   |   \ fail(): error event
 *                 |                                     v   |    v
 *                 |                               [FINISHED]-|->[FAILED]
 *                 |                                 fail()   |
 *                 |                                          |
 *                 +------------------ cancel() --------------+--> [CANCELLED]
 *                   (from LEADING or STREAMING: forwards still queued are
 *                    dropped, persistence still queued is kept, then the
 *                    non-empty pending assistant messages and the
 *                    sdk_hidden_context cancellation note are persisted)
 *
 * In FINISHED, FAILED and CANCELLED every further input is ignored; the
 * queued steps are still handed out until the queue is empty.
 */
#ifndef CK_PROTOCOL_PIPELINE_H
#define CK_PROTOCOL_PIPELINE_H

#include <jansson.h>

typedef struct ck_proto_pipeline ck_proto_pipeline_t;

typedef enum ck_proto_pipe_state {
    CK_PROTO_PIPE_LEADING,
    CK_PROTO_PIPE_STREAMING,
    CK_PROTO_PIPE_FINISHED,
    CK_PROTO_PIPE_FAILED,
    CK_PROTO_PIPE_CANCELLED
} ck_proto_pipe_state_t;

typedef enum ck_proto_step_kind { CK_PROTO_STEP_PERSIST, CK_PROTO_STEP_FORWARD } ck_proto_step_kind_t;

typedef struct ck_proto_step {
    ck_proto_step_kind_t kind;
    const char *op; /* PERSIST: static store op name (src/store/README.md); FORWARD: NULL */
    json_t *json;   /* PERSIST: the op's params; FORWARD: the event.  Owned by whoever popped the step */
} ck_proto_step_t;

/* Creates a pipeline for the thread `thread` (ThreadMetadata wire shape:
 * id, created_at, status, metadata, title?, allowed_image_domains?; deep
 * copied).  Returns NULL when `thread` has no string id or on OOM.  Free
 * with ck_proto_pipeline_free(). */
ck_proto_pipeline_t *ck_proto_pipeline_new(const json_t *thread);

/* Frees the pipeline and every step still queued.  NULL is fine. */
void ck_proto_pipeline_free(ck_proto_pipeline_t *pipe);

ck_proto_pipe_state_t ck_proto_pipeline_state(const ck_proto_pipeline_t *pipe);

/* The pipeline's current copy of the thread (ThreadMetadata); borrowed,
 * valid until the next call on the pipeline. */
const json_t *ck_proto_pipeline_thread(const ck_proto_pipeline_t *pipe);

/* The pending copy of item `item_id` (added, not yet done/replaced/removed)
 * with every update applied so far; borrowed, valid until the next call on
 * the pipeline.  NULL when the item is not pending. */
const json_t *ck_proto_pipeline_pending(ck_proto_pipeline_t *pipe, const char *item_id);

/* LEADING only: queues `event` (taken over) as a plain forward, without any
 * persistence (thread.created, the user message's done: the pre-flight op
 * already stored them).  Returns 0, or -1 (event freed) in another state. */
int ck_proto_pipeline_forward(ck_proto_pipeline_t *pipe, json_t *event);

/* LEADING -> STREAMING: queues stream_options {allow_cancel} (docs/protocol.md, "The twelve events"). */
void ck_proto_pipeline_begin(ck_proto_pipeline_t *pipe, int allow_cancel);

/* STREAMING only: processes one event from the source (taken over).
 * Returns 0 when accepted, -1 when it was ignored (wrong state, not an
 * object, unknown shape, item without id/type); the event is freed then. */
int ck_proto_pipeline_feed(ck_proto_pipeline_t *pipe, json_t *event);

/* STREAMING only: the source changed thread fields (`changes`: an object of
 * ThreadMetadata fields, borrowed; a null value removes the field).  When
 * they changed the thread, queues thread.save then a thread.updated event. */
void ck_proto_pipeline_thread_changed(ck_proto_pipeline_t *pipe, const json_t *changes);

/* STREAMING -> FINISHED: the source ended normally. */
void ck_proto_pipeline_finish(ck_proto_pipeline_t *pipe);

/* LEADING/STREAMING/FINISHED -> FAILED: something failed (e.g. a store
 * write in the loop, also after the source finished: the forwards queued
 * behind a failed write must never go out).  Drops queued forwards, keeps
 * queued persistence, in STREAMING queues item.add of the pending assistant
 * messages with text (as cancel() does), then one error event
 * {"type":"error","code":code,"message"?:message,"allow_retry":allow_retry}
 * (code NULL = "stream.error").  No-op in FAILED and CANCELLED. */
void ck_proto_pipeline_fail(ck_proto_pipeline_t *pipe, const char *code, const char *message, int allow_retry);

/* LEADING/STREAMING -> CANCELLED: the client went away (docs/protocol.md, "Cancellation").  Drops
 * queued forwards, keeps queued persistence, then queues item.add for every
 * pending assistant_message with non-whitespace text (as accumulated) and
 * item.add of the sdk_hidden_context cancellation note. */
void ck_proto_pipeline_cancel(ck_proto_pipeline_t *pipe);

/* Pops the next step into `out` (the caller then owns out->json).
 * Returns 1 when a step was popped, 0 when the queue is empty. */
int ck_proto_pipeline_next(ck_proto_pipeline_t *pipe, ck_proto_step_t *out);

/* Number of steps queued. */
size_t ck_proto_pipeline_queued(const ck_proto_pipeline_t *pipe);

#endif
