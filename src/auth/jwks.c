/*
 * jwks.c - JWKS parsing into immutable, reference-counted key sets, and
 * the holder that swaps them (see jwks.h).
 *
 * A JWK becomes an OpenSSL EVP_PKEY through OSSL_PARAM_BLD and
 * EVP_PKEY_fromdata() (RSA: n, e; EC: the group name and the uncompressed
 * point 04||x||y), is checked with EVP_PKEY_public_check(), and is stored as
 * SubjectPublicKeyInfo PEM, the key format libjwt 1.10 verifies with.
 */
#include "auth/jwks.h"

#include "base/base64.h"
#include "base/log.h"
#include "base/setting_list.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

/* Largest decoded JWK member we accept: an 8192-bit modulus. */
#define MEMBER_MAX 1024
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

struct ck_auth_jwks_set {
    atomic_uint refs;
    size_t count;
    ck_auth_jwk_t keys[CK_AUTH_JWKS_MAX_KEYS]; /* kid and pem strings owned */
};

struct ck_auth_jwks {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    ck_auth_jwks_set_t *current;
    int early_pending;
    int early_granted_once;
    time_t early_last;
    int stopping;
};

/* --- one JWK -> PEM --------------------------------------------------------- */

/* The base64url member `name` of `jwk` decoded into `out` (MEMBER_MAX
 * bytes).  Returns the byte count (> 0) or -1 when missing or malformed. */
static long member_bytes(const json_t *jwk, const char *name, unsigned char *out)
{
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return -1;
    long n = ck_base64url_decode(json_string_value(v), json_string_length(v), out, MEMBER_MAX);
    return n > 0 ? n : -1;
}

/* PEM text of the public key `pkey` (malloc'd, NUL-terminated, caller frees)
 * with its length in *len, or NULL. */
static unsigned char *pem_of(EVP_PKEY *pkey, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    unsigned char *out = NULL;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
            *len = (size_t)n;
        }
    }
    BIO_free(bio);
    return out;
}

/* Builds a public EVP_PKEY of `type` ("RSA" or "EC") from `params` and
 * checks it.  Returns the key (caller frees) or NULL. */
static EVP_PKEY *pkey_from(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *pkey = NULL;
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey != NULL) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = check != NULL && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!ok) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    return pkey;
}

/* kty RSA -> EVP_PKEY (caller frees), or NULL with `why` set. */
static EVP_PKEY *rsa_key(const json_t *jwk, const char **why)
{
    unsigned char n[MEMBER_MAX], e[MEMBER_MAX];
    long nlen = member_bytes(jwk, "n", n), elen = member_bytes(jwk, "e", e);
    if (nlen < 0 || elen < 0 || elen > 8) {
        *why = "missing or malformed n/e";
        return NULL;
    }
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn_n != NULL && bn_e != NULL && bld != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
        pkey = pkey_from("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (pkey == NULL) {
        *why = "not a valid RSA public key";
        return NULL;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        *why = "RSA modulus outside 2048..8192 bits";
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* The field size in bytes of JWK curve `crv`, or 0 when unsupported. */
static size_t curve_bytes(const char *crv)
{
    if (strcmp(crv, "P-256") == 0)
        return 32;
    if (strcmp(crv, "P-384") == 0)
        return 48;
    if (strcmp(crv, "P-521") == 0)
        return 66;
    return 0;
}

/* kty EC -> EVP_PKEY (caller frees), or NULL with `why` set. */
static EVP_PKEY *ec_key(const json_t *jwk, const char **why)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t field = crv ? curve_bytes(crv) : 0;
    if (field == 0) {
        *why = "crv is not P-256, P-384 or P-521";
        return NULL;
    }
    unsigned char x[MEMBER_MAX], y[MEMBER_MAX], point[1 + 2 * 66];
    long xlen = member_bytes(jwk, "x", x), ylen = member_bytes(jwk, "y", y);
    if (xlen != (long)field || ylen != (long)field) {
        *why = "x/y missing or not the curve's size";
        return NULL;
    }
    point[0] = 0x04;
    memcpy(point + 1, x, field);
    memcpy(point + 1 + field, y, field);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld != NULL && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * field) == 1)
        pkey = pkey_from("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (pkey == NULL)
        *why = "not a valid EC public key (point not on the curve?)";
    return pkey;
}

