/*
 * pipeline.c - the response pipeline state machine (see pipeline.h for the
 * states and the rules; docs/protocol.md, "The response pipeline").
 *
 * Data: a FIFO of steps (singly linked), the thread as it is now (one copy:
 * the thread as it was is copied only while a change is applied, to see
 * whether it changed anything), and the pending items (added but not yet
 * done/replaced/removed) as an object keyed by item id, which keeps
 * insertion order for the cancellation pass.  Text deltas are gathered in
 * growable buffers beside the pending copies (text_acc_t) and written into
 * them only when they are read: rebuilding a jansson string per delta made
 * a long answer quadratic (3 MB in 1 KB deltas took 9 s of one event loop).
 */
#include "protocol/pipeline.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "protocol/events.h"

/* Guard against absurd indexes from a buggy source (each would pad arrays). */
#define MAX_PART_INDEX 256

/* The text of content part `index` of pending item `item_id` so far: the
 * part's text when the first delta came, then every delta appended. */
typedef struct text_acc {
    struct text_acc *next;
    size_t index;
    ck_strbuf_t text;
    char item_id[]; /* NUL-terminated */
} text_acc_t;

typedef struct step_node {
    ck_proto_step_t step;
    struct step_node *next;
} step_node_t;

struct ck_proto_pipeline {
    ck_proto_pipe_state_t state;
    char thread_id[CK_ID_MAX * 4];
    json_t *thread;    /* ThreadMetadata as it is now (= as last saved between changes) */
    json_t *pending;   /* item id -> deep copy of the pending item */
    text_acc_t *texts; /* gathered deltas not yet written into `pending` */
    step_node_t *head, *tail;
    size_t queued;
};

/* --- the step queue ----------------------------------------------------- */

static void push(ck_proto_pipeline_t *pipe, ck_proto_step_kind_t kind, const char *op, json_t *json)
{
    step_node_t *node = calloc(1, sizeof(*node));
    if (node == NULL || json == NULL) {
        free(node);
        json_decref(json);
        return;
    }
    node->step.kind = kind;
    node->step.op = op;
    node->step.json = json;
    if (pipe->tail)
        pipe->tail->next = node;
    else
        pipe->head = node;
    pipe->tail = node;
    pipe->queued++;
}

static void push_forward(ck_proto_pipeline_t *pipe, json_t *event) { push(pipe, CK_PROTO_STEP_FORWARD, NULL, event); }

/* Queues store op `op` with {"thread_id": <thread>, key: value}; `value` is
 * taken.  It may be shared (json_incref) with a forwarded event: steps are
 * only serialized, never modified, after they are queued. */
static void push_persist(ck_proto_pipeline_t *pipe, const char *op, const char *key, json_t *value)
{
    json_t *params = json_pack("{s:s,s:o}", "thread_id", pipe->thread_id, key, value);
    push(pipe, CK_PROTO_STEP_PERSIST, op, params);
}

/* Drops queued steps: all of them, or only the forwards (keep_persist). */
static void drop_steps(ck_proto_pipeline_t *pipe, int keep_persist)
{
    step_node_t **link = &pipe->head;
    pipe->tail = NULL;
    while (*link != NULL) {
        step_node_t *node = *link;
        if (keep_persist && node->step.kind == CK_PROTO_STEP_PERSIST) {
            pipe->tail = node;
            link = &node->next;
            continue;
        }
        *link = node->next;
        json_decref(node->step.json);
        free(node);
        pipe->queued--;
    }
}

int ck_proto_pipeline_next(ck_proto_pipeline_t *pipe, ck_proto_step_t *out)
{
    step_node_t *node = pipe->head;
    if (node == NULL)
        return 0;
    pipe->head = node->next;
    if (pipe->head == NULL)
        pipe->tail = NULL;
    pipe->queued--;
    *out = node->step;
    free(node);
    return 1;
}

