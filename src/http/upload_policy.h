/*
 * upload_policy.h - which attachment uploads are accepted: the MIME
 * allow-list (CHATKITD_UPLOAD_MIME_TYPES) and the attachment type a MIME
 * type maps to.  Pure functions, no state.
 */
#ifndef CK_HTTP_UPLOAD_POLICY_H
#define CK_HTTP_UPLOAD_POLICY_H

#include <stddef.h>

#define CK_HTTP_DEFAULT_MIME_TYPES "image/*,application/pdf,text/plain,text/markdown,text/csv"

/* 1 when the media type of `mime` (`len` bytes; parameters after ';' and
 * surrounding blanks ignored, case-insensitive) matches an entry of the
 * comma-separated `allow_list`: a lone star or star-slash-star (any type),
 * "type/" followed by a star (any subtype), or an exact "type/subtype".
 * Returns 0 otherwise, also for a malformed `mime`. */
int ck_http_mime_allowed(const char *allow_list, const char *mime, size_t len);

/* "image" when the media type of `mime` is image/..., else "file". */
const char *ck_http_attachment_type(const char *mime, size_t len);

#endif