/* The algorithms a key of this type may verify. */
static unsigned type_mask(int rsa, int bits)
{
    if (rsa)
        return 1u << JWT_ALG_RS256 | 1u << JWT_ALG_RS384 | 1u << JWT_ALG_RS512;
    if (bits == 256)
        return 1u << JWT_ALG_ES256;
    if (bits == 384)
        return 1u << JWT_ALG_ES384;
    return bits == 521 ? 1u << JWT_ALG_ES512 : 0;
}

/* Checks `use`, `key_ops` and `alg` of `jwk`: returns the key's algorithm
 * mask (type mask narrowed to `alg`), or 0 with `why` set. */
static unsigned usage_mask(const json_t *jwk, unsigned type, const char **why)
{
    const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
    const json_t *alg = json_object_get(jwk, "alg");
    if (use != NULL && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0)) {
        *why = "use is not \"sig\"";
        return 0;
    }
    if (ops != NULL) {
        int verify = 0;
        size_t i;
        const json_t *op;
        json_array_foreach(ops, i, op) verify |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
        if (!verify) {
            *why = "key_ops does not list \"verify\"";
            return 0;
        }
    }
    if (alg == NULL)
        return type;
    jwt_alg_t a = json_is_string(alg) ? jwt_str_alg(json_string_value(alg)) : JWT_ALG_INVAL;
    if ((int)a < 0 || (int)a >= 32 || (type & 1u << a) == 0) {
        *why = "alg does not fit the key type";
        return 0;
    }
    return 1u << a;
}

/* Fills `key` from `jwk`.  Returns 0, or -1 with `why` set (nothing owned
 * left in `key`). */
static int load_jwk(const json_t *jwk, ck_auth_jwk_t *key, const char **why)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *kid = json_object_get(jwk, "kid");
    if (kid != NULL && !json_is_string(kid)) {
        *why = "kid is not a string";
        return -1;
    }
    EVP_PKEY *pkey = NULL;
    if (kty != NULL && strcmp(kty, "RSA") == 0)
        pkey = rsa_key(jwk, why);
    else if (kty != NULL && strcmp(kty, "EC") == 0)
        pkey = ec_key(jwk, why);
    else
        *why = kty != NULL && strcmp(kty, "oct") == 0 ? "symmetric (oct) keys are not accepted from a JWKS"
                                                      : "kty is not RSA or EC";
    if (pkey == NULL)
        return -1;
    key->rsa = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
    key->bits = EVP_PKEY_get_bits(pkey);
    key->alg_mask = usage_mask(jwk, type_mask(key->rsa, key->bits), why);
    unsigned char *pem = key->alg_mask ? pem_of(pkey, &key->pem_len) : NULL;
    EVP_PKEY_free(pkey);
    char *kid_copy = kid != NULL && pem != NULL ? strdup(json_string_value(kid)) : NULL;
    if (pem == NULL || (kid != NULL && kid_copy == NULL)) {
        if (key->alg_mask)
            *why = "out of memory";
        free(pem);
        return -1;
    }
    key->pem = pem;
    key->kid = kid_copy;
    return 0;
}

/* --- sets ---------------------------------------------------------------------- */

static void set_free(ck_auth_jwks_set_t *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free((char *)set->keys[i].kid);
        free((unsigned char *)set->keys[i].pem);
    }
    free(set);
}

/* Adds the JWK at index `i` of the document to `set`, or warns why not. */
static void add_key(ck_auth_jwks_set_t *set, size_t i, const json_t *jwk)
{
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *why = "not a JSON object";
    ck_auth_jwk_t key = {0};
    if (set->count == CK_AUTH_JWKS_MAX_KEYS)
        why = "too many keys";
    else if (kid != NULL && ck_auth_jwks_find(set, kid) != NULL)
        why = "duplicate kid";
    else if (json_is_object(jwk) && load_jwk(jwk, &key, &why) == 0) {
        set->keys[set->count++] = key;
        return;
    }
    ck_warn("JWKS: key %zu (kid \"%.64s\") skipped: %s", i, kid ? kid : "", why);
}

ck_auth_jwks_set_t *ck_auth_jwks_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        ck_setting_error(err, errlen, "not a JWK set (a JSON object with a \"keys\" array)");
        json_decref(doc);
        return NULL;
    }
    ck_auth_jwks_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        ck_setting_error(err, errlen, "out of memory");
        json_decref(doc);
        return NULL;
    }
    atomic_init(&set->refs, 1);
    size_t i;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk) add_key(set, i, jwk);
    json_decref(doc);
    if (set->count == 0) {
        ck_setting_error(err, errlen, "the JWK set holds no usable RSA or EC signature key");
        set_free(set);
        return NULL;
    }
    return set;
}

