/*
 * upstream_sse.h - incremental parser of a streamed Chat Completions response.
 *
 * An OpenAI-compatible server streams `text/event-stream`: `data: {chunk}`
 * events separated by blank lines, ending with `data: [DONE]`.  This parser
 * takes the body in arbitrary pieces (a line may be split anywhere, even
 * between CR and LF), frames the SSE events (LF, CRLF or CR line ends,
 * comments, multi-line data), decodes each chunk and accumulates:
 *   - text: choices[0].delta.content, handed to a callback as it arrives;
 *   - tool calls: choices[0].delta.tool_calls[] fragments merged by `index`
 *     (id, function.name, function.arguments concatenated);
 *   - finish_reason, and an upstream `error` object or undecodable data;
 *   - `usage` (prompt and completion tokens), which an endpoint sends in a
 *     last chunk when asked with stream_options.include_usage.
 * Pure: no I/O, no loop; unit-tested in tests/unit/test_agent_sse.c.
 */
#ifndef CK_AGENT_UPSTREAM_SSE_H
#define CK_AGENT_UPSTREAM_SSE_H

#include <stddef.h>

#include "base/strbuf.h"

#define CK_AGENT_SSE_MAX_TOOL_CALLS 16
#define CK_AGENT_SSE_MAX_LINE (1u << 20) /* one SSE line / one event's data */

/* One tool call requested by the model; strings are malloc'd and owned by
 * the parser (NULL until a fragment arrived). */
typedef struct ck_agent_tool_call {
    char *id;
    char *name;
    char *arguments;
    size_t arguments_len;
} ck_agent_tool_call_t;

/* Called for every non-empty content delta; `delta` is valid during the call. */
typedef void (*ck_agent_sse_text_cb)(const char *delta, size_t len, void *user);

typedef struct ck_agent_sse {
    /* results (read them after ck_agent_sse_feed / ck_agent_sse_finish) */
    ck_agent_tool_call_t tool_calls[CK_AGENT_SSE_MAX_TOOL_CALLS];
    size_t tool_call_count; /* highest index seen + 1 */
    char finish_reason[32]; /* "" until a chunk carried one */
    char *error;            /* malloc'd description once parsing failed */
    int done;               /* `data: [DONE]` seen */
    size_t chunks;          /* data events decoded so far */
    int usage_seen;         /* a chunk carried `usage` (stream_options.include_usage) */
    long prompt_tokens;     /* usage.prompt_tokens of the last such chunk */
    long completion_tokens; /* usage.completion_tokens of the last such chunk */
    /* private framing state */
    ck_agent_sse_text_cb on_text;
    void *user;
    ck_strbuf_t line; /* the line being read, without its terminator */
    ck_strbuf_t data; /* the data lines of the event being read, joined by '\n' */
    int has_data;
    int after_cr;
} ck_agent_sse_t;

/* Initializes `p` (no allocation yet); `on_text` may be NULL. */
void ck_agent_sse_init(ck_agent_sse_t *p, ck_agent_sse_text_cb on_text, void *user);

/* Feeds `len` body bytes.  Returns 0, or -1 once the stream is unusable
 * (p->error says why: malformed JSON, an upstream error object, a line over
 * CK_AGENT_SSE_MAX_LINE, too many tool calls).  After -1 every further call
 * returns -1 without calling on_text. */
int ck_agent_sse_feed(ck_agent_sse_t *p, const char *bytes, size_t len);

/* The body ended: dispatches a last unterminated event, then returns 0 if
 * the stream completed ([DONE] or a finish_reason seen), -1 otherwise
 * (p->error set to "truncated" unless it was set before). */
int ck_agent_sse_finish(ck_agent_sse_t *p);

/* Frees everything the parser allocated and re-initializes it with the same
 * callback, ready for a new body (a retry); safe to call repeatedly. */
void ck_agent_sse_free(ck_agent_sse_t *p);

#endif
