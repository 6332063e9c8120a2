/*
 * tokens.h - a pure-C estimate of how many BPE tokens (OpenAI o200k_base /
 * cl100k_base) a text or a Chat Completions request takes, for the context
 * budget (CHATKITD_CONTEXT_TOKENS).
 *
 * The text is cut into the pieces the tokenizers' pre-tokenizer makes
 * (words with their leading space or punctuation, split at lower->upper
 * case changes; runs of at most 3 digits; punctuation runs; whitespace
 * runs) and each piece is costed from its length and script: short ASCII
 * words are one token, longer ones about one per 4-5 letters; CJK about one
 * per character; other scripts (Cyrillic, Greek, Arabic, ...) about one per
 * 2-3 letters; emoji and other symbols 2.  The weights were fitted against
 * the real tokenizer (bench/tokens, `make bench-tokens`, which also reports
 * the error per kind of text); the estimate leans high rather than low.
 *
 * Pure and thread-safe: no state, no I/O.
 */
#ifndef CK_AGENT_TOKENS_H
#define CK_AGENT_TOKENS_H

#include <stddef.h>

#include <jansson.h>

/* Tokens of an image part (a high-detail image tile budget). */
#define CK_TOKENS_IMAGE 765
/* Framing tokens of every message of a request, and of the request itself. */
#define CK_TOKENS_PER_MESSAGE 4
#define CK_TOKENS_PER_REQUEST 3

/* Estimated tokens of `len` bytes of UTF-8 text (invalid bytes count as
 * symbols).  0 for an empty text. */
size_t ck_tokens_text(const char *text, size_t len);

/* ck_tokens_text() of a NUL-terminated string (0 for NULL). */
size_t ck_tokens_str(const char *text);

/* Estimated tokens of one Chat Completions message: framing, role, name,
 * content (a string, or parts: text, image_url = CK_TOKENS_IMAGE, file =
 * its data as text), tool_calls (names and arguments), tool_call_id. */
size_t ck_tokens_message(const json_t *message);

/* Sum over a `messages` array plus CK_TOKENS_PER_REQUEST. */
size_t ck_tokens_messages(const json_t *messages);

/* Estimated tokens of a `tools` array (the serialized JSON of each tool). */
size_t ck_tokens_tools(const json_t *tools);

/* The longest prefix of `text` (`len` bytes, UTF-8) whose estimate is at
 * most `max_tokens`, cut on a character boundary.  Returns its length. */
size_t ck_tokens_prefix(const char *text, size_t len, size_t max_tokens);

#endif
