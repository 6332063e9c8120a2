/*
 * multipart.h - a minimal, allocation-free multipart/form-data reader
 * (RFC 7578) for attachment uploads: it finds the part named `file`.
 *
 * Pure function over a fully buffered body (h2o buffers request bodies
 * before a handler runs); no I/O, no allocation, safe on any input.  The
 * result points into the caller's body buffer.
 */
#ifndef CK_HTTP_MULTIPART_H
#define CK_HTTP_MULTIPART_H

#include <stddef.h>

typedef struct ck_http_multipart_part {
    const char *data; /* the part's content (points into the body) */
    size_t data_len;
    const char *filename; /* the Content-Disposition filename parameter, or NULL */
    size_t filename_len;
    const char *content_type; /* the part's Content-Type header value, or NULL */
    size_t content_type_len;
} ck_http_multipart_part_t;

enum {
    CK_MULTIPART_OK = 0,
    CK_MULTIPART_NOT_MULTIPART = -1, /* content type is not multipart/form-data or has no boundary */
    CK_MULTIPART_MALFORMED = -2,     /* the body does not follow the multipart syntax */
    CK_MULTIPART_NO_FILE = -3        /* well-formed, but no part named `name` */
};

/* Finds the first part whose Content-Disposition is `form-data` with
 * name=`name` (quoted or not) in `body` (`len` bytes, need not be
 * NUL-terminated) framed by the boundary of `content_type` (the request's
 * Content-Type value, `ct_len` bytes).  Returns CK_MULTIPART_OK with `out`
 * filled, or one of the negative codes above (then `out` is zeroed). */
int ck_http_multipart_find(const char *content_type, size_t ct_len, const char *body, size_t len, const char *name,
                           ck_http_multipart_part_t *out);

/* ck_http_multipart_find() for the part named "file". */
int ck_http_multipart_find_file(const char *content_type, size_t ct_len, const char *body, size_t len,
                                ck_http_multipart_part_t *out);

#endif
