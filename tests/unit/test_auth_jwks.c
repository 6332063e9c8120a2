/*
 * test_auth_jwks.c - unit tests of JWK sets (src/auth/jwks.c), their
 * use by the verifier (src/auth/jwt.c) and the file source
 * (src/auth/jwks_fetch.c): parsing RSA and EC keys, skipping unusable
 * ones, kid selection, the JWK `alg` pin, tokens from keys outside the set,
 * kid-less tokens, algorithm confusion with a JWKS key's PEM as HMAC secret,
 * the early-refresh throttle, set swaps under concurrent verification.
 * Keys are generated with OpenSSL at start-up; JWKs are built from them.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "base/base64.h"
#include "check_main.h"
#include "jwt_fixtures.h"
#include "auth/jwks.h"
#include "auth/jwks_fetch.h"
#include "auth/jwt.h"

#define NOW 1700000000L
#define VALID "{\"sub\":\"alice\",\"exp\":1700003600}"

/* A generated key pair: private PEM (for minting), public PEM, JWK members. */
typedef struct test_key {
    char *priv;
    char *pub;
    char jwk_members[4200]; /* "\"kty\":...,\"n\":...,\"e\":..." without kid/alg/use */
} test_key_t;

static test_key_t g_rsa1, g_rsa2, g_ec1, g_ec2, g_ec384, g_ec521, g_rsa1024;

/* base64url of big-endian BIGNUM parameter `name` of `pkey`, padded to
 * `width` bytes (0 = minimal), written to `out`.  Aborts on failure. */
static void b64_param(EVP_PKEY *pkey, const char *name, int width, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char bytes[1024];
    int n = EVP_PKEY_get_bn_param(pkey, name, &bn) == 1 ? width ? BN_bn2binpad(bn, bytes, width) : BN_bn2bin(bn, bytes)
                                                        : -1;
    if (n <= 0)
        abort(); /* runs before the tests: no ck_assert here */
    ck_base64url_encode(bytes, (size_t)n, out);
    BN_free(bn);
}

static void make_key(test_key_t *k, EVP_PKEY *pkey, const char *crv, int field)
{
    char a[2048], b[2048];
    k->priv = fixture_pem_of(pkey, 1);
    k->pub = fixture_pem_of(pkey, 0);
    if (crv == NULL) {
        b64_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0, a);
        b64_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0, b);
        snprintf(k->jwk_members, sizeof(k->jwk_members), "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", a, b);
    } else {
        b64_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, field, a);
        b64_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, field, b);
        snprintf(k->jwk_members, sizeof(k->jwk_members), "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"", crv,
                 a, b);
    }
    EVP_PKEY_free(pkey);
}

static void make_keys(void)
{
    make_key(&g_rsa1, EVP_RSA_gen(2048), NULL, 0);
    make_key(&g_rsa2, EVP_RSA_gen(2048), NULL, 0);
    make_key(&g_rsa1024, EVP_RSA_gen(1024), NULL, 0);
    make_key(&g_ec1, EVP_EC_gen("P-256"), "P-256", 32);
    make_key(&g_ec2, EVP_EC_gen("P-256"), "P-256", 32);
    make_key(&g_ec384, EVP_EC_gen("P-384"), "P-384", 48);
    make_key(&g_ec521, EVP_EC_gen("P-521"), "P-521", 66);
}

/* {"kid":..., <members>, <extra>} into a static rotating buffer. */
static const char *jwk(const test_key_t *k, const char *kid, const char *extra)
{
    static char bufs[16][4800];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof(bufs[0]), "{%s%s%s%s%s%s}", kid ? "\"kid\":\"" : "", kid ? kid : "", kid ? "\"," : "",
             k->jwk_members, extra ? "," : "", extra ? extra : "");
    return b;
}

static ck_auth_jwks_set_t *parse_ok(const char *doc)
{
    char err[256] = "";
    ck_auth_jwks_set_t *set = ck_auth_jwks_parse(doc, strlen(doc), err, sizeof(err));
    ck_assert_msg(set != NULL, "JWKS rejected: %s", err);
    return set;
}

