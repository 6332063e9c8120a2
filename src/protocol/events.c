/*
 * events.c - builders for threads, items, item updates and stream events
 * (docs/protocol.md, "Stream events") and the structured-input answer rules
 * (docs/protocol.md, "threads.add_structured_input").
 * Ownership conventions are in events.h.
 */
#include "protocol/events.h"

#include <string.h>

/* Sets `key` to a deep copy of `value`, or leaves it out when NULL. */
static void set_copy(json_t *obj, const char *key, const json_t *value)
{
    if (value != NULL && !json_is_null(value))
        json_object_set_new(obj, key, json_deep_copy(value));
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(obj, key, json_string(value));
}

/* {"id","thread_id","created_at","type"}: the common head of every item. */
static json_t *item_head(const char *prefix, const char *id, const char *thread_id, const char *type)
{
    char new_id[CK_ID_MAX], now[CK_TIME_MAX];
    if (id == NULL) {
        ck_proto_new_id(prefix, new_id);
        id = new_id;
    }
    ck_proto_now(now);
    return json_pack("{s:s,s:s,s:s,s:s}", "id", id, "thread_id", thread_id, "created_at", now, "type", type);
}

json_t *ck_proto_thread_new(void)
{
    char id[CK_ID_MAX], now[CK_TIME_MAX];
    ck_proto_new_id("thr", id);
    ck_proto_now(now);
    return json_pack("{s:s,s:s,s:{s:s},s:{}}", "id", id, "created_at", now, "status", "type", "active", "metadata");
}

/* The wire Thread for a ThreadMetadata `thread`: title?, id, created_at,
 * status, allowed_image_domains?, "metadata":{} (never the stored metadata)
 * and an empty items page. */
static json_t *thread_wire(const json_t *thread)
{
    json_t *wire = json_object();
    set_copy(wire, "title", json_object_get(thread, "title"));
    set_copy(wire, "id", json_object_get(thread, "id"));
    set_copy(wire, "created_at", json_object_get(thread, "created_at"));
    const json_t *status = json_object_get(thread, "status");
    if (json_is_object(status))
        set_copy(wire, "status", status);
    else
        json_object_set_new(wire, "status", json_pack("{s:s}", "type", "active"));
    set_copy(wire, "allowed_image_domains", json_object_get(thread, "allowed_image_domains"));
    json_object_set_new(wire, "metadata", json_object());
    json_object_set_new(wire, "items", json_pack("{s:[],s:b}", "data", "has_more", 0));
    return wire;
}

/* One content part with only the fields of its type (docs/protocol.md, "Shared shapes"):
 * input_text {type, text}; input_tag {type, id, text, data, group?,
 * interactive}.  Unknown keys are dropped (ignored, never echoed). */
static json_t *user_content_part(const json_t *part)
{
    static const char *const text_keys[] = {"type", "text", NULL};
    static const char *const tag_keys[] = {"type", "id", "text", "data", "group", "interactive", NULL};
    const char *type = json_string_value(json_object_get(part, "type"));
    const char *const *keys = type != NULL && strcmp(type, "input_tag") == 0 ? tag_keys : text_keys;
    json_t *out = json_object();
    for (; *keys != NULL; keys++)
        set_copy(out, *keys, json_object_get(part, *keys));
    return out;
}

/* inference_options with only tool_choice {id} and model (docs/protocol.md, "Shared shapes"). */
static json_t *user_inference_options(const json_t *options)
{
    json_t *out = json_object();
    const json_t *tool_id = json_object_get(json_object_get(options, "tool_choice"), "id");
    if (json_is_string(tool_id))
        json_object_set_new(out, "tool_choice", json_pack("{s:O}", "id", tool_id));
    set_copy(out, "model", json_object_get(options, "model"));
    return out;
}

json_t *ck_proto_user_message_new(const char *thread_id, const json_t *input)
{
    json_t *item = item_head("msg", NULL, thread_id, "user_message");
    json_t *content = json_array();
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(input, "content"), i, part)
        json_array_append_new(content, user_content_part(part));
    json_object_set_new(item, "content", content);
    set_copy(item, "quoted_text", json_object_get(input, "quoted_text"));
    json_object_set_new(item, "inference_options", user_inference_options(json_object_get(input, "inference_options")));
    return item;
}

