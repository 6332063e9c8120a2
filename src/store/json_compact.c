/*
 * json_compact.c - single-pass removal of insignificant JSON whitespace
 * (see json_compact.h).
 *
 * Outside strings every byte is looked at; a string is copied as one block
 * found with memchr() for its closing quote (a quote preceded by an odd run of
 * backslashes is escaped and the search goes on).  Page replies are mostly
 * string contents (message texts), so this runs at memchr/memmove speed
 * instead of one branchy step per byte: it was the server's top user-space
 * hotspot on the items.list benchmark.
 */
#include "store/json_compact.h"

#include <string.h>

/* Returns the index just past the string that opens at src[start] ('"'),
 * or `len` when it is not closed. */
static size_t string_end(const char *src, size_t start, size_t len)
{
    size_t from = start + 1;
    for (;;) {
        const char *quote = memchr(src + from, '"', len - from);
        if (quote == NULL)
            return len;
        size_t at = (size_t)(quote - src), backslashes = 0;
        while (at - backslashes > start + 1 && src[at - 1 - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2 == 0)
            return at + 1;
        from = at + 1;
    }
}

size_t ck_store_json_compact(char *dst, const char *src, size_t len)
{
    size_t out = 0, i = 0;
    while (i < len) {
        char c = src[i];
        if (c == '"') {
            size_t end = string_end(src, i, len);
            memmove(dst + out, src + i, end - i);
            out += end - i;
            i = end;
        } else {
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                dst[out++] = c;
            i++;
        }
    }
    return out;
}