size_t ck_proto_pipeline_queued(const ck_proto_pipeline_t *pipe) { return pipe->queued; }

/* --- gathered text deltas -------------------------------------------------- */

/* The part's "text" string, when item `item_id` is pending and has one. */
static json_t *part_text(const ck_proto_pipeline_t *pipe, const char *item_id, size_t index)
{
    json_t *part = json_array_get(json_object_get(json_object_get(pipe->pending, item_id), "content"), index);
    json_t *text = json_object_get(part, "text");
    return json_is_string(text) ? text : NULL;
}

/* Writes the gathered text of item `item_id` (of every item when NULL) into
 * the pending copies when `write`, and frees those accumulators. */
static void sync_texts(ck_proto_pipeline_t *pipe, const char *item_id, int write)
{
    text_acc_t **link = &pipe->texts;
    while (*link != NULL) {
        text_acc_t *acc = *link;
        if (item_id != NULL && strcmp(acc->item_id, item_id) != 0) {
            link = &acc->next;
            continue;
        }
        json_t *part =
            write ? json_array_get(json_object_get(json_object_get(pipe->pending, acc->item_id), "content"), acc->index)
                  : NULL;
        if (part != NULL && part_text(pipe, acc->item_id, acc->index) != NULL && !acc->text.failed)
            json_object_set_new(part, "text", json_stringn(acc->text.p ? acc->text.p : "", acc->text.len));
        *link = acc->next;
        free(acc->text.p);
        free(acc);
    }
}

/* Appends `delta` to the text of part `index` of pending item `item_id`
 * (which has a text string). */
static void gather_delta(ck_proto_pipeline_t *pipe, const char *item_id, size_t index, const char *delta)
{
    text_acc_t *acc = pipe->texts;
    while (acc != NULL && (acc->index != index || strcmp(acc->item_id, item_id) != 0))
        acc = acc->next;
    if (acc == NULL) {
        size_t id_len = strlen(item_id);
        if ((acc = calloc(1, sizeof(*acc) + id_len + 1)) == NULL)
            return;
        memcpy(acc->item_id, item_id, id_len + 1);
        acc->index = index;
        json_t *text = part_text(pipe, item_id, index);
        ck_strbuf_add(&acc->text, json_string_value(text), json_string_length(text));
        acc->next = pipe->texts;
        pipe->texts = acc;
    }
    ck_strbuf_adds(&acc->text, delta);
}

/* --- life cycle --------------------------------------------------------- */

ck_proto_pipeline_t *ck_proto_pipeline_new(const json_t *thread)
{
    const char *id = json_string_value(json_object_get(thread, "id"));
    if (!json_is_object(thread) || id == NULL || strlen(id) >= sizeof(((ck_proto_pipeline_t *)0)->thread_id))
        return NULL;
    ck_proto_pipeline_t *pipe = calloc(1, sizeof(*pipe));
    if (pipe == NULL)
        return NULL;
    strcpy(pipe->thread_id, id);
    pipe->thread = json_deep_copy(thread);
    pipe->pending = json_object();
    pipe->state = CK_PROTO_PIPE_LEADING;
    return pipe;
}

void ck_proto_pipeline_free(ck_proto_pipeline_t *pipe)
{
    if (pipe == NULL)
        return;
    drop_steps(pipe, 0);
    sync_texts(pipe, NULL, 0);
    json_decref(pipe->thread);
    json_decref(pipe->pending);
    free(pipe);
}

ck_proto_pipe_state_t ck_proto_pipeline_state(const ck_proto_pipeline_t *pipe) { return pipe->state; }

const json_t *ck_proto_pipeline_thread(const ck_proto_pipeline_t *pipe) { return pipe->thread; }

const json_t *ck_proto_pipeline_pending(ck_proto_pipeline_t *pipe, const char *item_id)
{
    sync_texts(pipe, item_id, 1);
    return json_object_get(pipe->pending, item_id);
}

