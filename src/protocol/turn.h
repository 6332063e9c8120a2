/*
 * turn.h - the rules that open a streamed turn, without I/O: which store op
 * a streamed request starts with (the pre-flight), and, once that op has
 * answered, which events lead the stream and whether the agent runs.
 *
 * The driver (src/http/stream_turn.c) starts the pre-flight op, hands its
 * result to ck_proto_turn_open(), then streams the pipeline's steps.  The
 * rules are those of docs/protocol.md, "Streamed or JSON", the sections of
 * the six streamed request types and "The response pipeline".
 */
#ifndef CK_PROTOCOL_TURN_H
#define CK_PROTOCOL_TURN_H

#include <jansson.h>

#include "protocol/pipeline.h"
#include "protocol/protocol.h"

/* The message of the error event that ends a custom_action sent by an item
 * that is not a widget. */
#define CK_PROTO_MSG_NOT_A_WIDGET "This action can only be sent from a widget."

/* What a streamed turn knows once it is open.  Every member is owned (one
 * reference each) and released by ck_proto_turn_release(). */
typedef struct ck_proto_turn {
    json_t *thread; /* the thread's metadata: made by the pre-flight for threads.create, else from the store */
    ck_proto_pipeline_t *pipe; /* the response pipeline, once open */
    json_t *user_message;      /* the user message the agent answers, or NULL */
    json_t *sender_item;       /* custom_action: the widget that sent the action, or NULL */
    json_t *context;           /* the pre-flight's `context` (the agent's context.load answer), or NULL */
} ck_proto_turn_t;

/* The pre-flight store op of a streamed request (`request->type` is one of
 * the six streamed types) and its params in `*params` (caller releases).
 * threads.create makes the new thread here: it is stored in `turn->thread`.
 * With `redact` set, the text parts and quoted_text of a new user message
 * are stored redacted (base/redact.h: e-mails, phone, card, IBAN and SSN
 * numbers masked).  Returns NULL with `*params` NULL for a type that is not
 * streamed. */
const char *ck_proto_turn_preflight(ck_proto_turn_t *turn, const ck_request_t *request, int redact, json_t **params);

/* Opens the stream once the pre-flight op answered `result`: builds the
 * pipeline and queues the leading events (thread.created and the user
 * message for threads.create; the user message for add_user_message; the
 * answered item for add_structured_input), and keeps the result's `context`
 * (add_structured_input: with the item answered there too, as the agent
 * must see it).  Returns 0 when the agent should
 * run, 1 when the stream goes on without an agent (a custom_action whose
 * sender is not a widget), or -1 with `err` filled (answer `err` as JSON,
 * nothing was streamed). */
int ck_proto_turn_open(ck_proto_turn_t *turn, const ck_request_t *request, const json_t *result, ck_proto_error_t *err);

/* custom_action: the item that sent the action must be a widget.  Returns 0
 * and keeps it in `turn->sender_item`; returns 1 when it is not a widget,
 * after queueing the single error event that ends such a stream. */
int ck_proto_turn_check_sender(ck_proto_turn_t *turn, const json_t *item);

/* add_structured_input: begins the pipeline and queues the answered item as a
 * replacement of `item` (persisted like any replacement); in
 * `turn->context`'s items, `item` is replaced by the answered one.  Returns
 * 0, or -1 with `err` filled when `input` does not answer `item`. */
int ck_proto_turn_answer_structured(ck_proto_turn_t *turn, const json_t *item, const json_t *input,
                                    ck_proto_error_t *err);

/* Releases every member of `turn` and zeroes it. */
void ck_proto_turn_release(ck_proto_turn_t *turn);

#endif
