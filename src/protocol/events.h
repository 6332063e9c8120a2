/*
 * events.h - builders for the items, threads, updates and stream events of
 * the ChatKit wire format (docs/protocol.md, "Stream events"), and the
 * structured-input answer rules (docs/protocol.md, "threads.add_structured_input").
 *
 * Every builder returns a NEW json_t reference that the caller owns
 * (json_decref) or passes on; NULL only when out of memory.  Arguments are
 * borrowed and deep-copied where they end up inside the result, so later
 * changes to them never leak into a built event.  Null omission (docs/protocol.md, "JSON serialization"):
 * optional arguments given as NULL produce no key at all; empty containers
 * and false are kept.  Timestamps come from ck_proto_now(), ids from
 * ck_proto_new_id() with the spec's prefixes (thr, msg, shcx, ...).
 */
#ifndef CK_PROTOCOL_EVENTS_H
#define CK_PROTOCOL_EVENTS_H

#include <jansson.h>

#include "protocol/protocol.h"

/* The exact cancellation note (docs/protocol.md, "Cancellation"). */
#define CK_PROTO_CANCEL_NOTE "The user cancelled the stream. Stop responding to the prior request."

/* --- threads ------------------------------------------------------------ */

/* A new ThreadMetadata (storage shape): {"id":"thr_...","created_at":now,
 * "status":{"type":"active"},"metadata":{}} (no title). */
json_t *ck_proto_thread_new(void);

/* --- items -------------------------------------------------------------- */

/* The user_message item for a validated UserMessageInput `input` (as
 * normalized by ck_proto_parse_request): new msg_ id, created_at now,
 * content, quoted_text (kept when present, even ""), inference_options.
 * Only the protocol's fields are copied (content parts by their type,
 * inference_options' tool_choice {id} and model): unknown keys are dropped.
 * No `attachments` key: the store fills them from the input's ids. */
json_t *ck_proto_user_message_new(const char *thread_id, const json_t *input);

/* An assistant_message skeleton with "content":[]; `id` NULL = new msg_ id. */
json_t *ck_proto_assistant_message_new(const char *thread_id, const char *id);

/* An sdk_hidden_context item (new shcx_ id, created_at now) with `content`. */
json_t *ck_proto_sdk_hidden_new(const char *thread_id, const char *content);

/* 1 for hidden_context_item / sdk_hidden_context items (never shown). */
int ck_proto_item_is_hidden(const json_t *item);

/* 1 when `item` is an object with a string `id` and a string `type`. */
int ck_proto_item_is_valid(const json_t *item);

/* An AssistantMessageContent: {"annotations":[...],"text":...,"type":"output_text"};
 * `annotations` NULL = []. */
json_t *ck_proto_output_text(const char *text, const json_t *annotations);

/* --- item updates (the `update` of thread.item.updated) ----------------- */

json_t *ck_proto_upd_content_part_added(int content_index, const char *text);
json_t *ck_proto_upd_text_delta(int content_index, const char *delta);
json_t *ck_proto_upd_content_part_done(int content_index, const char *text, const json_t *annotations);
json_t *ck_proto_upd_annotation_added(int content_index, int annotation_index, const json_t *annotation);
json_t *ck_proto_upd_task_added(int task_index, const json_t *task);
json_t *ck_proto_upd_task_updated(int task_index, const json_t *task);

/* --- events ------------------------------------------------------------- */

json_t *ck_proto_ev_thread_created(const json_t *thread); /* thread: ThreadMetadata */
json_t *ck_proto_ev_thread_updated(const json_t *thread); /* thread: ThreadMetadata */
json_t *ck_proto_ev_item_added(const json_t *item);
json_t *ck_proto_ev_item_done(const json_t *item);
json_t *ck_proto_ev_item_replaced(const json_t *item);
/* Takes over `update` (the one exception to "arguments are borrowed"), so
 * ck_proto_ev_item_updated(id, ck_proto_upd_text_delta(0, "x")) composes. */
json_t *ck_proto_ev_item_updated(const char *item_id, json_t *update);
json_t *ck_proto_ev_item_removed(const char *item_id);
json_t *ck_proto_ev_stream_options(int allow_cancel);
/* icon NULL = omitted */
json_t *ck_proto_ev_progress(const char *icon, const char *text);
/* data NULL = {} */
json_t *ck_proto_ev_client_effect(const char *name, const json_t *data);
/* code NULL = "custom"; message NULL = omitted */
json_t *ck_proto_ev_error(const char *code, const char *message, int allow_retry);
/* level: info|warning|danger; title NULL = omitted */
json_t *ck_proto_ev_notice(const char *level, const char *message, const char *title);

/* Removes every null-valued key at the top level of object `obj`. */
void ck_proto_omit_nulls(json_t *obj);

/* --- structured input (docs/protocol.md, "threads.add_structured_input") --- */

/* Computes the answered copy of the structured_input `item` for the
 * validated submission `input` ({"status","answers"} as normalized by
 * ck_proto_parse_request): every question gets an `answer`
 * ({"values":[],"skipped":true} when the submission is skipped, the answer
 * is missing, skipped or empty; else the values, only the first one for a
 * single-choice multiple_choice question) and the item's status becomes the
 * submission's.  Returns 0 with `*out` a new reference (caller owns), or -1
 * with `err` filled: 400 not_structured_input when `item` is another type,
 * 409 conflict when it is not pending. */
int ck_proto_structured_answer(const json_t *item, const json_t *input, json_t **out, ck_proto_error_t *err);

#endif
