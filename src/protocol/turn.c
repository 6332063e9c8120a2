/*
 * turn.c - the rules that open a streamed turn (see turn.h).
 */
#include "protocol/turn.h"

#include <stdlib.h>
#include <string.h>

#include "base/redact.h"
#include "protocol/events.h"

/* Replaces the string `obj[key]` by its redacted form when it holds
 * something to mask. */
static void redact_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return;
    unsigned found = 0;
    size_t n;
    char *r = ck_redact(json_string_value(v), json_string_length(v), &n, &found);
    if (r != NULL && found != 0)
        json_object_set_new(obj, key, json_stringn(r, n));
    free(r);
}

/* A copy of the user's `input` whose input_text parts and quoted_text are redacted. */
static json_t *redacted_input(const json_t *input)
{
    json_t *copy = json_deep_copy(input);
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(copy, "content"), i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type != NULL && strcmp(type, "input_text") == 0)
            redact_string(part, "text");
    }
    redact_string(copy, "quoted_text");
    return copy;
}

/* The user message item of a new turn from `input` (redacted when `redact`). */
static json_t *user_message_item(const char *thread_id, const json_t *input, int redact)
{
    if (!redact)
        return ck_proto_user_message_new(thread_id, input);
    json_t *clean = redacted_input(input);
    json_t *item = clean ? ck_proto_user_message_new(thread_id, clean) : NULL;
    json_decref(clean);
    return item;
}

const char *ck_proto_turn_preflight(ck_proto_turn_t *turn, const ck_request_t *request, int redact, json_t **params)
{
    const json_t *p = request->params;
    json_t *tid = json_object_get(p, "thread_id");
    json_t *iid = json_object_get(p, "item_id");
    json_t *input = json_object_get(p, "input");
    switch (request->type) {
    case CK_REQ_THREADS_CREATE: {
        turn->thread = ck_proto_thread_new();
        const char *id = json_string_value(json_object_get(turn->thread, "id"));
        *params = json_pack("{s:O,s:o,s:O}", "thread", turn->thread, "item", user_message_item(id, input, redact),
                            "attachment_ids", json_object_get(input, "attachments"));
        return "turn.create";
    }
    case CK_REQ_THREADS_ADD_USER_MESSAGE:
        *params = json_pack("{s:O,s:o,s:O}", "thread_id", tid, "item",
                            user_message_item(json_string_value(tid), input, redact), "attachment_ids",
                            json_object_get(input, "attachments"));
        return "turn.add_message";
    case CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT:
        *params = json_pack("{s:O,s:O}", "thread_id", tid, "result", json_object_get(p, "result"));
        return "turn.tool_output";
    case CK_REQ_THREADS_RETRY_AFTER_ITEM:
        *params = json_pack("{s:O,s:O}", "thread_id", tid, "item_id", iid);
        return "turn.retry";
    case CK_REQ_THREADS_ADD_STRUCTURED_INPUT:
        *params = json_pack("{s:O,s:O}", "thread_id", tid, "item_id", iid);
        return "turn.load_item";
    case CK_REQ_THREADS_CUSTOM_ACTION: /* the sender item when there is one (item_id may be null) */
        *params = json_pack("{s:O,s:O*}", "thread_id", tid, "item_id", json_is_string(iid) ? iid : NULL);
        return "turn.load_item";
    default:
        *params = NULL;
        return NULL;
    }
}

int ck_proto_turn_check_sender(ck_proto_turn_t *turn, const json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    if (type == NULL || strcmp(type, "widget") != 0) {
        ck_proto_pipeline_forward(turn->pipe, ck_proto_ev_error("stream.error", CK_PROTO_MSG_NOT_A_WIDGET, 0));
        return 1;
    }
    turn->sender_item = json_incref((json_t *)item);
    return 0;
}

int ck_proto_turn_answer_structured(ck_proto_turn_t *turn, const json_t *item, const json_t *input,
                                    ck_proto_error_t *err)
{
    json_t *answered;
    if (ck_proto_structured_answer(item, input, &answered, err) != 0)
        return -1;
    ck_proto_pipeline_begin(turn->pipe, 1);
    ck_proto_pipeline_feed(turn->pipe, ck_proto_ev_item_replaced(answered));
    size_t i;
    json_t *old;
    json_array_foreach(json_object_get(turn->context, "items"), i, old)
    {
        if (json_equal(json_object_get(old, "id"), json_object_get(item, "id"))) {
            json_array_set(json_object_get(turn->context, "items"), i, answered);
            break;
        }
    }
    json_decref(answered);
    return 0;
}

int ck_proto_turn_open(ck_proto_turn_t *turn, const ck_request_t *request, const json_t *result, ck_proto_error_t *err)
{
    json_t *item = json_object_get(result, "item");
    json_t *thread = json_object_get(result, "thread");
    ck_req_type_t type = request->type;
    int with_message = type == CK_REQ_THREADS_CREATE || type == CK_REQ_THREADS_ADD_USER_MESSAGE;
    json_t *context = json_object_get(result, "context");
    if (json_is_object(context)) /* structured input changes an item in it: a copy */
        turn->context = type == CK_REQ_THREADS_ADD_STRUCTURED_INPUT ? json_deep_copy(context) : json_incref(context);
    if (type != CK_REQ_THREADS_CREATE)
        turn->thread = json_incref(json_is_object(thread) ? thread : (json_t *)result);
    turn->pipe = ck_proto_pipeline_new(turn->thread);
    if (turn->pipe == NULL)
        return ck_proto_error_set(err, 500, "internal", "the store returned no thread");
    if (type == CK_REQ_THREADS_CREATE)
        ck_proto_pipeline_forward(turn->pipe, ck_proto_ev_thread_created(turn->thread));
    if (with_message)
        ck_proto_pipeline_forward(turn->pipe, ck_proto_ev_item_done(item));
    if (with_message || type == CK_REQ_THREADS_RETRY_AFTER_ITEM)
        turn->user_message = json_incref(item);
    if (type == CK_REQ_THREADS_CUSTOM_ACTION && item != NULL && ck_proto_turn_check_sender(turn, item))
        return 1;
    if (type == CK_REQ_THREADS_ADD_STRUCTURED_INPUT)
        return ck_proto_turn_answer_structured(turn, item, json_object_get(request->params, "input"), err);
    ck_proto_pipeline_begin(turn->pipe, 1);
    return 0;
}

void ck_proto_turn_release(ck_proto_turn_t *turn)
{
    ck_proto_pipeline_free(turn->pipe);
    json_decref(turn->thread);
    json_decref(turn->user_message);
    json_decref(turn->sender_item);
    json_decref(turn->context);
    memset(turn, 0, sizeof(*turn));
}