json_t *ck_proto_assistant_message_new(const char *thread_id, const char *id)
{
    json_t *item = item_head("msg", id, thread_id, "assistant_message");
    json_object_set_new(item, "content", json_array());
    return item;
}

json_t *ck_proto_sdk_hidden_new(const char *thread_id, const char *content)
{
    json_t *item = item_head("shcx", NULL, thread_id, "sdk_hidden_context");
    json_object_set_new(item, "content", json_string(content));
    return item;
}

int ck_proto_item_is_hidden(const json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    return type != NULL && (strcmp(type, "hidden_context_item") == 0 || strcmp(type, "sdk_hidden_context") == 0);
}

int ck_proto_item_is_valid(const json_t *item)
{
    return json_is_object(item) && json_is_string(json_object_get(item, "id")) &&
           json_is_string(json_object_get(item, "type"));
}

json_t *ck_proto_output_text(const char *text, const json_t *annotations)
{
    json_t *part = json_object();
    json_object_set_new(part, "annotations", annotations ? json_deep_copy(annotations) : json_array());
    json_object_set_new(part, "text", json_string(text));
    json_object_set_new(part, "type", json_string("output_text"));
    return part;
}

/* --- updates ------------------------------------------------------------ */

json_t *ck_proto_upd_content_part_added(int content_index, const char *text)
{
    return json_pack("{s:s,s:i,s:o}", "type", "assistant_message.content_part.added", "content_index", content_index,
                     "content", ck_proto_output_text(text, NULL));
}

json_t *ck_proto_upd_text_delta(int content_index, const char *delta)
{
    return json_pack("{s:s,s:i,s:s}", "type", "assistant_message.content_part.text_delta", "content_index",
                     content_index, "delta", delta);
}

json_t *ck_proto_upd_content_part_done(int content_index, const char *text, const json_t *annotations)
{
    return json_pack("{s:s,s:i,s:o}", "type", "assistant_message.content_part.done", "content_index", content_index,
                     "content", ck_proto_output_text(text, annotations));
}

json_t *ck_proto_upd_annotation_added(int content_index, int annotation_index, const json_t *annotation)
{
    return json_pack("{s:s,s:i,s:i,s:o}", "type", "assistant_message.content_part.annotation_added", "content_index",
                     content_index, "annotation_index", annotation_index, "annotation", json_deep_copy(annotation));
}

json_t *ck_proto_upd_task_added(int task_index, const json_t *task)
{
    return json_pack("{s:s,s:i,s:o}", "type", "workflow.task.added", "task_index", task_index, "task",
                     json_deep_copy(task));
}

json_t *ck_proto_upd_task_updated(int task_index, const json_t *task)
{
    return json_pack("{s:s,s:i,s:o}", "type", "workflow.task.updated", "task_index", task_index, "task",
                     json_deep_copy(task));
}

/* --- events ------------------------------------------------------------- */

static json_t *event_with(const char *type, const char *key, json_t *value)
{
    return json_pack("{s:s,s:o}", "type", type, key, value);
}

json_t *ck_proto_ev_thread_created(const json_t *thread)
{
    return event_with("thread.created", "thread", thread_wire(thread));
}

json_t *ck_proto_ev_thread_updated(const json_t *thread)
{
    return event_with("thread.updated", "thread", thread_wire(thread));
}

json_t *ck_proto_ev_item_added(const json_t *item)
{
    return event_with("thread.item.added", "item", json_deep_copy(item));
}

json_t *ck_proto_ev_item_done(const json_t *item)
{
    return event_with("thread.item.done", "item", json_deep_copy(item));
}

json_t *ck_proto_ev_item_replaced(const json_t *item)
{
    return event_with("thread.item.replaced", "item", json_deep_copy(item));
}

