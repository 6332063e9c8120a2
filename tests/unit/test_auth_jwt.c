/*
 * test_auth_jwt.c - unit tests of src/auth/jwt.c: configuration checks
 * and token verification.  Good tokens are minted with libjwt itself; hostile
 * ones (alg none, algorithm confusion, tampering, bad claim types) are built
 * by hand: base64url(JSON) parts signed with OpenSSL's HMAC.  Keys are
 * generated with OpenSSL at start-up, so nothing is read from disk.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt.h"
#include "check_main.h"
#include "jwt_fixtures.h"

#define NOW 1700000000L
#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

static char *g_rsa_priv, *g_rsa_pub, *g_ec_priv, *g_ec_pub, *g_rsa1024_pub;

static void make_keys(void)
{
    if (g_rsa_priv != NULL)
        return;
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *small = EVP_RSA_gen(1024);
    g_rsa_priv = fixture_pem_of(rsa, 1);
    g_rsa_pub = fixture_pem_of(rsa, 0);
    g_ec_priv = fixture_pem_of(ec, 1);
    g_ec_pub = fixture_pem_of(ec, 0);
    g_rsa1024_pub = fixture_pem_of(small, 0);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(small);
}

/* A hand-made compact JWS (see jwt_fixtures.h); `key` NUL-terminated. */
static const char *craft(const char *header, const char *payload, const EVP_MD *md, const char *key)
{
    return fixture_craft_jws(header, payload, md, key, key ? strlen(key) : 0);
}

static const char *hs256(const char *payload)
{
    return craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(), SECRET);
}

/* A token minted by libjwt: claims JSON, algorithm and signing key.
 * Static buffer. */
