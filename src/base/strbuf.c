/*
 * strbuf.c - the growable string of strbuf.h: capacity doubles from 256
 * bytes, so n additions cost O(total length) copies.
 */
#include "base/strbuf.h"

#include <stdlib.h>
#include <string.h>

#define CK_STRBUF_FIRST_CAP 256

void ck_strbuf_reserve(ck_strbuf_t *b, size_t extra)
{
    if (b->failed || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : CK_STRBUF_FIRST_CAP;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
    b->p[b->len] = '\0';
}

void ck_strbuf_add(ck_strbuf_t *b, const char *s, size_t n)
{
    ck_strbuf_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ck_strbuf_adds(ck_strbuf_t *b, const char *s) { ck_strbuf_add(b, s, strlen(s)); }

void ck_strbuf_addc(ck_strbuf_t *b, char c) { ck_strbuf_add(b, &c, 1); }

void ck_strbuf_clear(ck_strbuf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void ck_strbuf_free(ck_strbuf_t *b)
{
    free(b->p);
    *b = (ck_strbuf_t){0};
}

char *ck_strbuf_take(ck_strbuf_t *b)
{
    char *p = b->failed ? NULL : b->p != NULL ? b->p : strdup("");
    if (b->failed)
        free(b->p);
    *b = (ck_strbuf_t){0};
    return p;
}
