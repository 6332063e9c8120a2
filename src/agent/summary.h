/*
 * summary.h - pure helpers of the rolling thread summary (summary.c).
 */
#ifndef CK_AGENT_SUMMARY_H
#define CK_AGENT_SUMMARY_H

#include <stddef.h>

/* Longest summary kept, in words and in bytes. */
#define CK_SUMMARY_WORDS 150
#define CK_SUMMARY_BYTES 2000

/* Cleans a model-written summary in place: line breaks and tabs become
 * spaces, at most CK_SUMMARY_WORDS whitespace-separated words and
 * CK_SUMMARY_BYTES bytes (cut on a character), trimmed.  Returns the
 * number of words kept. */
size_t ck_agent_summary_clamp(char *text);

/* Of a history of `history_len` items (ascending) of which the newest
 * from index `first_sent` on were sent this turn, the index before which
 * items are out of the window now or at the next turn (whose window of
 * `limit` items holds this turn's message and answer too). */
size_t ck_agent_summary_cut(size_t history_len, size_t first_sent, size_t limit);

#endif
