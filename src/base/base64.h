/*
 * base64.h - base64 (RFC 4648, section 4) and base64url (section 5) for the whole server.
 *
 * One codec, three callers: input.transcribe decodes strict standard base64
 * (src/http/chatkit.c), the agent decodes stored attachment bytes leniently
 * (src/agent/prompt.c), and signed URL tokens use unpadded base64url
 * (src/http/url_token.c).  The arithmetic is OpenSSL's EVP_EncodeBlock /
 * EVP_DecodeBlock; this module adds what they lack: strictness (EVP accepts
 * surrounding whitespace and needs padded input), the url alphabet, and
 * unpadded input and output.  No allocation except where a function says so.
 */
#ifndef CK_BASE_BASE64_H
#define CK_BASE_BASE64_H

#include <stddef.h>

/* Decodes strict standard base64: `len` characters of A-Z a-z 0-9 + /,
 * padding optional but, when present, making the length a multiple of 4,
 * nothing after it, no whitespace.  Returns a malloc'd buffer (caller frees;
 * non-NULL even for empty input) with its length in *out_len, or NULL when
 * `in` is not base64 or on OOM. */
unsigned char *ck_base64_decode(const char *in, size_t len, size_t *out_len);

/* Decodes standard base64 leniently: every character outside the alphabet
 * (line breaks, spaces, '=') is skipped, a final lone character is dropped,
 * and decoding stops after `max` bytes.  Returns a malloc'd buffer (caller
 * frees) with its length in *out_len, or NULL on OOM. */
unsigned char *ck_base64_decode_lenient(const char *in, size_t len, size_t max, size_t *out_len);

/* Room ck_base64url_encode() needs for `len` bytes, the NUL included. */
#define CK_BASE64URL_ENCODED_MAX(len) (((len) + 2) / 3 * 4 + 1)

/* Writes unpadded base64url of the `len` bytes at `in` to `out` (room for
 * CK_BASE64URL_ENCODED_MAX(len) bytes), NUL-terminated.  Returns the number
 * of characters written, without the NUL. */
size_t ck_base64url_encode(const unsigned char *in, size_t len, char *out);

/* Decodes `len` characters of unpadded base64url into `out`.  Returns the
 * byte count, or -1 when a character is outside the alphabet, len % 4 == 1,
 * or the result would exceed `cap` bytes (nothing beyond out[cap-1] is
 * written). */
long ck_base64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
