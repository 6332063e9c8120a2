/*
 * upstream_sse.c - incremental parser of a streamed Chat Completions
 * response (see upstream_sse.h).
 *
 * Two layers: SSE framing (bytes -> lines -> events, per the WHATWG
 * event-stream rules we need: LF/CRLF/CR line ends, `:` comments, `data`
 * lines joined with LF, dispatch on a blank line) and chunk decoding (one
 * event's data -> text delta, tool-call fragments, finish_reason, error).
 */
#include "agent/upstream_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void ck_agent_sse_init(ck_agent_sse_t *p, ck_agent_sse_text_cb on_text, void *user)
{
    memset(p, 0, sizeof(*p));
    p->on_text = on_text;
    p->user = user;
}

void ck_agent_sse_free(ck_agent_sse_t *p)
{
    for (size_t i = 0; i < CK_AGENT_SSE_MAX_TOOL_CALLS; i++) {
        free(p->tool_calls[i].id);
        free(p->tool_calls[i].name);
        free(p->tool_calls[i].arguments);
    }
    free(p->error);
    ck_strbuf_free(&p->line);
    ck_strbuf_free(&p->data);
    ck_agent_sse_init(p, p->on_text, p->user);
}

/* Records the first failure; returns -1. */
static int fail(ck_agent_sse_t *p, const char *what, const char *detail)
{
    if (p->error == NULL) {
        size_t n = strlen(what) + (detail ? strlen(detail) : 0) + 3;
        p->error = malloc(n);
        if (p->error)
            snprintf(p->error, n, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    }
    return -1;
}

/* Appends `n` bytes to `b` unless that would make it longer than an
 * upstream line may be.  Returns 0, or -1 (too long, or out of memory). */
static int buf_append(ck_strbuf_t *b, const char *bytes, size_t n)
{
    if (b->len + n > CK_AGENT_SSE_MAX_LINE)
        return -1;
    ck_strbuf_add(b, bytes, n);
    return b->failed ? -1 : 0;
}

/* Appends a JSON string value (if it is one) to a malloc'd string. */
static int append_str(char **dst, size_t *dst_len, const json_t *value)
{
    if (!json_is_string(value))
        return 0;
    size_t n = json_string_length(value);
    size_t have = *dst ? (dst_len ? *dst_len : strlen(*dst)) : 0;
    if (have + n > CK_AGENT_SSE_MAX_LINE)
        return -1;
    char *grown = realloc(*dst, have + n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + have, json_string_value(value), n);
    grown[have + n] = '\0';
    *dst = grown;
    if (dst_len)
        *dst_len = have + n;
    return 0;
}

/* Merges one element of delta.tool_calls[] into the accumulated calls. */
static int merge_tool_call(ck_agent_sse_t *p, const json_t *frag, size_t position)
{
    json_t *index = json_object_get(frag, "index");
    json_int_t i = json_is_integer(index) ? json_integer_value(index) : (json_int_t)position;
    if (i < 0 || i >= CK_AGENT_SSE_MAX_TOOL_CALLS)
        return fail(p, "upstream requested too many tool calls", NULL);
    ck_agent_tool_call_t *call = &p->tool_calls[i];
    json_t *fn = json_object_get(frag, "function");
    if (json_is_string(json_object_get(frag, "id")) && call->id == NULL)
        call->id = strdup(json_string_value(json_object_get(frag, "id")));
    if (append_str(&call->name, NULL, json_object_get(fn, "name")) < 0 ||
        append_str(&call->arguments, &call->arguments_len, json_object_get(fn, "arguments")) < 0)
        return fail(p, "tool call too large", NULL);
    if ((size_t)i + 1 > p->tool_call_count)
        p->tool_call_count = (size_t)i + 1;
    return 0;
}

/* Describes an upstream `error` member (object with message, or string). */
static int fail_upstream_error(ck_agent_sse_t *p, const json_t *error)
{
    const json_t *msg = json_is_object(error) ? json_object_get(error, "message") : error;
    return fail(p, "upstream error", json_is_string(msg) ? json_string_value(msg) : "unspecified");
}

/* Applies one decoded chunk object. */
static int apply_chunk(ck_agent_sse_t *p, const json_t *chunk)
{
    json_t *error = json_object_get(chunk, "error");
    if (error && !json_is_null(error))
        return fail_upstream_error(p, error);
    json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage)) {
        p->usage_seen = 1;
        p->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        p->completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
    }
    json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
    if (!json_is_object(choice))
        return 0; /* e.g. a usage-only chunk */
    json_t *delta = json_object_get(choice, "delta");
    json_t *content = json_object_get(delta, "content");
    if (json_is_string(content) && json_string_length(content) > 0 && p->on_text)
        p->on_text(json_string_value(content), json_string_length(content), p->user);
    json_t *calls = json_object_get(delta, "tool_calls");
    for (size_t i = 0; i < json_array_size(calls); i++)
        if (merge_tool_call(p, json_array_get(calls, i), i) < 0)
            return -1;
    json_t *finish = json_object_get(choice, "finish_reason");
    if (json_is_string(finish))
        snprintf(p->finish_reason, sizeof(p->finish_reason), "%s", json_string_value(finish));
    return 0;
}

