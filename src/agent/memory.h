/*
 * memory.h - pure helpers of user memory (CHATKITD_MEMORY): the normalised
 * form of a fact and its SHA-256, by which a user's facts are
 * de-duplicated; the parsing of the extraction call's answer.
 */
#ifndef CK_AGENT_MEMORY_H
#define CK_AGENT_MEMORY_H

#include <stddef.h>

#include <jansson.h>

/* Longest fact, in characters (code points). */
#define CK_MEMORY_FACT_MAX 500
/* Facts one extraction may add. */
#define CK_MEMORY_EXTRACT_MAX 3

/* `text` case-folded (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic),
 * every run of white space (ASCII and U+00A0) collapsed into one space,
 * leading and trailing white space removed.  Returns a malloc'd string. */
char *ck_agent_memory_normalise(const char *text);

/* Lower-case hex SHA-256 of ck_agent_memory_normalise(text) into `hex`
 * (65 bytes).  Returns 0, or -1 on failure. */
int ck_agent_memory_sha256(const char *text, char hex[65]);

/* The facts of an extraction answer: a JSON array of strings, possibly
 * inside a Markdown code fence or prose; at most CK_MEMORY_EXTRACT_MAX
 * non-empty strings of at most CK_MEMORY_FACT_MAX characters, trimmed.
 * Returns a new array (empty when the answer has none). */
json_t *ck_agent_memory_parse_facts(const char *answer);

/* Number of code points of the UTF-8 string `s`. */
size_t ck_agent_utf8_chars(const char *s);

#endif