static const char *mint(const char *claims, jwt_alg_t alg, const char *key)
{
    static char tok[16384];
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_new(&j), 0);
    ck_assert_int_eq(jwt_add_grants_json(j, claims), 0);
    ck_assert_int_eq(jwt_set_alg(j, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *s = jwt_encode_str(j);
    ck_assert_ptr_nonnull(s);
    snprintf(tok, sizeof(tok), "%s", s);
    free(s);
    jwt_free(j);
    return tok;
}

static ck_auth_jwt_t *verifier(const char *secret, const char *pem, const char *algs, const char *iss, const char *aud)
{
    ck_auth_jwt_settings_t s = {secret, pem, algs, iss, aud, 30};
    char err[256];
    ck_auth_jwt_t *v = ck_auth_jwt_new(&s, err, sizeof(err));
    ck_assert_msg(v != NULL, "config rejected: %s", err);
    return v;
}

static ck_auth_jwt_result_t verify(const ck_auth_jwt_t *v, const char *tok, char *user)
{
    return ck_auth_jwt_verify(v, tok, strlen(tok), NOW, user);
}

#define VALID "{\"sub\":\"alice\",\"exp\":1700003600}"

START_TEST(config_rejects_bad_setups)
{
    make_keys();
    char err[256];
    struct {
        ck_auth_jwt_settings_t s;
        const char *why;
    } bad[] = {
        {{NULL, NULL, NULL, NULL, NULL, 30}, "no key"},
        {{SECRET, g_rsa_pub, NULL, NULL, NULL, 30}, "both keys"},
        {{"short-secret", NULL, NULL, NULL, NULL, 30}, "short secret"},
        {{SECRET, NULL, "RS256", NULL, NULL, 30}, "RS with a secret"},
        {{SECRET, NULL, "none", NULL, NULL, 30}, "none"},
        {{SECRET, NULL, "HS256,XX999", NULL, NULL, 30}, "unknown alg"},
        {{NULL, g_rsa_pub, "HS256", NULL, NULL, 30}, "HS with RSA key"},
        {{NULL, g_rsa_pub, "ES256", NULL, NULL, 30}, "ES with RSA key"},
        {{NULL, g_ec_pub, "ES384", NULL, NULL, 30}, "ES384 with P-256"},
        {{NULL, g_rsa_priv, NULL, NULL, NULL, 30}, "private key"},
        {{NULL, "not a pem", NULL, NULL, NULL, 30}, "garbage pem"},
        {{NULL, g_rsa1024_pub, NULL, NULL, NULL, 30}, "1024-bit RSA"},
        {{SECRET, NULL, NULL, NULL, NULL, -1}, "negative leeway"},
        {{SECRET, NULL, " , ", NULL, NULL, 30}, "empty list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_auth_jwt_t *v = ck_auth_jwt_new(&bad[i].s, err, sizeof(err));
        ck_assert_msg(v == NULL, "accepted: %s", bad[i].why);
        ck_assert_msg(err[0] != '\0', "no reason given: %s", bad[i].why);
    }
}
END_TEST

START_TEST(config_pins_by_key_type)
{
    make_keys();
    char desc[256];
    ck_auth_jwt_t *v = verifier(SECRET, NULL, NULL, "https://idp", "chatkit");
    ck_auth_jwt_describe(v, desc, sizeof(desc));
    ck_assert_str_eq(desc,
                     "HMAC secret, algorithms HS256 HS384 HS512, issuer https://idp, audience chatkit, leeway 30 s");
    ck_auth_jwt_free(v);
    v = verifier(NULL, g_ec_pub, NULL, NULL, NULL);
    ck_auth_jwt_describe(v, desc, sizeof(desc));
    ck_assert_str_eq(desc,
                     "EC public key, algorithms ES256, issuer (not checked), audience (not checked), leeway 30 s");
    ck_auth_jwt_free(v);
    v = verifier(NULL, g_rsa_pub, "RS256, RS512", NULL, NULL);
    ck_auth_jwt_describe(v, desc, sizeof(desc));
    ck_assert_str_eq(
        desc, "RSA public key, algorithms RS256 RS512, issuer (not checked), audience (not checked), leeway 30 s");
    ck_auth_jwt_free(v);
}
END_TEST

START_TEST(valid_tokens_pass)
{
    make_keys();
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(verify(hs, mint(VALID, JWT_ALG_HS256, SECRET), user), CK_AUTH_JWT_OK);
    ck_assert_str_eq(user, "alice");
    ck_assert_int_eq(verify(hs, mint(VALID, JWT_ALG_HS512, SECRET), user), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(hs, hs256(VALID), user), CK_AUTH_JWT_OK);
    ck_auth_jwt_free(hs);

    ck_auth_jwt_t *rs = verifier(NULL, g_rsa_pub, NULL, NULL, NULL);
    ck_assert_int_eq(verify(rs, mint(VALID, JWT_ALG_RS256, g_rsa_priv), user), CK_AUTH_JWT_OK);
    ck_assert_str_eq(user, "alice");
    ck_auth_jwt_free(rs);

    ck_auth_jwt_t *es = verifier(NULL, g_ec_pub, NULL, NULL, NULL);
    ck_assert_int_eq(verify(es, mint(VALID, JWT_ALG_ES256, g_ec_priv), user), CK_AUTH_JWT_OK);
    ck_auth_jwt_free(es);
}
END_TEST

START_TEST(alg_none_fails)
{
    char user[CK_AUTH_JWT_SUB_MAX] = "x";
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, NULL, NULL, NULL);
    const char *names[] = {"none", "None", "NONE"};
    for (size_t i = 0; i < 3; i++) {
        char header[64];
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", names[i]);
        ck_assert_int_eq(verify(hs, craft(header, VALID, NULL, NULL), user), CK_AUTH_JWT_INVALID);
        ck_assert_str_eq(user, "");
        ck_assert_int_eq(verify(hs, craft(header, VALID, EVP_sha256(), SECRET), user), CK_AUTH_JWT_INVALID);
    }
    ck_assert_int_eq(verify(hs, craft("{\"typ\":\"JWT\"}", VALID, EVP_sha256(), SECRET), user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(hs);
}
END_TEST

START_TEST(algorithm_confusion_fails)
{
    make_keys();
    char user[CK_AUTH_JWT_SUB_MAX];
    const char *tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", VALID, EVP_sha256(), g_rsa_pub);
    /* Control: libjwt 1.x alone accepts this token: jwt_decode() does not tie
     * the algorithm to the key type, which is why jwt.c pins it. */
    jwt_t *raw = NULL;
    ck_assert_int_eq(jwt_decode(&raw, tok, (const unsigned char *)g_rsa_pub, (int)strlen(g_rsa_pub)), 0);
    jwt_free(raw);
    ck_auth_jwt_t *rs = verifier(NULL, g_rsa_pub, NULL, NULL, NULL);
    ck_assert_int_eq(verify(rs, tok, user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(rs);
    ck_auth_jwt_t *es = verifier(NULL, g_ec_pub, NULL, NULL, NULL);
    tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", VALID, EVP_sha256(), g_ec_pub);
    ck_assert_int_eq(verify(es, tok, user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(es);
}
END_TEST

START_TEST(pinned_list_is_enforced)
{
    make_keys();
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_t *rs = verifier(NULL, g_rsa_pub, "RS256", NULL, NULL);
    ck_assert_int_eq(verify(rs, mint(VALID, JWT_ALG_RS256, g_rsa_priv), user), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(rs, mint(VALID, JWT_ALG_RS512, g_rsa_priv), user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(rs);
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, "HS512", NULL, NULL);
    ck_assert_int_eq(verify(hs, hs256(VALID), user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(hs);
}
END_TEST

START_TEST(time_claims)
{
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, NULL, NULL, NULL);
    /* exp: expired beyond the 30 s leeway, at the edge, within it. */
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1699999000}"), user), CK_AUTH_JWT_EXPIRED);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1699999970}"), user), CK_AUTH_JWT_EXPIRED);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1699999971}"), user), CK_AUTH_JWT_OK);
    /* exp missing or of the wrong JSON type. */
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\"}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":\"1700003600\"}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1700003600.5}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":null}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":9223372036854775807}"), user), CK_AUTH_JWT_OK);
    /* nbf: in the future beyond the leeway, within it, wrong type. */
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"nbf\":1700000031}"), user),
                     CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"nbf\":1700000030}"), user), CK_AUTH_JWT_OK);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"nbf\":\"0\"}"), user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(hs);
}
END_TEST

