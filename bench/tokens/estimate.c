/*
 * estimate.c - prints ck_tokens_text() of each NUL-separated record read
 * from standard input, one number per line (bench/tokens/compare.mjs feeds
 * it the same samples it counts with the reference tokenizer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tokens.h"

int main(void)
{
    size_t cap = 1 << 20, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (buf == NULL)
        return 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || buf[i] == '\0') {
            if (i > start || i < len)
                printf("%zu\n", ck_tokens_text(buf + start, i - start));
            start = i + 1;
        }
    free(buf);
    return 0;
}
