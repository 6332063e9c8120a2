/*
 * json_compact.c - single-pass removal of insignificant JSON whitespace
 * (see json_compact.h).  Tracks only "inside a string" and "after a
 * backslash", which is all JSON needs to tell significant from insignificant
 * whitespace.
 */
#include "store/json_compact.h"

size_t ck_store_json_compact(char *dst, const char *src, size_t len)
{
    size_t out = 0;
    int in_string = 0, escaped = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (c == '\\')
                escaped = 1;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        dst[out++] = c;
    }
    return out;
}
