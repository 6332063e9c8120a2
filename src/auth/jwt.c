/*
 * jwt.c - JWT bearer-token verification on top of libjwt 1.10.
 *
 * libjwt checks the signature and nothing else, so every rule of RFC 8725
 * that matters here is enforced by hand (see jwt.h for the list).  The
 * order is: cheap syntactic checks on the raw token, (with a JWK set: the
 * protected header's `kid` selects the key), jwt_decode() with the
 * configured or selected key, the algorithm pin, the header, then the claims re-parsed
 * with jansson so that their JSON types are checked (libjwt's integer
 * getters silently turn "123", 1.5 or a missing claim into 0 or -1).
 */
#include "auth/jwt.h"

#include "base/base64.h"
#include "base/setting_list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

typedef enum ck_jwt_family {
    CK_JWT_FAMILY_HS,
    CK_JWT_FAMILY_RS,
    CK_JWT_FAMILY_ES,
    CK_JWT_FAMILY_JWKS /* RS or ES, per key of a JWK set */
} ck_jwt_family_t;

/* Longest `kid` looked up in a JWK set. */
#define KID_MAX 256

struct ck_auth_jwt {
    unsigned char *key;   /* secret bytes or PEM text (NUL-terminated), owned; NULL with a JWK set */
    size_t key_len;       /* without the terminator */
    ck_auth_jwks_t *jwks; /* borrowed JWK set holder, or NULL */
    ck_jwt_family_t family;
    int key_bits;      /* RSA modulus / EC field size; 0 for a secret or a JWK set */
    unsigned alg_mask; /* bit (1u << jwt_alg_t) per accepted algorithm */
    char *issuer;      /* owned, NULL when not checked */
    char *audience;    /* owned, NULL when not checked */
    long leeway_s;
};

static const jwt_alg_t k_all_algs[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512, JWT_ALG_RS256, JWT_ALG_RS384,
                                       JWT_ALG_RS512, JWT_ALG_ES256, JWT_ALG_ES384, JWT_ALG_ES512};

static int nonempty(const char *s) { return s != NULL && s[0] != '\0'; }

/* The algorithms of `family` that fit a key of `bits` (EC: one per curve). */
static unsigned family_mask(ck_jwt_family_t family, int bits)
{
    switch (family) {
    case CK_JWT_FAMILY_HS:
        return 1u << JWT_ALG_HS256 | 1u << JWT_ALG_HS384 | 1u << JWT_ALG_HS512;
    case CK_JWT_FAMILY_RS:
        return 1u << JWT_ALG_RS256 | 1u << JWT_ALG_RS384 | 1u << JWT_ALG_RS512;
    case CK_JWT_FAMILY_ES:
        if (bits == 256)
            return 1u << JWT_ALG_ES256;
        if (bits == 384)
            return 1u << JWT_ALG_ES384;
        if (bits == 521)
            return 1u << JWT_ALG_ES512;
        return 0;
    case CK_JWT_FAMILY_JWKS:
        return family_mask(CK_JWT_FAMILY_RS, 0) | 1u << JWT_ALG_ES256 | 1u << JWT_ALG_ES384 | 1u << JWT_ALG_ES512;
    }
    return 0;
}

/* Learns the family and size of a PEM public key with OpenSSL.  Returns 0,
 * or -1 with `err` set when the PEM is not an RSA (>= 2048 bits) or
 * P-256/384/521 public key. */