/* A token minted by libjwt with header `kid` (NULL: none). Static buffer. */
static const char *mint(const char *kid, jwt_alg_t alg, const char *key)
{
    static char tok[16384];
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_new(&j), 0);
    ck_assert_int_eq(jwt_add_grants_json(j, VALID), 0);
    if (kid != NULL)
        ck_assert_int_eq(jwt_add_header(j, "kid", kid), 0);
    ck_assert_int_eq(jwt_set_alg(j, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *s = jwt_encode_str(j);
    ck_assert_ptr_nonnull(s);
    snprintf(tok, sizeof(tok), "%s", s);
    free(s);
    jwt_free(j);
    return tok;
}

/* A hand-made HS256 token with header `header`, MAC key `key`. Static. */
static const char *craft_hs256(const char *header, const char *key, size_t key_len)
{
    return fixture_craft_jws(header, VALID, EVP_sha256(), key, key_len);
}

/* A verifier over a holder of `doc`; *holder gets the holder (free after
 * the verifier). */
static ck_auth_jwt_t *verifier(const char *doc, const char *algs, ck_auth_jwks_t **holder)
{
    *holder = ck_auth_jwks_new(parse_ok(doc));
    ck_assert_ptr_nonnull(*holder);
    ck_auth_jwt_settings_t s = {NULL, NULL, algs, NULL, NULL, 30, *holder};
    char err[256];
    ck_auth_jwt_t *v = ck_auth_jwt_new(&s, err, sizeof(err));
    ck_assert_msg(v != NULL, "config rejected: %s", err);
    return v;
}

static ck_auth_jwt_result_t verify(const ck_auth_jwt_t *v, const char *tok)
{
    char user[CK_AUTH_JWT_SUB_MAX];
    return ck_auth_jwt_verify(v, tok, strlen(tok), NOW, user);
}

static char g_two_rsa[12000];

static const char *two_rsa(void)
{
    snprintf(g_two_rsa, sizeof(g_two_rsa), "{\"keys\":[%s,%s]}", jwk(&g_rsa1, "r1", NULL), jwk(&g_rsa2, "r2", NULL));
    return g_two_rsa;
}

START_TEST(parses_rsa_and_ec)
{
    char doc[12000];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s,%s,%s]}", jwk(&g_rsa1, "r1", "\"use\":\"sig\",\"alg\":\"RS256\""),
             jwk(&g_ec1, "e1", NULL), jwk(&g_ec384, NULL, "\"key_ops\":[\"verify\"]"), jwk(&g_ec521, "e5", NULL));
    ck_auth_jwks_set_t *set = parse_ok(doc);
    ck_assert_uint_eq(ck_auth_jwks_count(set), 4);
    ck_assert_uint_eq(ck_auth_jwks_find(set, "e5")->alg_mask, 1u << JWT_ALG_ES512);
    ck_assert_str_eq((const char *)ck_auth_jwks_find(set, "e5")->pem, g_ec521.pub);
    const ck_auth_jwk_t *r = ck_auth_jwks_find(set, "r1"), *e = ck_auth_jwks_find(set, "e1");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq((const char *)r->pem, g_rsa1.pub);
    ck_assert_str_eq((const char *)e->pem, g_ec1.pub);
    ck_assert_uint_eq(r->pem_len, strlen(g_rsa1.pub));
    ck_assert_uint_eq(r->alg_mask, 1u << JWT_ALG_RS256);
    ck_assert_uint_eq(e->alg_mask, 1u << JWT_ALG_ES256);
    ck_assert(r->rsa && r->bits == 2048 && !e->rsa && e->bits == 256);
    const ck_auth_jwk_t *p384 = ck_auth_jwks_key(set, 2);
    ck_assert_ptr_null(p384->kid);
    ck_assert_uint_eq(p384->alg_mask, 1u << JWT_ALG_ES384);
    ck_assert_str_eq((const char *)p384->pem, g_ec384.pub);
    ck_assert_ptr_null(ck_auth_jwks_find(set, "nope"));
    ck_assert_ptr_null(ck_auth_jwks_find(set, NULL)); /* several keys: a kid is required */
    ck_auth_jwks_set_release(set);
}
END_TEST