START_TEST(issuer_and_audience)
{
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_t *v = verifier(SECRET, NULL, NULL, "https://idp", "chatkit");
    ck_assert_int_eq(
        verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://idp\",\"aud\":\"chatkit\"}"), user),
        CK_AUTH_JWT_OK);
    ck_assert_int_eq(
        verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://idp\",\"aud\":[\"x\",\"chatkit\"]}"),
               user),
        CK_AUTH_JWT_OK);
    ck_assert_int_eq(
        verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://evil\",\"aud\":\"chatkit\"}"), user),
        CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"aud\":\"chatkit\"}"), user),
                     CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(
        verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://idp\",\"aud\":\"other\"}"), user),
        CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(
        verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://idp\",\"aud\":[\"x\",\"y\"]}"), user),
        CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(v, hs256("{\"sub\":\"a\",\"exp\":1700003600,\"iss\":\"https://idp\"}"), user),
                     CK_AUTH_JWT_INVALID);
    /* A bad issuer is reported as invalid even when the token also expired. */
    ck_assert_int_eq(verify(v, hs256("{\"sub\":\"a\",\"exp\":1,\"iss\":\"https://evil\",\"aud\":\"chatkit\"}"), user),
                     CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(v);
}
END_TEST

START_TEST(subject_rules)
{
    char user[CK_AUTH_JWT_SUB_MAX];
    char payload[1024], sub[300];
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, NULL, NULL, NULL);
    ck_assert_int_eq(verify(hs, hs256("{\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"\",\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":42,\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\\nb\",\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\\u0000b\",\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"a\\u0085b\",\"exp\":1700003600}"), user), CK_AUTH_JWT_INVALID);
    ck_assert_int_eq(verify(hs, hs256("{\"sub\":\"caf\\u00e9 \\u4e16\",\"exp\":1700003600}"), user), CK_AUTH_JWT_OK);
    ck_assert_str_eq(user, "caf\xc3\xa9 \xe4\xb8\x96");
    memset(sub, 'u', 255);
    sub[255] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":1700003600}", sub);
    ck_assert_int_eq(verify(hs, hs256(payload), user), CK_AUTH_JWT_OK);
    ck_assert_uint_eq(strlen(user), 255);
    sub[255] = 'u';
    sub[256] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":1700003600}", sub);
    ck_assert_int_eq(verify(hs, hs256(payload), user), CK_AUTH_JWT_INVALID);
    ck_auth_jwt_free(hs);
}
END_TEST