static int probe_public_key(ck_auth_jwt_t *jwt, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(jwt->key, (int)jwt->key_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        ck_setting_error(err, errlen,
                         "CHATKITD_JWT_PUBLIC_KEY is not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
        return -1;
    }
    int id = EVP_PKEY_get_base_id(pkey);
    jwt->key_bits = EVP_PKEY_get_bits(pkey);
    EVP_PKEY_free(pkey);
    if (id == EVP_PKEY_RSA) {
        jwt->family = CK_JWT_FAMILY_RS;
        if (jwt->key_bits < 2048) {
            ck_setting_error(err, errlen, "RSA public key has %d bits; at least 2048 are required", jwt->key_bits);
            return -1;
        }
        return 0;
    }
    if (id == EVP_PKEY_EC) {
        jwt->family = CK_JWT_FAMILY_ES;
        if (family_mask(CK_JWT_FAMILY_ES, jwt->key_bits) == 0) {
            ck_setting_error(err, errlen, "EC public key of %d bits: only P-256, P-384 and P-521 are supported",
                             jwt->key_bits);
            return -1;
        }
        return 0;
    }
    ck_setting_error(err, errlen, "public key type is neither RSA nor EC");
    return -1;
}

/* Parses the comma list `list` into jwt->alg_mask, every name having to fit
 * the key (family_mask).  Returns 0 or -1 with `err` set. */
static int pin_algorithms(ck_auth_jwt_t *jwt, const char *list, char *err, size_t errlen)
{
    unsigned fits = family_mask(jwt->family, jwt->key_bits);
    if (!nonempty(list)) {
        jwt->alg_mask = fits;
        return 0;
    }
    jwt->alg_mask = 0;
    size_t n;
    for (const char *cursor = list, *p; (p = ck_setting_list_next(&cursor, &n)) != NULL;) {
        char name[16];
        if (n >= sizeof(name)) {
            ck_setting_error(err, errlen, "CHATKITD_JWT_ALGORITHMS: unknown algorithm \"%.*s\"", (int)n, p);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        jwt_alg_t alg = jwt_str_alg(name);
        if (alg == JWT_ALG_INVAL || alg == JWT_ALG_NONE || (int)alg < 0 || (int)alg >= 32) {
            ck_setting_error(err, errlen, "CHATKITD_JWT_ALGORITHMS: algorithm \"%s\" is not accepted", name);
            return -1;
        }
        if ((fits & 1u << alg) == 0) {
            ck_setting_error(err, errlen, "CHATKITD_JWT_ALGORITHMS: %s does not fit the configured key", name);
            return -1;
        }
        jwt->alg_mask |= 1u << alg;
    }
    if (jwt->alg_mask == 0) {
        ck_setting_error(err, errlen, "CHATKITD_JWT_ALGORITHMS lists no algorithm");
        return -1;
    }
    return 0;
}

/* Copies the key material into `jwt` and learns its family.  Returns 0 or
 * -1 with `err` set. */
static int load_key(ck_auth_jwt_t *jwt, const ck_auth_jwt_settings_t *s, char *err, size_t errlen)
{
    if (nonempty(s->secret) + nonempty(s->public_key_pem) + (s->jwks != NULL) != 1) {
        ck_setting_error(err, errlen,
                         "configure exactly one of CHATKITD_JWT_SECRET, CHATKITD_JWT_PUBLIC_KEY and CHATKITD_JWT_JWKS");
        return -1;
    }
    if (s->jwks != NULL) {
        jwt->jwks = s->jwks;
        jwt->family = CK_JWT_FAMILY_JWKS;
        return 0;
    }
    const char *src = nonempty(s->secret) ? s->secret : s->public_key_pem;
    jwt->key_len = strlen(src);
    jwt->key = (unsigned char *)strdup(src);
    if (jwt->key == NULL) {
        ck_setting_error(err, errlen, "out of memory");
        return -1;
    }
    if (nonempty(s->secret)) {
        jwt->family = CK_JWT_FAMILY_HS;
        if (jwt->key_len < CK_AUTH_JWT_MIN_SECRET) {
            ck_setting_error(err, errlen, "CHATKITD_JWT_SECRET has %zu bytes; at least %d are required (RFC 7518 3.2)",
                             jwt->key_len, CK_AUTH_JWT_MIN_SECRET);
            return -1;
        }
        return 0;
    }
    return probe_public_key(jwt, err, errlen);
}

ck_auth_jwt_t *ck_auth_jwt_new(const ck_auth_jwt_settings_t *s, char *err, size_t errlen)
{
    ck_setting_error(err, errlen, "%s", "");
    ck_auth_jwt_t *jwt = calloc(1, sizeof(*jwt));
    if (jwt == NULL) {
        ck_setting_error(err, errlen, "out of memory");
        return NULL;
    }
    jwt->leeway_s = s->leeway_s;
    if (s->leeway_s < 0 || s->leeway_s > 86400) {
        ck_setting_error(err, errlen, "CHATKITD_JWT_LEEWAY_S must be between 0 and 86400");
        goto fail;
    }
    if (load_key(jwt, s, err, errlen) != 0 || pin_algorithms(jwt, s->algorithms, err, errlen) != 0)
        goto fail;
    if ((nonempty(s->issuer) && (jwt->issuer = strdup(s->issuer)) == NULL) ||
        (nonempty(s->audience) && (jwt->audience = strdup(s->audience)) == NULL)) {
        ck_setting_error(err, errlen, "out of memory");
        goto fail;
    }
    return jwt;
fail:
    ck_auth_jwt_free(jwt);
    return NULL;
}

void ck_auth_jwt_free(ck_auth_jwt_t *jwt)
{
    if (jwt == NULL)
        return;
    if (jwt->key != NULL) {
        OPENSSL_cleanse(jwt->key, jwt->key_len);
        free(jwt->key);
    }
    free(jwt->issuer);
    free(jwt->audience);
    free(jwt);
}

void ck_auth_jwt_describe(const ck_auth_jwt_t *jwt, char *out, size_t len)
{
    static const char *const kinds[] = {"HMAC secret", "RSA public key", "EC public key", "JWK set"};
    char algs[96] = "";
    for (size_t i = 0; i < sizeof(k_all_algs) / sizeof(k_all_algs[0]); i++) {
        if (jwt->alg_mask & 1u << k_all_algs[i]) {
            strcat(algs, " ");
            strcat(algs, jwt_alg_str(k_all_algs[i]));
        }
    }
    snprintf(out, len, "%s, algorithms%s, issuer %s, audience %s, leeway %ld s", kinds[jwt->family], algs,
             jwt->issuer ? jwt->issuer : "(not checked)", jwt->audience ? jwt->audience : "(not checked)",
             jwt->leeway_s);
}

const char *ck_auth_jwt_result_code(ck_auth_jwt_result_t result)
{
    switch (result) {
    case CK_AUTH_JWT_OK:
        return "";
    case CK_AUTH_JWT_EXPIRED:
        return "token_expired";
    case CK_AUTH_JWT_INVALID:
        break;
    }
    return "invalid_token";
}

/* A compact JWS: three base64url parts, header and signature non-empty
 * (an empty signature is alg "none").  No padding, no whitespace. */
static int well_formed(const char *token, size_t len)
{
    if (len == 0 || len > CK_AUTH_JWT_MAX_TOKEN)
        return 0;
    size_t dots[2], ndots = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c == '.') {
            if (ndots == 2)
                return 0;
            dots[ndots++] = i;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_')) {
            return 0;
        }
    }
    return ndots == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len;
}

