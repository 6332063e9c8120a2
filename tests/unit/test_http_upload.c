/*
 * test_http_upload.c - Check tests of the upload helpers of src/http:
 * signed URL tokens (url_token.c: round trip, expiry, purpose and id
 * binding, forgery, garbage), the MIME allow-list (upload_policy.c) and the
 * pipe-table pass of the documentation pages (docs_tables.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/docs.h"
#include "http/upload_policy.h"
#include "http/url_token.h"
#include "check_main.h"

static const ck_http_token_key_t KEY = {(const unsigned char *)"0123456789abcdef0123456789abcdef", 32};
static const ck_http_token_key_t OTHER_KEY = {(const unsigned char *)"fedcba9876543210fedcba9876543210", 32};

START_TEST(token_round_trip)
{
    char token[CK_HTTP_TOKEN_MAX], user[CK_USER_ID_MAX];
    ck_assert_int_eq(ck_http_token_sign(KEY, CK_TOKEN_UPLOAD, "atc_1", "alice@example.com", 1000, token), 0);
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, strlen(token), 999, user), 1);
    ck_assert_str_eq(user, "alice@example.com");
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, strlen(token), 1000, user), 1);
    for (const char *p = token; *p; p++)
        ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p) != NULL);
}
END_TEST

START_TEST(token_rejections)
{
    char token[CK_HTTP_TOKEN_MAX], user[CK_USER_ID_MAX];
    ck_assert_int_eq(ck_http_token_sign(KEY, CK_TOKEN_UPLOAD, "atc_1", "alice", 1000, token), 0);
    size_t n = strlen(token);
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, n, 1001, user), 0); /* expired */
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_PREVIEW, "atc_1", token, n, 1, user), 0);   /* purpose */
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_2", token, n, 1, user), 0);    /* id */
    ck_assert_int_eq(ck_http_token_verify(OTHER_KEY, CK_TOKEN_UPLOAD, "atc_1", token, n, 1, user), 0);
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, n - 1, 1, user), 0);
    /* another user with the same MAC */
    char forged[CK_HTTP_TOKEN_MAX];
    strcpy(forged, "Ym9i"); /* "bob" */
    strcat(forged, strchr(token, '.'));
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", forged, strlen(forged), 1, user), 0);
    /* a later expiry with the same MAC */
    char *dot = strchr(token, '.');
    dot[1] = '2';
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, n, 1, user), 0);
    static const char *const garbage[] = {"",
                                          ".",
                                          "..",
                                          "a.b.c",
                                          "YWxpY2U..",
                                          "YWxpY2U.99999999999999999999.x",
                                          "YWxpY2U.-1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                          "!!!.0.x"};
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
        ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", garbage[i], strlen(garbage[i]), 1, user),
                         0);
}
END_TEST

START_TEST(preview_tokens_do_not_expire)
{
    char token[CK_HTTP_TOKEN_MAX], user[CK_USER_ID_MAX];
    ck_assert_int_eq(ck_http_token_sign(KEY, CK_TOKEN_PREVIEW, "atc_1", "alice", 0, token), 0);
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_PREVIEW, "atc_1", token, strlen(token), 4000000000, user), 1);
}
END_TEST

START_TEST(token_user_limits)
{
    char token[CK_HTTP_TOKEN_MAX], user[CK_USER_ID_MAX], longest[CK_USER_ID_MAX];
    memset(longest, 'u', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ck_assert_int_eq(ck_http_token_sign(KEY, CK_TOKEN_UPLOAD, "atc_1", longest, 5, token), 0);
    ck_assert_int_eq(ck_http_token_verify(KEY, CK_TOKEN_UPLOAD, "atc_1", token, strlen(token), 1, user), 1);
    ck_assert_str_eq(user, longest);
    char too_long[CK_USER_ID_MAX + 1];
    memset(too_long, 'u', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert_int_eq(ck_http_token_sign(KEY, CK_TOKEN_UPLOAD, "atc_1", too_long, 5, token), -1);
}
END_TEST

static int allowed(const char *list, const char *mime) { return ck_http_mime_allowed(list, mime, strlen(mime)); }

START_TEST(mime_allow_list)
{
    const char *list = CK_HTTP_DEFAULT_MIME_TYPES;
    ck_assert(allowed(list, "image/png"));
    ck_assert(allowed(list, "IMAGE/PNG"));
    ck_assert(allowed(list, " text/plain; charset=utf-8"));
    ck_assert(allowed(list, "application/pdf"));
    ck_assert(!allowed(list, "application/pdfx"));
    ck_assert(!allowed(list, "image/"));
    ck_assert(!allowed(list, "image"));
    ck_assert(!allowed(list, "text/html"));
    ck_assert(!allowed(list, ""));
    ck_assert(!allowed(list, "image/png/x"));
    ck_assert(!allowed(list, "image/p ng"));
    ck_assert(allowed("*", "application/zip"));
    ck_assert(allowed(" application/zip , */*", "video/mp4"));
    ck_assert(!allowed("", "image/png"));
    ck_assert_str_eq(ck_http_attachment_type("image/jpeg", 10), "image");
    ck_assert_str_eq(ck_http_attachment_type("Image/JPEG;q=1", 14), "image");
    ck_assert_str_eq(ck_http_attachment_type("application/pdf", 15), "file");
    ck_assert_str_eq(ck_http_attachment_type("image/", 6), "file");
}
END_TEST

START_TEST(docs_tables)
{
    static const char md[] = "# T\n\n| a | b |\n|---|:-:|\n| `x\\|y` | **z** |\n| 1 |\n\ntext | not a table\n"
                             "```\n| in | fence |\n|---|---|\n```\n";
    size_t len = 0;
    char *out = ck_http_docs_tables_to_html(md, sizeof md - 1, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_ptr_nonnull(strstr(out, "<tr><th>a</th><th>b</th></tr>"));
    ck_assert_ptr_nonnull(strstr(out, "<tr><td><code>x|y</code></td><td><strong>z</strong></td></tr>"));
    ck_assert_ptr_nonnull(strstr(out, "<tr><td>1</td></tr>"));
    ck_assert_ptr_nonnull(strstr(out, "text | not a table\n"));
    ck_assert_ptr_nonnull(strstr(out, "| in | fence |\n|---|---|\n"));
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_upload");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, token_round_trip);
    tcase_add_test(tc, token_rejections);
    tcase_add_test(tc, preview_tokens_do_not_expire);
    tcase_add_test(tc, token_user_limits);
    tcase_add_test(tc, mime_allow_list);
    tcase_add_test(tc, docs_tables);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
