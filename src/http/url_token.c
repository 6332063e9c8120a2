/*
 * url_token.c - HMAC-SHA256 signed URL tokens (see url_token.h).
 *
 * The MAC input is length-prefixed so that no two (purpose, id, user,
 * expiry) tuples serialize to the same bytes:
 *   "chatkitd-url-token/1" "\n" purpose "\n" len(id) ":" id len(user) ":" user expiry
 */
#include "http/url_token.h"

#include "base/base64.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CK_TOKEN_MAC_LEN 32
#define CK_TOKEN_MAC_B64 43 /* unpadded base64url of 32 bytes */

static int token_mac(ck_http_token_key_t key, ck_http_token_purpose_t purpose, const char *id, const char *user,
                     int64_t expires, unsigned char mac[CK_TOKEN_MAC_LEN])
{
    char msg[CK_USER_ID_MAX + 256];
    int n = snprintf(msg, sizeof msg, "chatkitd-url-token/1\n%s\n%zu:%s%zu:%s%" PRId64,
                     purpose == CK_TOKEN_UPLOAD ? "upload" : "preview", strlen(id), id, strlen(user), user, expires);
    unsigned int mac_len = 0;
    if (n < 0 || (size_t)n >= sizeof msg || key.len > INT32_MAX)
        return -1;
    if (HMAC(EVP_sha256(), key.key, (int)key.len, (const unsigned char *)msg, (size_t)n, mac, &mac_len) == NULL ||
        mac_len != CK_TOKEN_MAC_LEN)
        return -1;
    return 0;
}

int ck_http_token_sign(ck_http_token_key_t key, ck_http_token_purpose_t purpose, const char *attachment_id,
                       const char *user_id, int64_t expires, char out[CK_HTTP_TOKEN_MAX])
{
    unsigned char mac[CK_TOKEN_MAC_LEN];
    size_t ulen = strlen(user_id);
    if (ulen >= CK_USER_ID_MAX || strlen(attachment_id) > 128 ||
        token_mac(key, purpose, attachment_id, user_id, expires, mac) != 0)
        return -1;
    size_t o = ck_base64url_encode((const unsigned char *)user_id, ulen, out);
    o += (size_t)snprintf(out + o, CK_HTTP_TOKEN_MAX - o, ".%" PRId64 ".", expires);
    ck_base64url_encode(mac, sizeof mac, out + o);
    return 0;
}

/* Splits "user.expiry.mac"; returns 0 with the decoded parts, else -1. */
static int token_split(const char *token, size_t len, char user[CK_USER_ID_MAX], int64_t *expires,
                       unsigned char mac[CK_TOKEN_MAC_LEN])
{
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (dot2 == NULL || dot2 == dot1 + 1 || dot2 - dot1 > 19 || end - dot2 - 1 != CK_TOKEN_MAC_B64)
        return -1;
    long ulen = ck_base64url_decode(token, (size_t)(dot1 - token), (unsigned char *)user, CK_USER_ID_MAX - 1);
    if (ulen <= 0 || memchr(user, '\0', (size_t)ulen) != NULL)
        return -1;
    user[ulen] = '\0';
    int64_t v = 0;
    for (const char *p = dot1 + 1; p < dot2; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    *expires = v;
    return ck_base64url_decode(dot2 + 1, CK_TOKEN_MAC_B64, mac, CK_TOKEN_MAC_LEN) == CK_TOKEN_MAC_LEN ? 0 : -1;
}

int ck_http_token_verify(ck_http_token_key_t key, ck_http_token_purpose_t purpose, const char *attachment_id,
                         const char *token, size_t len, int64_t now, char user_id[CK_USER_ID_MAX])
{
    char user[CK_USER_ID_MAX];
    int64_t expires;
    unsigned char got[CK_TOKEN_MAC_LEN], want[CK_TOKEN_MAC_LEN];
    if (token == NULL || len >= CK_HTTP_TOKEN_MAX || token_split(token, len, user, &expires, got) != 0)
        return 0;
    if (token_mac(key, purpose, attachment_id, user, expires, want) != 0 || CRYPTO_memcmp(got, want, sizeof want) != 0)
        return 0;
    if (expires != 0 && expires < now)
        return 0;
    memcpy(user_id, user, strlen(user) + 1);
    return 1;
}
