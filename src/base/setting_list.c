/*
 * setting_list.c - the list cursor and error formatting of setting_list.h.
 */
#include "base/setting_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SEPARATORS ", "

const char *ck_setting_list_next(const char **cursor, size_t *len)
{
    const char *entry = *cursor + strspn(*cursor, SEPARATORS);
    *len = strcspn(entry, SEPARATORS);
    *cursor = entry + *len;
    return *len > 0 ? entry : NULL;
}

void ck_setting_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