int ck_proto_pipeline_forward(ck_proto_pipeline_t *pipe, json_t *event)
{
    if (pipe->state != CK_PROTO_PIPE_LEADING) {
        json_decref(event);
        return -1;
    }
    push_forward(pipe, event);
    return 0;
}

void ck_proto_pipeline_begin(ck_proto_pipeline_t *pipe, int allow_cancel)
{
    if (pipe->state != CK_PROTO_PIPE_LEADING)
        return;
    push_forward(pipe, ck_proto_ev_stream_options(allow_cancel));
    pipe->state = CK_PROTO_PIPE_STREAMING;
}

void ck_proto_pipeline_finish(ck_proto_pipeline_t *pipe)
{
    if (pipe->state == CK_PROTO_PIPE_STREAMING)
        pipe->state = CK_PROTO_PIPE_FINISHED;
}

/* --- pending items ------------------------------------------------------ */

/* Non-whitespace text in any content part of an assistant message. */
static int has_text(const json_t *item)
{
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(item, "content"), i, part)
    {
        const char *text = json_string_value(json_object_get(part, "text"));
        for (; text != NULL && *text; text++) {
            if (!isspace((unsigned char)*text))
                return 1;
        }
    }
    return 0;
}

/* The turn ends early: queues item.add of every pending assistant_message
 * with non-whitespace text (as accumulated), each followed by its
 * thread.item.done when `forward`, and forgets every pending item. */
static void keep_partials(ck_proto_pipeline_t *pipe, int forward)
{
    const char *id;
    json_t *item;
    sync_texts(pipe, NULL, 1);
    json_object_foreach(pipe->pending, id, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        if (type == NULL || strcmp(type, "assistant_message") != 0 || !has_text(item))
            continue;
        push_persist(pipe, "item.add", "item", json_deep_copy(item));
        if (forward)
            push_forward(pipe, ck_proto_ev_item_done(item));
    }
    json_object_clear(pipe->pending);
}

void ck_proto_pipeline_fail(ck_proto_pipeline_t *pipe, const char *code, const char *message, int allow_retry)
{
    if (pipe->state == CK_PROTO_PIPE_FAILED || pipe->state == CK_PROTO_PIPE_CANCELLED)
        return;
    drop_steps(pipe, 1);
    if (pipe->state == CK_PROTO_PIPE_STREAMING)
        keep_partials(pipe, 0);
    push_forward(pipe, ck_proto_ev_error(code ? code : "stream.error", message, allow_retry));
    pipe->state = CK_PROTO_PIPE_FAILED;
}

void ck_proto_pipeline_cancel(ck_proto_pipeline_t *pipe)
{
    if (pipe->state != CK_PROTO_PIPE_LEADING && pipe->state != CK_PROTO_PIPE_STREAMING)
        return;
    drop_steps(pipe, 1);
    keep_partials(pipe, 0);
    push_persist(pipe, "item.add", "item", ck_proto_sdk_hidden_new(pipe->thread_id, CK_PROTO_CANCEL_NOTE));
    pipe->state = CK_PROTO_PIPE_CANCELLED;
}

/* A content-part index within bounds, or -1. */
static int part_index(const json_t *update, const char *key)
{
    json_t *v = json_object_get(update, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_PART_INDEX)
        return -1;
    return (int)json_integer_value(v);
}

/* Sets array[index] = value (taken), padding with copies of `pad` (borrowed). */
static void set_padded(json_t *array, size_t index, json_t *value, const json_t *pad)
{
    while (json_array_size(array) < index)
        json_array_append_new(array, json_deep_copy(pad));
    if (json_array_size(array) == index)
        json_array_append_new(array, value);
    else
        json_array_set_new(array, index, value);
}