void ck_auth_jwks_set_release(ck_auth_jwks_set_t *set)
{
    if (set != NULL && atomic_fetch_sub(&set->refs, 1) == 1)
        set_free(set);
}

size_t ck_auth_jwks_count(const ck_auth_jwks_set_t *set) { return set->count; }

const ck_auth_jwk_t *ck_auth_jwks_key(const ck_auth_jwks_set_t *set, size_t i) { return &set->keys[i]; }

const ck_auth_jwk_t *ck_auth_jwks_find(const ck_auth_jwks_set_t *set, const char *kid)
{
    if (kid == NULL)
        return set->count == 1 ? &set->keys[0] : NULL;
    for (size_t i = 0; i < set->count; i++) {
        if (set->keys[i].kid != NULL && strcmp(set->keys[i].kid, kid) == 0)
            return &set->keys[i];
    }
    return NULL;
}

/* --- the holder ------------------------------------------------------------------ */

ck_auth_jwks_t *ck_auth_jwks_new(ck_auth_jwks_set_t *initial)
{
    ck_auth_jwks_t *jwks = calloc(1, sizeof(*jwks));
    if (jwks == NULL) {
        ck_auth_jwks_set_release(initial);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&jwks->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&jwks->lock, NULL);
    jwks->current = initial;
    return jwks;
}

void ck_auth_jwks_free(ck_auth_jwks_t *jwks)
{
    if (jwks == NULL)
        return;
    ck_auth_jwks_set_release(jwks->current);
    pthread_cond_destroy(&jwks->wake);
    pthread_mutex_destroy(&jwks->lock);
    free(jwks);
}

ck_auth_jwks_set_t *ck_auth_jwks_acquire(ck_auth_jwks_t *jwks)
{
    pthread_mutex_lock(&jwks->lock);
    ck_auth_jwks_set_t *set = jwks->current;
    atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&jwks->lock);
    return set;
}

void ck_auth_jwks_replace(ck_auth_jwks_t *jwks, ck_auth_jwks_set_t *next)
{
    pthread_mutex_lock(&jwks->lock);
    ck_auth_jwks_set_t *old = jwks->current;
    jwks->current = next;
    pthread_mutex_unlock(&jwks->lock);
    ck_auth_jwks_set_release(old);
}

int ck_auth_jwks_request_refresh(ck_auth_jwks_t *jwks, time_t now)
{
    pthread_mutex_lock(&jwks->lock);
    int granted =
        !jwks->early_granted_once || now < jwks->early_last || now - jwks->early_last >= CK_AUTH_JWKS_EARLY_REFRESH_S;
    if (granted) {
        jwks->early_granted_once = 1;
        jwks->early_last = now;
        jwks->early_pending = 1;
        pthread_cond_signal(&jwks->wake);
    }
    pthread_mutex_unlock(&jwks->lock);
    return granted;
}

ck_auth_jwks_wake_t ck_auth_jwks_wait(ck_auth_jwks_t *jwks, long period_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += period_ms / 1000;
    deadline.tv_nsec += (period_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&jwks->lock);
    int timed_out = 0;
    while (!jwks->stopping && !jwks->early_pending && !timed_out)
        timed_out = pthread_cond_timedwait(&jwks->wake, &jwks->lock, &deadline) != 0;
    ck_auth_jwks_wake_t why = jwks->stopping        ? CK_AUTH_JWKS_WAKE_STOP
                              : jwks->early_pending ? CK_AUTH_JWKS_WAKE_EARLY
                                                    : CK_AUTH_JWKS_WAKE_PERIOD;
    jwks->early_pending = 0;
    pthread_mutex_unlock(&jwks->lock);
    return why;
}

void ck_auth_jwks_stop(ck_auth_jwks_t *jwks)
{
    pthread_mutex_lock(&jwks->lock);
    jwks->stopping = 1;
    pthread_cond_broadcast(&jwks->wake);
    pthread_mutex_unlock(&jwks->lock);
}

int ck_auth_jwks_stopping(ck_auth_jwks_t *jwks)
{
    pthread_mutex_lock(&jwks->lock);
    int stopping = jwks->stopping;
    pthread_mutex_unlock(&jwks->lock);
    return stopping;
}