START_TEST(bad_keys_are_skipped)
{
    /* An EC point off the curve: the P-256 x with another key's y. */
    char off_curve[512], ec2_y[128];
    const char *y = strstr(g_ec2.jwk_members, "\"y\":");
    snprintf(ec2_y, sizeof(ec2_y), "%s", y);
    snprintf(off_curve, sizeof(off_curve), "%.*s%s", (int)(strstr(g_ec1.jwk_members, "\"y\":") - g_ec1.jwk_members),
             g_ec1.jwk_members, ec2_y);
    test_key_t bad_ec;
    snprintf(bad_ec.jwk_members, sizeof(bad_ec.jwk_members), "%s", off_curve);
    char no_e[4096];
    snprintf(no_e, sizeof(no_e), "%.*s}", (int)(strstr(g_rsa1.jwk_members, ",\"e\":") - g_rsa1.jwk_members),
             g_rsa1.jwk_members);
    static char doc[65536];
    snprintf(
        doc, sizeof(doc),
        "{\"keys\":["
        "{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\"},"
        "{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},"
        "%s,%s,%s,%s,%s,%s,%s,%s,"
        "{\"kid\":\"noe\",%s,"
        "{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"},"
        "{\"kty\":\"RSA\",\"kid\":\"junk\",\"n\":\"!!!\",\"e\":\"AQAB\"},"
        "42,\"text\",%s,%s]}",
        jwk(&g_rsa1024, "small", NULL), jwk(&bad_ec, "offcurve", NULL), jwk(&g_rsa2, "enc", "\"use\":\"enc\""),
        jwk(&g_rsa2, "ops", "\"key_ops\":[\"encrypt\"]"), jwk(&g_rsa2, "hs", "\"alg\":\"HS256\""),
        jwk(&g_ec1, "es384", "\"alg\":\"ES384\""), jwk(&g_rsa2, "rsnone", "\"alg\":\"none\""),
        "{\"kty\":\"RSA\",\"kid\":7,\"n\":\"AQAB\",\"e\":\"AQAB\"}", no_e, jwk(&g_rsa1, "good", NULL),
        jwk(&g_rsa2, "good", NULL));
    ck_auth_jwks_set_t *set = parse_ok(doc);
    ck_assert_uint_eq(ck_auth_jwks_count(set), 1);
    const ck_auth_jwk_t *k = ck_auth_jwks_find(set, "good");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq((const char *)k->pem, g_rsa1.pub); /* the first of a duplicated kid */
    ck_auth_jwks_set_release(set);

    const char *bad_docs[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\"}]}",
        "{\"keys\":[1],\"keys\":[2]}",
    };
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        char err[256] = "";
        ck_assert_msg(ck_auth_jwks_parse(bad_docs[i], strlen(bad_docs[i]), err, sizeof(err)) == NULL, "accepted %s",
                      bad_docs[i]);
        ck_assert(err[0] != '\0');
    }
}
END_TEST

START_TEST(kid_selects_the_key)
{
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(two_rsa(), NULL, &h);
    char user[CK_AUTH_JWT_SUB_MAX];
    const char *tok = mint("r1", JWT_ALG_RS256, g_rsa1.priv);
    ck_assert_int_eq(ck_auth_jwt_verify(v, tok, strlen(tok), NOW, user), CK_AUTH_JWT_OK);
    ck_assert_str_eq(user, "alice");
    ck_assert_int_eq(verify(v, mint("r2", JWT_ALG_RS512, g_rsa2.priv)), CK_AUTH_JWT_OK);
    /* The right key under the wrong kid, and a key outside the set. */
    ck_assert_int_eq(verify(v, mint("r2", JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS256, g_rsa1024.priv)), CK_AUTH_JWT_INVALID);
    /* An EC token cannot use an RSA key. */
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_ES256, g_ec1.priv)), CK_AUTH_JWT_INVALID);
    /* kid of the wrong type, or a duplicated header member. */
    const char *weird[] = {"{\"alg\":\"RS256\",\"kid\":1}", "{\"alg\":\"RS256\",\"kid\":\"\"}",
                           "{\"alg\":\"RS256\",\"kid\":\"r1\",\"kid\":\"r2\"}", "[\"alg\"]"};
    for (size_t i = 0; i < sizeof(weird) / sizeof(weird[0]); i++)
        ck_assert_int_eq(verify(v, craft_hs256(weird[i], "x", 1)), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v);
    ck_auth_jwks_free(h);
}
END_TEST