json_t *ck_proto_ev_item_updated(const char *item_id, json_t *update)
{
    return json_pack("{s:s,s:s,s:o}", "type", "thread.item.updated", "item_id", item_id, "update", update);
}

json_t *ck_proto_ev_item_removed(const char *item_id)
{
    return json_pack("{s:s,s:s}", "type", "thread.item.removed", "item_id", item_id);
}

json_t *ck_proto_ev_stream_options(int allow_cancel)
{
    return json_pack("{s:s,s:{s:b}}", "type", "stream_options", "stream_options", "allow_cancel", allow_cancel);
}

json_t *ck_proto_ev_progress(const char *icon, const char *text)
{
    json_t *ev = json_pack("{s:s}", "type", "progress_update");
    set_str(ev, "icon", icon);
    set_str(ev, "text", text);
    return ev;
}

json_t *ck_proto_ev_client_effect(const char *name, const json_t *data)
{
    return json_pack("{s:s,s:s,s:o}", "type", "client_effect", "name", name, "data",
                     data ? json_deep_copy(data) : json_object());
}

json_t *ck_proto_ev_error(const char *code, const char *message, int allow_retry)
{
    json_t *ev = json_pack("{s:s,s:s}", "type", "error", "code", code ? code : "custom");
    set_str(ev, "message", message);
    json_object_set_new(ev, "allow_retry", json_boolean(allow_retry));
    return ev;
}

json_t *ck_proto_ev_notice(const char *level, const char *message, const char *title)
{
    json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "notice", "level", level, "message", message);
    set_str(ev, "title", title);
    return ev;
}

void ck_proto_omit_nulls(json_t *obj)
{
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, value)
    {
        if (json_is_null(value))
            json_object_del(obj, key);
    }
}

/* --- structured input ----------------------------------------------------- */

/* The answer object for one question (docs/protocol.md, "threads.add_structured_input"). */
static json_t *answer_for(const json_t *question, const json_t *answers, int submission_skipped)
{
    const char *qid = json_string_value(json_object_get(question, "id"));
    const json_t *given = qid ? json_object_get(answers, qid) : NULL;
    const json_t *values = json_object_get(given, "values");
    if (submission_skipped || given == NULL || json_is_true(json_object_get(given, "skipped")) ||
        json_array_size(values) == 0)
        return json_pack("{s:[],s:b}", "values", "skipped", 1);
    json_t *kept = json_deep_copy(values);
    const char *qtype = json_string_value(json_object_get(question, "type"));
    int single = qtype && strcmp(qtype, "multiple_choice") == 0 && !json_is_true(json_object_get(question, "multiple"));
    if (single) {
        while (json_array_size(kept) > 1)
            json_array_remove(kept, json_array_size(kept) - 1);
    }
    return json_pack("{s:o,s:b}", "values", kept, "skipped", 0);
}

int ck_proto_structured_answer(const json_t *item, const json_t *input, json_t **out, ck_proto_error_t *err)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *id = json_string_value(json_object_get(item, "id"));
    if (type == NULL || strcmp(type, "structured_input") != 0)
        return ck_proto_error_set(err, 400, "invalid_params", "item %.64s is not a structured_input item",
                                  id ? id : "?");
    const char *status = json_string_value(json_object_get(item, "status"));
    if (status != NULL && strcmp(status, "pending") != 0)
        return ck_proto_error_set(err, 409, "conflict", "structured input item %.64s is not pending", id ? id : "?");
    const char *submitted = json_string_value(json_object_get(input, "status"));
    if (submitted == NULL)
        submitted = "answered";
    int skipped = strcmp(submitted, "skipped") == 0;
    const json_t *answers = json_object_get(input, "answers");
    json_t *copy = json_deep_copy(item);
    size_t i;
    json_t *question;
    json_array_foreach(json_object_get(copy, "inputs"), i, question)
    {
        if (json_is_object(question))
            json_object_set_new(question, "answer", answer_for(question, answers, skipped));
    }
    json_object_set_new(copy, "status", json_string(skipped ? "skipped" : "answered"));
    *out = copy;
    return 0;
}