static void apply_message_update(ck_proto_pipeline_t *pipe, const char *item_id, json_t *item, const char *type,
                                 const json_t *update)
{
    json_t *content = json_object_get(item, "content");
    int idx = part_index(update, "content_index");
    if (!json_is_array(content) || idx < 0)
        return;
    json_t *part = json_array_get(content, (size_t)idx);
    if (strcmp(type, "assistant_message.content_part.added") == 0 ||
        strcmp(type, "assistant_message.content_part.done") == 0) {
        const json_t *value = json_object_get(update, "content");
        if (json_is_object(value)) {
            json_t *empty = ck_proto_output_text("", NULL);
            set_padded(content, (size_t)idx, json_deep_copy(value), empty);
            json_decref(empty);
        }
    } else if (strcmp(type, "assistant_message.content_part.text_delta") == 0) {
        const char *delta = json_string_value(json_object_get(update, "delta"));
        if (delta != NULL && part_text(pipe, item_id, (size_t)idx) != NULL)
            gather_delta(pipe, item_id, (size_t)idx, delta);
    } else if (strcmp(type, "assistant_message.content_part.annotation_added") == 0) {
        json_t *list = json_object_get(part, "annotations");
        const json_t *annotation = json_object_get(update, "annotation");
        int at = part_index(update, "annotation_index");
        if (json_is_array(list) && annotation != NULL && at >= 0) {
            if ((size_t)at >= json_array_size(list))
                json_array_append_new(list, json_deep_copy(annotation));
            else
                json_array_insert_new(list, (size_t)at, json_deep_copy(annotation));
        }
    }
}

static void apply_workflow_update(json_t *item, const char *type, const json_t *update)
{
    json_t *tasks = json_object_get(json_object_get(item, "workflow"), "tasks");
    const json_t *task = json_object_get(update, "task");
    int idx = part_index(update, "task_index");
    if (!json_is_array(tasks) || !json_is_object(task))
        return;
    if (strcmp(type, "workflow.task.added") == 0)
        json_array_append_new(tasks, json_deep_copy(task));
    else if (strcmp(type, "workflow.task.updated") == 0 && idx >= 0 && (size_t)idx < json_array_size(tasks))
        json_array_set_new(tasks, (size_t)idx, json_deep_copy(task));
}

static void apply_update(ck_proto_pipeline_t *pipe, const char *item_id, const json_t *update)
{
    json_t *item = json_object_get(pipe->pending, item_id);
    const char *item_type = json_string_value(json_object_get(item, "type"));
    const char *type = json_string_value(json_object_get(update, "type"));
    if (item_type == NULL || type == NULL)
        return;
    if (strcmp(type, "assistant_message.content_part.text_delta") != 0)
        sync_texts(pipe, item_id, 1); /* other updates see (or replace) the text so far */
    if (strcmp(item_type, "assistant_message") == 0)
        apply_message_update(pipe, item_id, item, type, update);
    else if (strcmp(item_type, "workflow") == 0)
        apply_workflow_update(item, type, update);
}

/* --- events ------------------------------------------------------------- */

/* Fills a missing thread_id / created_at of an item from the source. */
static void complete_item(ck_proto_pipeline_t *pipe, json_t *item)
{
    if (!json_is_string(json_object_get(item, "thread_id")))
        json_object_set_new(item, "thread_id", json_string(pipe->thread_id));
    if (!json_is_string(json_object_get(item, "created_at"))) {
        char now[CK_TIME_MAX];
        ck_proto_now(now);
        json_object_set_new(item, "created_at", json_string(now));
    }
}

/* thread.item.added / done / replaced. */
static int feed_item_event(ck_proto_pipeline_t *pipe, const char *type, json_t *event)
{
    json_t *item = json_object_get(event, "item");
    if (!ck_proto_item_is_valid(item))
        return -1;
    complete_item(pipe, item);
    const char *id = json_string_value(json_object_get(item, "id"));
    sync_texts(pipe, id, 0); /* the event's item supersedes the pending copy */
    if (strcmp(type, "thread.item.added") == 0) {
        json_object_set_new(pipe->pending, id, json_deep_copy(item));
    } else if (strcmp(type, "thread.item.done") == 0) {
        push_persist(pipe, "item.add", "item", json_incref(item));
        json_object_del(pipe->pending, id);
        if (ck_proto_item_is_hidden(item)) {
            json_decref(event);
            return 0;
        }
    } else {
        push_persist(pipe, "item.save", "item", json_incref(item));
        json_object_del(pipe->pending, id);
    }
    push_forward(pipe, event);
    return 0;
}

