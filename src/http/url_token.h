/*
 * url_token.h - signed URL tokens for attachment uploads and previews.
 *
 * Two-phase uploads and image previews are fetched by the browser without
 * the API's auth headers, so their URLs carry a token that proves who may
 * use them:  base64url(user_id) "." expiry "." base64url(HMAC-SHA256), the
 * MAC covering the purpose, the attachment id, the user id and the expiry
 * (unix seconds; 0 = never expires).  Upload tokens are short-lived; preview
 * tokens are bound to user + attachment and do not expire (they stop working
 * when the signing key changes).
 *
 * Pure functions (OpenSSL HMAC only), callable from any thread.
 */
#ifndef CK_HTTP_URL_TOKEN_H
#define CK_HTTP_URL_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "http/gate.h"

#define CK_HTTP_TOKEN_MAX 512 /* bytes including the terminating NUL */

typedef enum ck_http_token_purpose { CK_TOKEN_UPLOAD, CK_TOKEN_PREVIEW } ck_http_token_purpose_t;

typedef struct ck_http_token_key {
    const unsigned char *key;
    size_t len;
} ck_http_token_key_t;

/* Writes a token for (purpose, attachment_id, user_id, expires) into `out`
 * (NUL-terminated, URL-safe).  Returns 0, or -1 if the user id is longer
 * than CK_USER_ID_MAX-1 bytes or HMAC failed. */
int ck_http_token_sign(ck_http_token_key_t key, ck_http_token_purpose_t purpose, const char *attachment_id,
                       const char *user_id, int64_t expires, char out[CK_HTTP_TOKEN_MAX]);

/* Checks `token` (`len` bytes) for (purpose, attachment_id) at time `now`
 * (unix seconds).  Returns 1 with the signed user id copied to `user_id`
 * (NUL-terminated), or 0 when the token is malformed, forged, for another
 * purpose or attachment, or expired.  Comparison is constant-time. */
int ck_http_token_verify(ck_http_token_key_t key, ck_http_token_purpose_t purpose, const char *attachment_id,
                         const char *token, size_t len, int64_t now, char user_id[CK_USER_ID_MAX]);

#endif
