/*
 * stream_turn.h - the streamed turn: the six SSE request types of the
 * ChatKit protocol (threads.create, add_user_message, add_client_tool_output,
 * add_structured_input, retry_after_item, custom_action).
 *
 * src/http's request router calls ck_http_stream_turn() after the gate
 * (ck_http_gate(..., CK_GATE_TURN, user_id) returned 1) and after
 * ck_proto_parse_request() produced a streaming request.  From then on this
 * module owns the answer: a pre-flight store op (4xx JSON on failure, nothing
 * streamed), then an SSE response driven by the agent (src/agent/agent.h)
 * through the pure response pipeline (src/protocol/pipeline.h): persist
 * before forwarding, heartbeats, maximum duration, backpressure, client
 * disconnect -> cancellation persistence.  It releases the user's stream slot
 * (ck_http_gate_turn_end) exactly once when the stream ends.
 */
#ifndef CK_HTTP_STREAM_TURN_H
#define CK_HTTP_STREAM_TURN_H

#include <h2o.h>

#include "protocol/protocol.h"

struct ck_http_worker;

/* Answers the streaming request `request` for `user_id` on `req`.
 * Ownership: `request` is taken over (its JSON is moved into the turn and
 * the struct is zeroed; the caller must not use it afterwards except for
 * ck_request_free(), which is then a no-op).  `user_id` is copied.  The
 * caller must have obtained a CK_GATE_TURN slot; this function releases it
 * exactly once, whatever happens.  Returns 0 (h2o handler convention: the
 * request is being answered). */
int ck_http_stream_turn(h2o_req_t *req, struct ck_http_worker *worker, ck_request_t *request, const char *user_id);

/* Server shutdown, on the worker's thread while it drains, once the grace
 * time (CHATKITD_SHUTDOWN_GRACE_SECONDS) is over: stops the agent of every
 * turn of `worker` that is still running one, as the maximum stream
 * duration does (the text shown so far is saved and finished, then an
 * error event with a message and allow_retry, then the response ends), so
 * that the connections can close before the drain deadline.  Turns still
 * end and free themselves as usual. */
void ck_http_stream_turn_shutdown(struct ck_http_worker *worker);

/* 1 while `worker` has streamed turns alive. */
int ck_http_stream_turns_open(struct ck_http_worker *worker);

#endif
