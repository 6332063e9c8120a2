/*
 * fuzz_jwt.c - libFuzzer target for bearer-token verification
 * (src/auth/jwt.c over libjwt).  Random bytes rarely carry a valid
 * signature, so inputs take two shapes chosen by the first byte:
 *   - even: the rest is the raw token, verified as received;
 *   - odd:  the rest is "<header JSON>\n<claims JSON>", which the harness
 *           encodes and signs with the right HMAC key (HS256), so the claim
 *           checks behind the signature are reached.
 * Raw tokens are also verified against a one-key JWK set (EC P-256), which
 * reaches the protected-header `kid` parsing of jwt.c; no raw token
 * can pass there.  A token may only be accepted with a non-empty,
 * control-free sub.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"

#define SECRET "fuzzing-secret-fuzzing-secret-0123456789"

/* One EC P-256 key (kid "e1") whose private half nobody has. */
#define JWKS                                                                                                           \
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\","                                                     \
    "\"x\":\"CzGAwxn5S92-iZwvCrVfGDiUsOcEfQFFPmKv59EeOI4\",\"y\":\"-hbL6zMFbw4pF6rmURZC7cmRSsszU_jdx3Op5wh7Udw\"}]}"

static ck_auth_jwt_t *g_jwt, *g_jwks_jwt;

static void b64url(char *out, const unsigned char *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = out + strlen(out);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v =
            (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        if (i + 1 < len)
            *o++ = abc[v >> 6 & 63];
        if (i + 2 < len)
            *o++ = abc[v & 63];
    }
    *o = '\0';
}

/* header\nclaims -> signed compact token in `tok` (large enough). */
static size_t sign(char *tok, const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    tok[0] = '\0';
    b64url(tok, data, hlen);
    strcat(tok, ".");
    if (nl)
        b64url(tok, nl + 1, size - hlen - 1);
    size_t signing = strlen(tok);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, signing, mac, &maclen);
    strcat(tok, ".");
    b64url(tok, mac, maclen);
    return strlen(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_jwt == NULL) {
        ck_auth_jwt_settings_t s = {SECRET, NULL, NULL, "https://idp.example", "chatkit", 30};
        char err[256];
        if ((g_jwt = ck_auth_jwt_new(&s, err, sizeof(err))) == NULL)
            abort();
        ck_auth_jwks_set_t *set = ck_auth_jwks_parse(JWKS, strlen(JWKS), err, sizeof(err));
        ck_auth_jwks_t *holder = set ? ck_auth_jwks_new(set) : NULL;
        ck_auth_jwt_settings_t js = {NULL, NULL, NULL, NULL, NULL, 30, holder};
        if (holder == NULL || (g_jwks_jwt = ck_auth_jwt_new(&js, err, sizeof(err))) == NULL)
            abort();
    }
    if (size == 0 || size > 16384)
        return 0;
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_result_t r;
    if (data[0] & 1) {
        char *tok = malloc(size * 2 + 128);
        size_t n = sign(tok, data + 1, size - 1);
        r = ck_auth_jwt_verify(g_jwt, tok, n, 1700000000, user);
        free(tok);
    } else {
        char *tok = malloc(size - 1 + 1);
        memcpy(tok, data + 1, size - 1);
        r = ck_auth_jwt_verify(g_jwt, tok, size - 1, 1700000000, user);
        char other[CK_AUTH_JWT_SUB_MAX];
        if (ck_auth_jwt_verify(g_jwks_jwt, tok, size - 1, 1700000000, other) != CK_AUTH_JWT_INVALID || other[0] != '\0')
            abort();
        free(tok);
    }
    size_t n = strlen(user);
    if (r == CK_AUTH_JWT_OK && (n == 0 || n >= CK_AUTH_JWT_SUB_MAX))
        abort();
    for (size_t i = 0; r == CK_AUTH_JWT_OK && i < n; i++) {
        if ((unsigned char)user[i] < 0x20)
            abort();
    }
    return 0;
}
