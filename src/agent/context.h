/*
 * context.h - the context builder: what the model sees in every request of
 * a turn, fitted to the token budget (CHATKITD_CONTEXT_TOKENS) as
 * estimated by src/agent/tokens.h.
 *
 * In order (docs/context.md):
 *   1. one system message: the system prompt; the page context of the
 *      request (untrusted, delimited); the user's remembered facts
 *      (untrusted, delimited, with their ids); the summary of earlier
 *      conversation (delimited, marked as a summary);
 *   2. the history: at most the last CK_AGENT_HISTORY_LIMIT items before
 *      the new message, converted as docs/agent.md describes, trimmed oldest-first to fit;
 *   3. the new user message with its attachments (never cut; only inlined
 *      text files are shortened, with a marker), then a widget action;
 *   4. this turn's tool calls and tool results (results shortened with a
 *      marker when they do not fit).
 * The tool definitions count against the budget too.  When even an empty
 * history does not fit, the summary and then the facts are dropped; when
 * that is not enough either, `over` is set (the turn fails).
 *
 * Pure (no I/O, no state).
 */
#ifndef CK_AGENT_CONTEXT_H
#define CK_AGENT_CONTEXT_H

#include <stddef.h>

#include <jansson.h>

/* Shortest a shortened tool result or file becomes, in tokens. */
#define CK_CONTEXT_MIN_CUT 64

typedef struct ck_agent_context_in {
    const char *system_prompt;      /* may be NULL */
    const json_t *request_metadata; /* the request's `metadata`, or NULL */
    const json_t *facts;            /* [{"id","fact"}...] of the user, or NULL */
    const char *summary;            /* summary of earlier conversation, or NULL */
    const json_t *history;          /* items before the new message, ascending, or NULL */
    const json_t *user_message;     /* the new user_message item, or NULL */
    const json_t *attachments;      /* attachments.load result array, or NULL */
    const json_t *action;           /* custom_action: the action, or NULL */
    const json_t *sender_item;      /* custom_action: the widget item, or NULL */
    const json_t *turn_messages;    /* this turn's assistant tool_calls / tool messages, or NULL */
    size_t tools_tokens;            /* estimate of the request's `tools` */
    size_t budget;                  /* CHATKITD_CONTEXT_TOKENS */
} ck_agent_context_in_t;

typedef struct ck_agent_context_out {
    json_t *messages;    /* owned by the caller: the request's `messages` */
    size_t history_sent; /* how many of the newest history items are in it */
    size_t total;        /* estimated tokens of the request (messages + tools) */
    size_t system, facts, summary, history, message, turn, tools; /* the parts (system = prompt + page context) */
    int facts_dropped, summary_dropped;
    size_t shortened; /* tool results / inlined files shortened */
    int over;         /* does not fit even without history, summary and facts */
} ck_agent_context_out_t;

/* Builds the request's messages.  Returns 0, or -1 on OOM.  `out->over`
 * set: the messages still hold everything that could not be cut. */
int ck_agent_context_build(const ck_agent_context_in_t *in, ck_agent_context_out_t *out);

/* The text of the system message from its parts (each may be NULL/empty):
 * `base` (system prompt + page context), the facts block, the summary block.
 * Returns a malloc'd string (caller frees). */
char *ck_agent_context_system_text(const char *base, const json_t *facts, const char *summary);

/* `text` cut to about `max_tokens` tokens with a marker saying what was
 * kept: "...\n[shortened to fit the context budget: about K of N tokens kept]".
 * Returns a new JSON string (caller owns). */
json_t *ck_agent_context_shorten(const char *text, size_t len, size_t max_tokens);

#endif
