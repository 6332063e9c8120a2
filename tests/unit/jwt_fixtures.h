/*
 * jwt_fixtures.h - shared by the JWT and JWKS unit tests: PEM text of a
 * generated key, and hand-made compact JWS tokens (HMAC-signed with any
 * header, or with an empty signature) for the hostile cases libjwt would
 * refuse to mint.  Header-only; test code only.
 */
#ifndef CK_TESTS_JWT_FIXTURES_H
#define CK_TESTS_JWT_FIXTURES_H

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "base/base64.h"

/* PEM text of `pkey` (private or public), malloc'd. */
static inline char *fixture_pem_of(EVP_PKEY *pkey, int private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (private_key)
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(bio, pkey);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* A compact JWS of `header` and `payload` (JSON texts as given) signed with
 * HMAC `md` over `key` (key_len bytes); an empty signature part when md is
 * NULL.  Returns a static buffer, overwritten by the next call. */
static inline const char *fixture_craft_jws(const char *header, const char *payload, const EVP_MD *md, const char *key,
                                            size_t key_len)
{
    static char tok[16384];
    size_t n = ck_base64url_encode((const unsigned char *)header, strlen(header), tok);
    tok[n++] = '.';
    n += ck_base64url_encode((const unsigned char *)payload, strlen(payload), tok + n);
    size_t signing_len = n;
    tok[n++] = '.';
    tok[n] = '\0';
    if (md != NULL) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        HMAC(md, key, (int)key_len, (const unsigned char *)tok, signing_len, mac, &maclen);
        ck_base64url_encode(mac, maclen, tok + n);
    }
    return tok;
}

#endif
