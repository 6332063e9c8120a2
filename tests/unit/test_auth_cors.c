/*
 * test_auth_cors.c - unit tests of src/auth/cors.c: configuration parsing and
 * the decision for simple requests, allowed and refused preflights.
 */
#include <check.h>
#include <string.h>

#include "auth/cors.h"
#include "check_main.h"

static ck_auth_cors_t *cors_of(const char *origins, const char *headers)
{
    ck_auth_cors_settings_t s = {origins, headers, 600};
    char err[256];
    ck_auth_cors_t *c = ck_auth_cors_new(&s, err, sizeof(err));
    ck_assert_msg(c != NULL, "rejected: %s", err);
    return c;
}

/* A request from the given method/Origin/ACRM/ACRH (NULL = header absent). */
static ck_auth_cors_request_t req_of(const char *method, const char *origin, const char *acrm, const char *acrh)
{
    ck_auth_cors_request_t r = {method, strlen(method),          origin, origin ? strlen(origin) : 0,
                                acrm,   acrm ? strlen(acrm) : 0, acrh,   acrh ? strlen(acrh) : 0};
    return r;
}

static ck_auth_cors_decision_t decide(const ck_auth_cors_t *c, const char *method, const char *origin, const char *acrm,
                                      const char *acrh)
{
    ck_auth_cors_request_t r = req_of(method, origin, acrm, acrh);
    ck_auth_cors_decision_t d;
    ck_auth_cors_decide(c, &r, &d);
    return d;
}

START_TEST(bad_settings_are_refused)
{
    const char *bad[] = {"example.com",        "https://",     "https://a.com/",
                         "https://a.com/path", "ftp://a.com",  "https://a.com:99999999",
                         "https://a b.com",    "https://[::1", "*,https://a.com"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_auth_cors_settings_t s = {bad[i], NULL, 600};
        ck_assert_msg(ck_auth_cors_new(&s, err, sizeof(err)) == NULL, "accepted %s", bad[i]);
    }
    ck_auth_cors_settings_t s = {"https://a.com", "content-type, bad header:", 600};
    ck_assert_ptr_null(ck_auth_cors_new(&s, err, sizeof(err)));
    s = (ck_auth_cors_settings_t){"https://a.com", NULL, -1};
    ck_assert_ptr_null(ck_auth_cors_new(&s, err, sizeof(err)));
}
END_TEST

START_TEST(off_by_default)
{
    ck_auth_cors_t *c = cors_of(NULL, NULL);
    ck_assert_int_eq(ck_auth_cors_enabled(c), 0);
    ck_auth_cors_decision_t d = decide(c, "POST", "https://a.com", NULL, NULL);
    ck_assert_int_eq(d.action, CK_AUTH_CORS_NONE);
    ck_assert_int_eq(d.vary, 0);
    d = decide(c, "OPTIONS", "https://a.com", "POST", "content-type");
    ck_assert_int_eq(d.action, CK_AUTH_CORS_FORBIDDEN);
    ck_auth_cors_free(c);
}
END_TEST

START_TEST(listed_origins)
{
    ck_auth_cors_t *c = cors_of("https://App.example.com, http://localhost:5173 ,https://[::1]:8443", NULL);
    ck_assert_int_eq(ck_auth_cors_enabled(c), 1);
    ck_auth_cors_decision_t d = decide(c, "POST", "https://app.example.com", NULL, NULL);
    ck_assert_int_eq(d.action, CK_AUTH_CORS_ALLOW);
    ck_assert_int_eq(d.vary, 1);
    ck_assert_uint_eq(d.allow_origin_len, strlen("https://app.example.com"));
    ck_assert_int_eq(decide(c, "GET", "http://localhost:5173", NULL, NULL).action, CK_AUTH_CORS_ALLOW);
    ck_assert_int_eq(decide(c, "GET", "https://[::1]:8443", NULL, NULL).action, CK_AUTH_CORS_ALLOW);
    /* Near misses: other scheme, port, suffix, prefix, no origin, null. */
    const char *miss[] = {"http://app.example.com",          "https://app.example.com:443",
                          "https://app.example.com.evil.io", "https://evil.app.example.com",
                          "http://localhost:5174",           "null"};
    for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
        d = decide(c, "POST", miss[i], NULL, NULL);
        ck_assert_msg(d.action == CK_AUTH_CORS_NONE, "allowed %s", miss[i]);
        ck_assert_int_eq(d.vary, 1);
        ck_assert_ptr_null(d.allow_origin);
    }
    ck_assert_int_eq(decide(c, "POST", NULL, NULL, NULL).action, CK_AUTH_CORS_NONE);
    ck_auth_cors_free(c);
}
END_TEST

