/* duration.c - see duration.h. */
#include "base/duration.h"

#include <errno.h>
#include <stdlib.h>

int ck_duration_parse(const char *text, long max_seconds, long *seconds)
{
    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    long unit = 1;
    switch (*end) {
    case '\0':
        break;
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (errno != 0 || n <= 0 || n > max_seconds / unit)
        return -1;
    *seconds = n * unit;
    return 0;
}