START_TEST(jwk_alg_is_enforced)
{
    char doc[8192];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", jwk(&g_rsa1, "r1", "\"alg\":\"RS256\""), jwk(&g_ec1, "e1", NULL));
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(doc, NULL, &h);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS384, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS512, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, mint("e1", JWT_ALG_ES256, g_ec1.priv)), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(v, mint("e1", JWT_ALG_ES256, g_ec2.priv)), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v);
    ck_auth_jwks_free(h);
}
END_TEST

START_TEST(configured_algorithms_narrow_the_set)
{
    char doc[8192];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", jwk(&g_rsa1, "r1", NULL), jwk(&g_ec1, "e1", NULL));
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(doc, "RS256", &h);
    char desc[256];
    ck_auth_jwt_describe(v, desc, sizeof(desc));
    ck_assert_str_eq(desc, "JWK set, algorithms RS256, issuer (not checked), audience (not checked), leeway 30 s");
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS384, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, mint("e1", JWT_ALG_ES256, g_ec1.priv)), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v);
    /* HS* never fits a JWK set; neither does a second key source. */
    char err[256];
    ck_auth_jwt_settings_t hs = {NULL, NULL, "HS256", NULL, NULL, 30, h};
    ck_assert_ptr_null(ck_auth_jwt_new(&hs, err, sizeof(err)));
    ck_auth_jwt_settings_t both = {NULL, g_rsa1.pub, NULL, NULL, NULL, 30, h};
    ck_assert_ptr_null(ck_auth_jwt_new(&both, err, sizeof(err)));
    ck_assert(strstr(err, "CHATKITD_JWT_JWKS") != NULL);
    ck_auth_jwks_free(h);
}
END_TEST

START_TEST(no_kid_needs_a_single_key)
{
    char one[8192];
    snprintf(one, sizeof(one), "{\"keys\":[%s]}", jwk(&g_rsa1, "r1", NULL));
    ck_auth_jwks_t *h1, *h2;
    ck_auth_jwt_t *v1 = verifier(one, NULL, &h1), *v2 = verifier(two_rsa(), NULL, &h2);
    ck_assert_int_eq(verify(v1, mint(NULL, JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(v1, mint(NULL, JWT_ALG_RS256, g_rsa2.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v2, mint(NULL, JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v2, mint(NULL, JWT_ALG_RS256, g_rsa2.priv)), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v1);
    ck_auth_jwt_free(v2);
    ck_auth_jwks_free(h1);
    ck_auth_jwks_free(h2);
}
END_TEST

START_TEST(algorithm_confusion_fails)
{
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(two_rsa(), NULL, &h);
    ck_auth_jwks_set_t *set = ck_auth_jwks_acquire(h);
    const ck_auth_jwk_t *k = ck_auth_jwks_find(set, "r1");
    const char *tok =
        craft_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}", (const char *)k->pem, k->pem_len);
    /* Control: libjwt alone accepts the token with the key's PEM. */
    jwt_t *raw = NULL;
    ck_assert_int_eq(jwt_decode(&raw, tok, k->pem, (int)k->pem_len), 0);
    jwt_free(raw);
    ck_auth_jwks_set_release(set);
    ck_assert_int_eq(verify(v, tok), CK_AUTH_JWT_INVALID);
    /* The same with the PEM OpenSSL writes for the key (identical bytes). */
    tok = craft_hs256("{\"alg\":\"HS256\",\"kid\":\"r2\"}", g_rsa2.pub, strlen(g_rsa2.pub));
    ck_assert_int_eq(verify(v, tok), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v);
    ck_auth_jwks_free(h);
}
END_TEST

START_TEST(unknown_kid_requests_a_throttled_refresh)
{
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(two_rsa(), NULL, &h);
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_PERIOD);
    const char *tok = mint("r3", JWT_ALG_RS256, g_rsa1.priv);
    ck_assert_int_eq(ck_auth_jwt_verify(v, tok, strlen(tok), NOW, user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_EARLY);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_PERIOD);
    /* Within 30 s: no new request. */
    ck_assert_int_eq(ck_auth_jwt_verify(v, tok, strlen(tok), NOW + 29, user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_PERIOD);
    /* A known kid never asks. */
    ck_assert_int_eq(ck_auth_jwks_request_refresh(h, NOW + 29), 0);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_PERIOD);
    ck_assert_int_eq(ck_auth_jwt_verify(v, tok, strlen(tok), NOW + 30, user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 0), CK_AUTH_JWKS_WAKE_EARLY);
    /* Rotation: the new set knows r3. */
    char doc[8192];
    snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", jwk(&g_rsa1, "r3", NULL));
    ck_auth_jwks_replace(h, parse_ok(doc));
    ck_assert_int_eq(ck_auth_jwt_verify(v, tok, strlen(tok), NOW + 31, user), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(v, mint("r1", JWT_ALG_RS256, g_rsa1.priv)), CK_AUTH_JWT_INVALID);
    ck_auth_jwks_stop(h);
    ck_assert_int_eq(ck_auth_jwks_wait(h, 60000), CK_AUTH_JWKS_WAKE_STOP);
    ck_assert_int_eq(ck_auth_jwks_stopping(h), 1);
    ck_auth_jwt_free(v);
    ck_auth_jwks_free(h);
}
END_TEST

/* --- swaps under load ------------------------------------------------------ */

typedef struct hammer {
    const ck_auth_jwt_t *v;
    char tok[4096];
    int failures;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *hm = arg;
    char user[CK_AUTH_JWT_SUB_MAX];
    for (int i = 0; i < 300; i++)
        hm->failures += ck_auth_jwt_verify(hm->v, hm->tok, strlen(hm->tok), NOW, user) != CK_AUTH_JWT_OK;
    return NULL;
}

START_TEST(swaps_while_verifying)
{
    ck_auth_jwks_t *h;
    ck_auth_jwt_t *v = verifier(two_rsa(), NULL, &h);
    hammer_t hm[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        hm[i].v = v;
        hm[i].failures = 0;
        snprintf(hm[i].tok, sizeof(hm[i].tok), "%s",
                 mint(i % 2 ? "r1" : "r2", JWT_ALG_RS256, i % 2 ? g_rsa1.priv : g_rsa2.priv));
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_main, &hm[i]), 0);
    }
    for (int i = 0; i < 100; i++)
        ck_auth_jwks_replace(h, parse_ok(two_rsa()));
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(hm[i].failures, 0);
    }
    ck_auth_jwt_free(v);
    ck_auth_jwks_free(h);
}
END_TEST

