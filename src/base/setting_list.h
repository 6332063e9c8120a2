/*
 * setting_list.h - reading list-valued settings (CHATKITD_JWT_ALGORITHMS,
 * CHATKITD_CORS_ORIGINS, CHATKITD_CORS_HEADERS) and reporting a bad value
 * into the caller's error buffer.  Shared by src/auth/jwt.c and
 * src/auth/cors.c so both lists follow one syntax: entries separated by
 * commas and/or spaces, empty entries ignored.  No allocation, no I/O.
 */
#ifndef CK_BASE_SETTING_LIST_H
#define CK_BASE_SETTING_LIST_H

#include <stddef.h>

/* Returns the next entry of the list at *cursor (NUL-terminated) and
 * advances *cursor past it; *len gets the entry's length.  The entry points
 * into the list and is not NUL-terminated.  Returns NULL when no entry is
 * left.  Usage: for (const char *c = list, *e; (e = ck_setting_list_next(&c, &n));) */
const char *ck_setting_list_next(const char **cursor, size_t *len);

/* printf-formats a message into `err` (`errlen` bytes, truncated and
 * NUL-terminated); does nothing when err is NULL or errlen is 0. */
void ck_setting_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
