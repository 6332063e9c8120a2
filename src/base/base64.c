/*
 * base64.c - the codec of base64.h on OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock.
 *
 * Every decoder reduces its input to a run of alphabet characters without
 * padding and hands it to decode_run(), which validates and maps each
 * character into a stack chunk (url alphabet -> standard), pads the last
 * group with '=' and lets OpenSSL decode; the padding bytes OpenSSL counts
 * are subtracted again.  Chunks keep the stack small and make the output
 * exact, so a caller's buffer never needs slack.
 */
#include "base/base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define CHUNK_CHARS 256 /* a multiple of 4 */

/* Whether `c` belongs to the standard (url == 0) or url-safe alphabet. */
static int in_alphabet(unsigned char c, int url)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return url ? (c == '-' || c == '_') : (c == '+' || c == '/');
}

/* Bytes that `chars` unpadded characters decode to (chars % 4 != 1). */
static size_t decoded_len(size_t chars) { return chars / 4 * 3 + (chars % 4 ? chars % 4 - 1 : 0); }

/* Decodes `len` unpadded characters of the chosen alphabet into `out`,
 * which has room for decoded_len(len) bytes.  Returns that count, or -1
 * when a character is outside the alphabet or len % 4 == 1. */
static long decode_run(const char *in, size_t len, int url, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    unsigned char chunk[CHUNK_CHARS], bytes[CHUNK_CHARS / 4 * 3];
    size_t n = 0;
    for (size_t i = 0; i < len; i += CHUNK_CHARS) {
        size_t m = len - i < CHUNK_CHARS ? len - i : CHUNK_CHARS;
        for (size_t k = 0; k < m; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (!in_alphabet(c, url))
                return -1;
            chunk[k] = c == '-' ? '+' : c == '_' ? '/' : c;
        }
        size_t pad = (4 - m % 4) % 4;
        memset(chunk + m, '=', pad);
        int got = EVP_DecodeBlock(bytes, chunk, (int)(m + pad));
        if (got < 0 || (size_t)got < pad)
            return -1;
        memcpy(out + n, bytes, (size_t)got - pad);
        n += (size_t)got - pad;
    }
    return (long)n;
}

unsigned char *ck_base64_decode(const char *in, size_t len, size_t *out_len)
{
    size_t pad = 0;
    while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
        pad++;
    size_t data = len - pad;
    if (data % 4 == 1 || (pad && len % 4 != 0))
        return NULL;
    unsigned char *out = malloc(decoded_len(data) + 1);
    long n = out != NULL ? decode_run(in, data, 0, out) : -1;
    if (n < 0) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)n;
    return out;
}

unsigned char *ck_base64_decode_lenient(const char *in, size_t len, size_t max, size_t *out_len)
{
    size_t want = max > (SIZE_MAX - 2) / 4 * 3 ? SIZE_MAX : (max + 2) / 3 * 4; /* characters enough for max */
    char *run = malloc(len + 1);
    size_t chars = 0;
    for (size_t i = 0; run != NULL && i < len && chars < want; i++) {
        if (in_alphabet((unsigned char)in[i], 0))
            run[chars++] = in[i];
    }
    if (chars % 4 == 1)
        chars--;
    unsigned char *out = run != NULL ? malloc(decoded_len(chars) + 1) : NULL;
    long n = out != NULL ? decode_run(run, chars, 0, out) : -1;
    free(run);
    if (n < 0) {
        free(out);
        return NULL;
    }
    *out_len = (size_t)n < max ? (size_t)n : max;
    return out;
}

size_t ck_base64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += CHUNK_CHARS / 4 * 3) {
        size_t m = len - i < CHUNK_CHARS / 4 * 3 ? len - i : CHUNK_CHARS / 4 * 3;
        int wrote = EVP_EncodeBlock((unsigned char *)out + o, in + i, (int)m);
        for (int k = 0; k < wrote; k++) {
            char c = out[o + (size_t)k];
            out[o + (size_t)k] = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        o += (size_t)wrote;
    }
    while (o > 0 && out[o - 1] == '=')
        o--;
    out[o] = '\0';
    return o;
}

long ck_base64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 == 1 || decoded_len(len) > cap)
        return -1;
    return decode_run(in, len, 1, out);
}