START_TEST(tampering_and_garbage)
{
    char user[CK_AUTH_JWT_SUB_MAX];
    ck_auth_jwt_t *hs = verifier(SECRET, NULL, NULL, NULL, NULL);
    /* Swap the payload of a valid token for another user's. */
    char good[4096], evil[4096];
    snprintf(good, sizeof(good), "%s", hs256(VALID));
    snprintf(evil, sizeof(evil), "%s", hs256("{\"sub\":\"mallory\",\"exp\":1700003600}"));
    char *g1 = strchr(good, '.'), *g2 = strrchr(good, '.');
    char *e1 = strchr(evil, '.'), *e2 = strrchr(evil, '.');
    char forged[8192];
    snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(g1 - good), good, (int)(e2 - e1), e1, g2);
    ck_assert_int_eq(verify(hs, forged, user), CK_AUTH_JWT_INVALID);
    /* A flipped signature character. */
    good[strlen(good) - 2] = good[strlen(good) - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(hs, good, user), CK_AUTH_JWT_INVALID);
    /* Signed with another secret. */
    ck_assert_int_eq(verify(hs, mint(VALID, JWT_ALG_HS256, "another-secret-another-secret-xx"), user),
                     CK_AUTH_JWT_INVALID);
    /* A critical header extension we do not understand. */
    ck_assert_int_eq(
        verify(hs, craft("{\"alg\":\"HS256\",\"crit\":[\"x\"],\"x\":1}", VALID, EVP_sha256(), SECRET), user),
        CK_AUTH_JWT_INVALID);
    /* Payload that is not an object. */
    ck_assert_int_eq(verify(hs, craft("{\"alg\":\"HS256\"}", "[1,2]", EVP_sha256(), SECRET), user),
                     CK_AUTH_JWT_INVALID);
    const char *garbage[] = {"",     "abc",  "a.b",          "a.b.c.d",     "..",      "a..c",
                             ".b.c", "a.b.", "Bearer x.y.z", "eyJ.eyJ.ab=", "e y.J.z", "\xff\xfe.a.b"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        ck_assert_int_eq(verify(hs, garbage[i], user), CK_AUTH_JWT_INVALID);
    /* Over 8 KiB: rejected before decoding even though it is well signed. */
    static char payload[9000];
    snprintf(payload, sizeof(payload), "{\"sub\":\"a\",\"exp\":1700003600,\"pad\":\"%07000d\"}", 0);
    const char *big = hs256(payload);
    ck_assert_uint_gt(strlen(big), CK_AUTH_JWT_MAX_TOKEN);
    ck_assert_int_eq(verify(hs, big, user), CK_AUTH_JWT_INVALID);
    payload[strlen(payload) - 2000] = '\0';
    strcat(payload, "\"}");
    ck_assert_int_eq(verify(hs, hs256(payload), user), CK_AUTH_JWT_OK);
    ck_auth_jwt_free(hs);
}
END_TEST

static Suite *auth_jwt_suite(void)
{
    Suite *s = suite_create("auth_jwt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, config_rejects_bad_setups);
    tcase_add_test(tc, config_pins_by_key_type);
    tcase_add_test(tc, valid_tokens_pass);
    tcase_add_test(tc, alg_none_fails);
    tcase_add_test(tc, algorithm_confusion_fails);
    tcase_add_test(tc, pinned_list_is_enforced);
    tcase_add_test(tc, time_claims);
    tcase_add_test(tc, issuer_and_audience);
    tcase_add_test(tc, subject_rules);
    tcase_add_test(tc, tampering_and_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_keys();
    return ck_check_run(auth_jwt_suite());
}