/* --- the file source ------------------------------------------------------------ */

START_TEST(file_source)
{
    char path[] = "/tmp/test_auth_jwks_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *doc = two_rsa();
    ck_assert_int_eq(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    char err[512] = "";
    ck_auth_jwks_source_t *src = ck_auth_jwks_source_start(path, 300, err, sizeof(err));
    ck_assert_msg(src != NULL, "%s", err);
    ck_auth_jwt_settings_t s = {NULL, NULL, NULL, NULL, NULL, 30, ck_auth_jwks_source_keys(src)};
    ck_auth_jwt_t *v = ck_auth_jwt_new(&s, err, sizeof(err));
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(verify(v, mint("r2", JWT_ALG_RS256, g_rsa2.priv)), CK_AUTH_JWT_OK);
    ck_auth_jwt_free(v);
    ck_auth_jwks_source_stop(src);
    /* Unusable documents and places refuse to start, with a reason. */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "{\"keys\":[]}", 11), 11);
    close(fd);
    const char *bad[] = {path, "/nonexistent/jwks.json", "http://127.0.0.1:1/jwks.json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_ptr_null(ck_auth_jwks_source_start(bad[i], 300, err, sizeof(err)));
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
    }
    ck_assert_ptr_null(ck_auth_jwks_source_start(path, 0, err, sizeof(err)));
    unlink(path);
}
END_TEST

static Suite *auth_jwks_suite(void)
{
    Suite *s = suite_create("auth_jwks");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, parses_rsa_and_ec);
    tcase_add_test(tc, bad_keys_are_skipped);
    tcase_add_test(tc, kid_selects_the_key);
    tcase_add_test(tc, jwk_alg_is_enforced);
    tcase_add_test(tc, configured_algorithms_narrow_the_set);
    tcase_add_test(tc, no_kid_needs_a_single_key);
    tcase_add_test(tc, algorithm_confusion_fails);
    tcase_add_test(tc, unknown_kid_requests_a_throttled_refresh);
    tcase_add_test(tc, swaps_while_verifying);
    tcase_add_test(tc, file_source);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_keys();
    return ck_check_run(auth_jwks_suite());
}
