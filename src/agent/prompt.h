/*
 * prompt.h - model input assembly: ChatKit thread items -> Chat Completions
 * `messages`.
 *
 * Pure functions over JSON (no I/O).  The shapes follow docs/agent.md, "What the model sees" (the
 * official ThreadItemConverter, with its exact templates), mapped from the
 * Responses API to Chat Completions: function_call + function_call_output
 * become an assistant message with `tool_calls` followed by a `tool`
 * message; input_image parts become `image_url` parts.
 *
 * The system message carries the configured system prompt and, clearly
 * delimited and size-bounded, the untrusted page context of the request
 * (metadata.userInfo, metadata.pageContext) as escaped JSON that the model
 * is told to treat as data, never as instructions.  A widget action
 * (threads.custom_action) becomes a user message after the history, framed
 * the same way: what the user triggered, with the action as bounded,
 * escaped JSON that the model must not obey.
 */
#ifndef CK_AGENT_PROMPT_H
#define CK_AGENT_PROMPT_H

#include <stddef.h>

#include <jansson.h>

/* Upper bound, in bytes, of the serialized untrusted context block. */
#define CK_AGENT_CONTEXT_MAX 8192
/* Upper bound, in bytes, of the serialized widget action block. */
#define CK_AGENT_ACTION_MAX 4096
/* Upper bound of an attached text file inlined into the prompt. */
#define CK_AGENT_TEXT_ATTACHMENT_MAX (64 * 1024)

typedef struct ck_agent_prompt {
    const char *system_prompt;      /* may be NULL */
    const json_t *request_metadata; /* the request's `metadata` object, or NULL */
    const json_t *history;          /* stored items before the new message, ascending; or NULL */
    const json_t *user_message;     /* the new user_message item, or NULL (continuations) */
    const json_t *attachments;      /* `attachments` array of store op attachments.load, or NULL */
    const json_t *action;           /* threads.custom_action: the action {type, payload?}, or NULL */
    const json_t *sender_item;      /* the widget item the action came from, or NULL */
} ck_agent_prompt_t;

/* The complete `messages` array: system message, converted history, then
 * the new user message with its attachments (and quoted text / tag context
 * messages), then the widget action message (when `action` is set).
 * Returns a new reference (caller owns); NULL only on OOM. */
json_t *ck_agent_prompt_messages(const ck_agent_prompt_t *prompt);

/* The text of the system message: `system_prompt` followed by the delimited
 * untrusted context block built from `request_metadata` (omitted when it has
 * neither userInfo nor pageContext).  Returns a malloc'd string (caller frees). */
char *ck_agent_prompt_system_text(const char *system_prompt, const json_t *request_metadata);

/* The user-role message for a widget action: it states that the user
 * triggered the action (its type) on the widget (the id of `sender_item`),
 * then gives the action as a delimited, escaped JSON block of at most
 * CK_AGENT_ACTION_MAX bytes ({"type","payload","widget_id"}, plus the widget
 * itself when `include_widget`) that the model is told is untrusted data.
 * Returns a new reference (caller owns); NULL when `action` is not an
 * object (or on OOM). */
json_t *ck_agent_prompt_action_message(const json_t *action, const json_t *sender_item, int include_widget);

/* Appends the model messages for one stored item to `messages` (docs/agent.md, "What the model sees").
 * `is_last`: the item is the last of the conversation (quoted text is only
 * sent then).  `attachments` as in ck_agent_prompt_t (used for user
 * messages; attachments without loaded data are mentioned by name). */
void ck_agent_prompt_add_item(json_t *messages, const json_t *item, int is_last, const json_t *attachments);

/* The plain text of a user_message: text parts verbatim and tags as "@" +
 * tag text, concatenated.  Returns a malloc'd string (caller frees); "" for
 * NULL or a message without content. */
char *ck_agent_user_text(const json_t *user_message);

#endif
