/*
 * fuzz_jwks.c - libFuzzer target for JWK set parsing (src/auth/jwks.c):
 * the input is a JWKS document as a remote identity provider might serve
 * it.  Every key of a parsed set must carry PEM text OpenSSL reads back as
 * a public key, a non-empty algorithm mask of its own type, and kid
 * selection must find each kid it holds.  Warnings are silenced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/log.h"
#include "auth/jwks.h"

static void check_key(const ck_auth_jwks_set_t *set, const ck_auth_jwk_t *k)
{
    if (k->pem == NULL || k->pem_len == 0 || strlen((const char *)k->pem) != k->pem_len || k->alg_mask == 0)
        abort();
    BIO *bio = BIO_new_mem_buf(k->pem, (int)k->pem_len);
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL || (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) != k->rsa)
        abort();
    EVP_PKEY_free(pkey);
    if (k->kid != NULL && ck_auth_jwks_find(set, k->kid) != k)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        setenv("CHATKITD_LOG_LEVEL", "error", 1);
        ck_log_init();
        initialised = 1;
    }
    char err[256];
    ck_auth_jwks_set_t *set = ck_auth_jwks_parse((const char *)data, size, err, sizeof(err));
    if (set == NULL)
        return 0;
    size_t n = ck_auth_jwks_count(set);
    if (n == 0 || n > CK_AUTH_JWKS_MAX_KEYS)
        abort();
    for (size_t i = 0; i < n; i++)
        check_key(set, ck_auth_jwks_key(set, i));
    if ((n == 1) != (ck_auth_jwks_find(set, NULL) != NULL))
        abort();
    ck_auth_jwks_set_release(set);
    return 0;
}
