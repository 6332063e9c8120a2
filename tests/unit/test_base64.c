/*
 * test_base64.c - Check tests of src/base/base64.c: strict standard
 * decoding (padding rules, foreign characters), lenient decoding (skipped
 * characters, the byte cap), and the base64url round trip with its cap.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "check_main.h"

/* Strict-decodes `in`; returns 1 when it decodes to exactly `want`. */
static int strict_is(const char *in, const char *want)
{
    size_t len = 99;
    unsigned char *out = ck_base64_decode(in, strlen(in), &len);
    int ok = out != NULL && len == strlen(want) && memcmp(out, want, len) == 0;
    free(out);
    return ok;
}

static int strict_rejects(const char *in)
{
    size_t len = 0;
    unsigned char *out = ck_base64_decode(in, strlen(in), &len);
    free(out);
    return out == NULL;
}

START_TEST(strict_accepts)
{
    ck_assert(strict_is("", ""));
    ck_assert(strict_is("Zg==", "f"));
    ck_assert(strict_is("Zg", "f"));
    ck_assert(strict_is("Zm8=", "fo"));
    ck_assert(strict_is("Zm8", "fo"));
    ck_assert(strict_is("Zm9v", "foo"));
    ck_assert(strict_is("Zm9vYmFy", "foobar"));
    ck_assert(strict_is("+/+/", "\xfb\xff\xbf"));
}
END_TEST

START_TEST(strict_rejections)
{
    ck_assert(strict_rejects("Z"));
    ck_assert(strict_rejects("Zm9vY"));
    ck_assert(strict_rejects("Zg="));
    ck_assert(strict_rejects("Zm9v Zg=="));
    ck_assert(strict_rejects("Zm9v\n"));
    ck_assert(strict_rejects(" Zm9v"));
    ck_assert(strict_rejects("Zg==Zg=="));
    ck_assert(strict_rejects("Zm9v-_"));
    ck_assert(strict_rejects("Zg==="));
}
END_TEST

START_TEST(strict_long_input)
{
    /* Longer than one internal chunk: 300 bytes of 0..255 and back. */
    unsigned char bytes[300];
    char text[CK_BASE64URL_ENCODED_MAX(300)];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)i;
    size_t n = ck_base64url_encode(bytes, sizeof bytes, text);
    ck_assert_uint_eq(n, 400);
    for (size_t i = 0; i < n; i++)
        text[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    size_t len = 0;
    unsigned char *out = ck_base64_decode(text, n, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, sizeof bytes);
    ck_assert_mem_eq(out, bytes, sizeof bytes);
    free(out);
}
END_TEST

START_TEST(lenient_skips_and_caps)
{
    static const char in[] = "Zm9v\nYmFy\r\n Zm9v=YmFy==\n";
    size_t len = 0;
    unsigned char *out = ck_base64_decode_lenient(in, strlen(in), 100, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(out, "foobarfoobar", 12);
    free(out);
    out = ck_base64_decode_lenient(in, strlen(in), 4, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(out, "foob", 4);
    free(out);
    out = ck_base64_decode_lenient("Zm9vY", 5, 100, &len); /* lone final character dropped */
    ck_assert_uint_eq(len, 3);
    free(out);
    out = ck_base64_decode_lenient("", 0, 100, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, 0);
    free(out);
}
END_TEST

START_TEST(url_round_trip)
{
    static const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0x00, 0x41};
    char text[CK_BASE64URL_ENCODED_MAX(sizeof bytes)];
    ck_assert_uint_eq(ck_base64url_encode(bytes, sizeof bytes, text), 7);
    ck_assert_str_eq(text, "-_-_AEE");
    unsigned char back[8];
    ck_assert_int_eq(ck_base64url_decode(text, 7, back, sizeof back), 5);
    ck_assert_mem_eq(back, bytes, 5);
    ck_assert_int_eq(ck_base64url_decode(text, 7, back, 4), -1);
    ck_assert_int_eq(ck_base64url_decode("+/+/", 4, back, sizeof back), -1);
    ck_assert_int_eq(ck_base64url_decode("AEE=", 4, back, sizeof back), -1);
    ck_assert_int_eq(ck_base64url_decode("AEEAA", 5, back, sizeof back), -1);
    ck_assert_int_eq(ck_base64url_encode(bytes, 0, text), 0);
    ck_assert_str_eq(text, "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, strict_accepts);
    tcase_add_test(tc, strict_rejections);
    tcase_add_test(tc, strict_long_input);
    tcase_add_test(tc, lenient_skips_and_caps);
    tcase_add_test(tc, url_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
