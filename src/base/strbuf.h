/*
 * strbuf.h - a growable, always NUL-terminated byte string for building
 * text (documentation pages, chunked documents, SSE lines and frames).
 *
 * An allocation failure is sticky: it sets `failed`, later additions are
 * ignored, and the builder checks `failed` once at the end instead of after
 * every call.  A zeroed ck_strbuf_t ({0}) is an empty buffer.  The buffer
 * owns `p`: free it with free() or hand it on with ck_strbuf_take().
 */
#ifndef CK_BASE_STRBUF_H
#define CK_BASE_STRBUF_H

#include <stddef.h>

typedef struct ck_strbuf {
    char *p;    /* NULL until something is added or reserved; then NUL-terminated */
    size_t len; /* bytes in p, without the NUL */
    size_t cap; /* bytes allocated */
    int failed; /* an allocation failed; the content is incomplete */
} ck_strbuf_t;

/* Makes room for `extra` more bytes (and the NUL) so the next additions of
 * that size do not reallocate. */
void ck_strbuf_reserve(ck_strbuf_t *b, size_t extra);

/* Appends `n` bytes of `s` (which may contain NULs). */
void ck_strbuf_add(ck_strbuf_t *b, const char *s, size_t n);

/* Appends the NUL-terminated string `s`. */
void ck_strbuf_adds(ck_strbuf_t *b, const char *s);

/* Appends one byte. */
void ck_strbuf_addc(ck_strbuf_t *b, char c);

/* Empties `b` and clears `failed`, keeping its allocation for reuse. */
void ck_strbuf_clear(ck_strbuf_t *b);

/* Frees the allocation and leaves `b` zeroed (an empty buffer). */
void ck_strbuf_free(ck_strbuf_t *b);

/* Returns the string (caller frees; "" when nothing was added; NULL when
 * `failed` or out of memory) and leaves `b` empty, `failed` cleared. */
char *ck_strbuf_take(ck_strbuf_t *b);

#endif
