/*
 * file.h - reading the rest of an open file into memory, with a size cap:
 * the one reader behind the JWT public key, the JWKS file, the documentation
 * pages and `chatkitd ingest`.
 *
 * Blocking: call it at start-up, from the CLI or from a thread of its own,
 * never on an event loop.  The caller opens and closes the FILE, so it keeps
 * its own message for a file that cannot be opened.
 */
#ifndef CK_BASE_FILE_H
#define CK_BASE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Reads `f` from its position to end of file (a regular file, a pipe or a
 * device alike) and returns the bytes in a malloc'd buffer with a NUL after
 * the last one (the content may hold NULs of its own); the caller frees it
 * with free().  `*len` (when `len` is not NULL) gets the byte count without
 * the NUL; an empty file gives "" and 0.  On failure returns NULL, sets
 * errno to EFBIG (more than `max` bytes), ENOMEM, or the read's error (EIO
 * when stdio gave none), and leaves `*len` alone.  `max` must be below
 * SIZE_MAX / 2.  Does not close `f`. */
char *ck_file_read_all(FILE *f, size_t max, size_t *len);

#endif