START_TEST(preflights)
{
    ck_auth_cors_t *c = cors_of("https://app.example.com", NULL);
    ck_auth_cors_decision_t d =
        decide(c, "OPTIONS", "https://app.example.com", "POST", "Content-Type,Authorization, X-Custom-Fetch");
    ck_assert_int_eq(d.action, CK_AUTH_CORS_PREFLIGHT);
    ck_assert_str_eq(d.allow_headers, "content-type, authorization, x-custom-fetch");
    ck_assert_uint_eq(d.allow_headers_len, strlen(d.allow_headers));
    ck_assert_int_eq(d.max_age_s, 600);
    d = decide(c, "OPTIONS", "https://app.example.com", "PUT", NULL);
    ck_assert_int_eq(d.action, CK_AUTH_CORS_PREFLIGHT);
    ck_assert_str_eq(d.allow_headers, "");
    /* Refused: foreign origin, method, malformed header names. */
    ck_assert_int_eq(decide(c, "OPTIONS", "https://evil.io", "POST", "content-type").action, CK_AUTH_CORS_FORBIDDEN);
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", "DELETE", NULL).action, CK_AUTH_CORS_FORBIDDEN);
    d = decide(c, "OPTIONS", "https://app.example.com", "POST", "x-a, x(b)");
    ck_assert_int_eq(d.action, CK_AUTH_CORS_FORBIDDEN);
    /* Regression (found by fuzz_cors): a refused list left a partial,
     * unterminated allow_headers behind. */
    ck_assert_str_eq(d.allow_headers, "");
    ck_assert_uint_eq(d.allow_headers_len, 0);
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", "POST", "x-a\r\nset-cookie: 1").action,
                     CK_AUTH_CORS_FORBIDDEN);
    char many[4096] = "";
    for (int i = 0; i < 200; i++)
        strcat(many, "x-header-name, ");
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", "POST", many).action, CK_AUTH_CORS_FORBIDDEN);
    /* OPTIONS without Access-Control-Request-Method is not a preflight. */
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", NULL, NULL).action, CK_AUTH_CORS_ALLOW);
    ck_auth_cors_free(c);

    c = cors_of("https://app.example.com", "Content-Type, Authorization");
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", "POST", "authorization,content-type").action,
                     CK_AUTH_CORS_PREFLIGHT);
    ck_assert_int_eq(decide(c, "OPTIONS", "https://app.example.com", "POST", "authorization,x-other").action,
                     CK_AUTH_CORS_FORBIDDEN);
    ck_auth_cors_free(c);
}
END_TEST

START_TEST(wildcard)
{
    ck_auth_cors_t *c = cors_of("*", NULL);
    ck_auth_cors_decision_t d = decide(c, "POST", "https://anything.io:8080", NULL, NULL);
    ck_assert_int_eq(d.action, CK_AUTH_CORS_ALLOW);
    ck_assert_int_eq(memcmp(d.allow_origin, "https://anything.io:8080", d.allow_origin_len), 0);
    ck_assert_int_eq(decide(c, "POST", "null", NULL, NULL).action, CK_AUTH_CORS_NONE);
    ck_assert_int_eq(decide(c, "POST", "https://a.io\r\nx: y", NULL, NULL).action, CK_AUTH_CORS_NONE);
    ck_assert_int_eq(decide(c, "OPTIONS", "https://a.io", "GET", "accept-language").action, CK_AUTH_CORS_PREFLIGHT);
    ck_auth_cors_free(c);
}
END_TEST

static Suite *cors_suite(void)
{
    Suite *s = suite_create("cors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bad_settings_are_refused);
    tcase_add_test(tc, off_by_default);
    tcase_add_test(tc, listed_origins);
    tcase_add_test(tc, preflights);
    tcase_add_test(tc, wildcard);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(cors_suite)