static int feed_removed(ck_proto_pipeline_t *pipe, json_t *event)
{
    const char *id = json_string_value(json_object_get(event, "item_id"));
    if (id == NULL)
        return -1;
    push_persist(pipe, "item.delete", "item_id", json_string(id));
    sync_texts(pipe, id, 0);
    json_object_del(pipe->pending, id);
    push_forward(pipe, event);
    return 0;
}

static int feed_updated(ck_proto_pipeline_t *pipe, json_t *event)
{
    const char *id = json_string_value(json_object_get(event, "item_id"));
    const json_t *update = json_object_get(event, "update");
    if (id == NULL || !json_is_object(update))
        return -1;
    apply_update(pipe, id, update);
    push_forward(pipe, event);
    return 0;
}

/* Events that are only forwarded (docs/protocol.md, "The twelve events"). */
static int is_plain_event(const char *type)
{
    static const char *const plain[] = {
        "thread.updated", "stream_options", "progress_update", "client_effect", "error", "notice", NULL};
    for (const char *const *p = plain; *p != NULL; p++) {
        if (strcmp(type, *p) == 0)
            return 1;
    }
    return 0;
}

static int dispatch(ck_proto_pipeline_t *pipe, const char *type, json_t *event)
{
    if (strcmp(type, "thread.item.added") == 0 || strcmp(type, "thread.item.done") == 0 ||
        strcmp(type, "thread.item.replaced") == 0)
        return feed_item_event(pipe, type, event);
    if (strcmp(type, "thread.item.removed") == 0)
        return feed_removed(pipe, event);
    if (strcmp(type, "error") == 0)
        keep_partials(pipe, 1); /* the text already shown is kept (and finished) before the error */
    if (strcmp(type, "thread.item.updated") == 0)
        return feed_updated(pipe, event);
    if (is_plain_event(type)) {
        push_forward(pipe, event);
        return 0;
    }
    return -1;
}

int ck_proto_pipeline_feed(ck_proto_pipeline_t *pipe, json_t *event)
{
    const char *type = json_string_value(json_object_get(event, "type"));
    if (pipe->state != CK_PROTO_PIPE_STREAMING || type == NULL || dispatch(pipe, type, event) != 0) {
        json_decref(event);
        return -1;
    }
    return 0;
}

void ck_proto_pipeline_thread_changed(ck_proto_pipeline_t *pipe, const json_t *changes)
{
    const char *key;
    json_t *value;
    if (pipe->state != CK_PROTO_PIPE_STREAMING || !json_is_object(changes))
        return;
    /* the thread as last saved, only while the changes are applied (an
     * open stream keeps one copy of the thread, not two) */
    json_t *saved = json_deep_copy(pipe->thread);
    json_object_foreach((json_t *)changes, key, value)
    {
        if (strcmp(key, "id") == 0 || strcmp(key, "created_at") == 0)
            continue;
        if (json_is_null(value))
            json_object_del(pipe->thread, key);
        else
            json_object_set_new(pipe->thread, key, json_deep_copy(value));
    }
    int same = json_equal(pipe->thread, saved);
    json_decref(saved);
    if (same)
        return;
    push(pipe, CK_PROTO_STEP_PERSIST, "thread.save", json_pack("{s:o}", "thread", json_deep_copy(pipe->thread)));
    push_forward(pipe, ck_proto_ev_thread_updated(pipe->thread));
}