/* Decodes the data of one event. */
static int dispatch(ck_agent_sse_t *p)
{
    if (!p->has_data)
        return 0;
    p->has_data = 0;
    int rc = 0;
    if (p->data.len == 6 && memcmp(p->data.p, "[DONE]", 6) == 0) {
        p->done = 1;
    } else {
        json_error_t jerr;
        json_t *chunk = json_loadb(p->data.p, p->data.len, 0, &jerr);
        if (!json_is_object(chunk)) {
            rc = fail(p, "upstream sent malformed data", jerr.text);
        } else {
            p->chunks++;
            rc = apply_chunk(p, chunk);
        }
        json_decref(chunk);
    }
    ck_strbuf_clear(&p->data);
    return rc;
}

/* Handles one complete line (without its terminator). */
static int on_line(ck_agent_sse_t *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return 0;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 5 && memcmp(line, "error", 5) == 0)
        return fail(p, "upstream error", "error event");
    if (name_len != 4 || memcmp(line, "data", 4) != 0)
        return 0; /* event, id, retry, unknown fields */
    if (p->has_data && buf_append(&p->data, "\n", 1) < 0)
        return fail(p, "upstream event too large", NULL);
    if (buf_append(&p->data, value, value_len) < 0)
        return fail(p, "upstream event too large", NULL);
    p->has_data = 1;
    return 0;
}

int ck_agent_sse_feed(ck_agent_sse_t *p, const char *bytes, size_t len)
{
    size_t i = 0;
    while (i < len && p->error == NULL) {
        char c = bytes[i];
        if (p->after_cr && c == '\n') { /* second half of a CRLF */
            p->after_cr = 0;
            i++;
            continue;
        }
        p->after_cr = 0;
        if (c == '\r' || c == '\n') {
            p->after_cr = (c == '\r');
            int rc = on_line(p, p->line.p != NULL ? p->line.p : "", p->line.len);
            ck_strbuf_clear(&p->line);
            if (rc < 0)
                break;
            i++;
            continue;
        }
        const char *end = bytes + i;
        while (end < bytes + len && *end != '\r' && *end != '\n')
            end++;
        if (buf_append(&p->line, bytes + i, (size_t)(end - (bytes + i))) < 0)
            return fail(p, "upstream line too long", NULL);
        i = (size_t)(end - bytes);
    }
    /* Nothing is kept between events: every open stream would otherwise
     * hold both buffers while it waits for the next token. */
    if (p->line.len == 0)
        ck_strbuf_free(&p->line);
    if (!p->has_data)
        ck_strbuf_free(&p->data);
    return p->error ? -1 : 0;
}

int ck_agent_sse_finish(ck_agent_sse_t *p)
{
    if (p->error == NULL && p->line.len > 0) {
        on_line(p, p->line.p, p->line.len);
        ck_strbuf_clear(&p->line);
    }
    if (p->error == NULL)
        dispatch(p);
    if (p->error)
        return -1;
    if (p->done || p->finish_reason[0])
        return 0;
    return fail(p, "upstream stream truncated", NULL);
}