/* A JSON object from one of libjwt's *_json getters (which return a
 * malloc'd string).  Returns a new reference or NULL. */
static json_t *object_from(char *text)
{
    if (text == NULL)
        return NULL;
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* `sub` as a user id: 1..255 bytes, no C0/C1 control characters or DEL
 * (jansson guarantees valid UTF-8, so C1 shows up as C2 80..C2 9F). */
static int valid_subject(const json_t *sub)
{
    if (!json_is_string(sub))
        return 0;
    const unsigned char *s = (const unsigned char *)json_string_value(sub);
    size_t n = json_string_length(sub);
    if (n == 0 || n >= CK_AUTH_JWT_SUB_MAX || strlen((const char *)s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
            return 0;
    }
    return 1;
}

/* `aud` (a string or an array of strings) contains `want`. */
static int audience_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return 1;
    }
    return 0;
}

/* Checks the claims object; on success copies `sub` into `user_id`. */
static ck_auth_jwt_result_t check_claims(const ck_auth_jwt_t *jwt, const json_t *claims, time_t now, char *user_id)
{
    const json_t *exp = json_object_get(claims, "exp");
    const json_t *nbf = json_object_get(claims, "nbf");
    const json_t *sub = json_object_get(claims, "sub");
    if (!json_is_integer(exp) || (nbf != NULL && !json_is_integer(nbf)) || !valid_subject(sub))
        return CK_AUTH_JWT_INVALID;
    if (nbf != NULL && json_integer_value(nbf) > (json_int_t)now + jwt->leeway_s)
        return CK_AUTH_JWT_INVALID;
    if (jwt->issuer != NULL) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), jwt->issuer) != 0)
            return CK_AUTH_JWT_INVALID;
    }
    if (jwt->audience != NULL && !audience_matches(json_object_get(claims, "aud"), jwt->audience))
        return CK_AUTH_JWT_INVALID;
    if (json_integer_value(exp) <= (json_int_t)now - jwt->leeway_s)
        return CK_AUTH_JWT_EXPIRED;
    memcpy(user_id, json_string_value(sub), json_string_length(sub) + 1);
    return CK_AUTH_JWT_OK;
}

/* Everything after a successful jwt_decode(): the pin (the configured list
 * and `key_mask`, the algorithms of the key used), the header, the claims. */
