/*
 * file.c - ck_file_read_all() of file.h: one allocation sized from fstat()
 * for a regular file (grown by doubling otherwise, or when the file grew),
 * never more than max + 1 bytes read.
 */
#include "base/file.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#define CK_FILE_FIRST_CAP 4096

/* How many bytes to ask for first: the size of a regular file plus one
 * (so one read also meets end of file), else a page; at most max + 1. */
static size_t first_cap(FILE *f, size_t max)
{
    struct stat st;
    size_t cap = CK_FILE_FIRST_CAP;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 && (unsigned long long)st.st_size <= max)
        cap = (size_t)st.st_size + 1;
    return cap < max + 1 ? cap : max + 1;
}

static char *fail(char *buf, int error)
{
    free(buf);
    errno = error;
    return NULL;
}

char *ck_file_read_all(FILE *f, size_t max, size_t *len)
{
    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used == cap) {
            if (cap > max)
                return fail(buf, EFBIG);
            size_t next = cap == 0 ? first_cap(f, max) : cap * 2;
            next = next < max + 1 ? next : max + 1;
            char *grown = realloc(buf, next + 1);
            if (grown == NULL)
                return fail(buf, ENOMEM);
            buf = grown;
            cap = next;
        }
        errno = 0;
        used += fread(buf + used, 1, cap - used, f);
        if (used < cap) { /* fread stops short only at end of file or on an error */
            if (ferror(f))
                return fail(buf, errno != 0 ? errno : EIO);
            break;
        }
    }
    buf[used] = '\0';
    if (len != NULL)
        *len = used;
    return buf;
}