static ck_auth_jwt_result_t check_decoded(const ck_auth_jwt_t *jwt, unsigned key_mask, jwt_t *decoded, time_t now,
                                          char *user_id)
{
    jwt_alg_t alg = jwt_get_alg(decoded);
    if ((int)alg < 0 || (int)alg >= 32 || (jwt->alg_mask & key_mask & 1u << alg) == 0)
        return CK_AUTH_JWT_INVALID;
    json_t *header = object_from(jwt_get_headers_json(decoded, NULL));
    int header_ok = header != NULL && json_object_get(header, "crit") == NULL;
    json_decref(header);
    if (!header_ok)
        return CK_AUTH_JWT_INVALID;
    json_t *claims = object_from(jwt_get_grants_json(decoded, NULL));
    if (claims == NULL)
        return CK_AUTH_JWT_INVALID;
    ck_auth_jwt_result_t r = check_claims(jwt, claims, now, user_id);
    json_decref(claims);
    return r;
}

/* Verifies the NUL-terminated, well-formed `token` with `key` (`key_len`
 * bytes, never NULL), which may verify the algorithms in `key_mask`. */
static ck_auth_jwt_result_t verify_with(const ck_auth_jwt_t *jwt, const char *token, const unsigned char *key,
                                        size_t key_len, unsigned key_mask, time_t now, char *user_id)
{
    jwt_t *decoded = NULL;
    if (jwt_decode(&decoded, token, key, (int)key_len) != 0 || decoded == NULL) {
        jwt_free(decoded);
        return CK_AUTH_JWT_INVALID;
    }
    ck_auth_jwt_result_t r = check_decoded(jwt, key_mask, decoded, now, user_id);
    jwt_free(decoded);
    return r;
}

/* Reads the `kid` of the protected header of the well-formed `token` into
 * `kid` (KID_MAX bytes).  Returns 1 with a kid, 0 when the header has none,
 * -1 when the header is not a JSON object or its kid not a short string. */
static int header_kid(const char *token, char *kid)
{
    unsigned char header[CK_AUTH_JWT_MAX_TOKEN];
    long n = ck_base64url_decode(token, strcspn(token, "."), header, sizeof(header));
    json_t *h = n > 0 ? json_loadb((const char *)header, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const json_t *v = json_object_get(h, "kid");
    int found = !json_is_object(h) ? -1 : v == NULL ? 0 : 1;
    if (found == 1) {
        size_t len = json_string_length(v);
        if (!json_is_string(v) || len == 0 || len >= KID_MAX || strlen(json_string_value(v)) != len)
            found = -1;
        else
            memcpy(kid, json_string_value(v), len + 1);
    }
    json_decref(h);
    return found;
}

/* Verification with a JWK set: select the key by `kid`, ask for an early
 * refresh when the kid is unknown, verify with the selected key. */
static ck_auth_jwt_result_t verify_jwks(const ck_auth_jwt_t *jwt, const char *token, time_t now, char *user_id)
{
    char kid[KID_MAX];
    int has_kid = header_kid(token, kid);
    if (has_kid < 0)
        return CK_AUTH_JWT_INVALID;
    ck_auth_jwks_set_t *set = ck_auth_jwks_acquire(jwt->jwks);
    const ck_auth_jwk_t *key = ck_auth_jwks_find(set, has_kid ? kid : NULL);
    ck_auth_jwt_result_t r = CK_AUTH_JWT_INVALID;
    if (key != NULL)
        r = verify_with(jwt, token, key->pem, key->pem_len, key->alg_mask, now, user_id);
    else if (has_kid)
        ck_auth_jwks_request_refresh(jwt->jwks, now);
    ck_auth_jwks_set_release(set);
    return r;
}

ck_auth_jwt_result_t ck_auth_jwt_verify(const ck_auth_jwt_t *jwt, const char *token, size_t len, time_t now,
                                        char *user_id)
{
    user_id[0] = '\0';
    if (jwt == NULL || (jwt->jwks == NULL && jwt->key_len == 0) || !well_formed(token, len))
        return CK_AUTH_JWT_INVALID;
    char copy[CK_AUTH_JWT_MAX_TOKEN + 1];
    memcpy(copy, token, len);
    copy[len] = '\0';
    if (jwt->jwks != NULL)
        return verify_jwks(jwt, copy, now, user_id);
    return verify_with(jwt, copy, jwt->key, jwt->key_len, ~0u, now, user_id);
}
