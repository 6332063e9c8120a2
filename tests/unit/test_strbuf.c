/*
 * test_strbuf.c - Check tests of src/base/strbuf.c: appending across many
 * reallocations, embedded NULs, reserve, clear (allocation kept), free, and take
 * (empty, reset).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "check_main.h"

START_TEST(appends_and_takes)
{
    ck_strbuf_t b = {0};
    for (int i = 0; i < 1000; i++)
        ck_strbuf_adds(&b, "abc");
    ck_strbuf_addc(&b, 'd');
    ck_strbuf_add(&b, "e\0f", 3);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_uint_eq(b.len, 3004);
    ck_assert_uint_eq(strlen(b.p), 3002);
    ck_assert_mem_eq(b.p + 2997, "abcde\0f", 8);
    char *s = ck_strbuf_take(&b);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.len, 0);
    free(s);
}
END_TEST

START_TEST(empty_and_reserve)
{
    ck_strbuf_t b = {0};
    char *s = ck_strbuf_take(&b);
    ck_assert_str_eq(s, "");
    free(s);
    ck_strbuf_reserve(&b, 1000);
    ck_assert_ptr_nonnull(b.p);
    ck_assert_uint_ge(b.cap, 1001);
    ck_assert_str_eq(b.p, "");
    size_t cap = b.cap;
    char *before = b.p;
    for (int i = 0; i < 1000; i++)
        ck_strbuf_addc(&b, 'x');
    ck_assert_ptr_eq(b.p, before);
    ck_assert_uint_eq(b.cap, cap);
    free(b.p);
}
END_TEST

START_TEST(clear_keeps_the_allocation)
{
    ck_strbuf_t b = {0};
    ck_strbuf_adds(&b, "first line");
    char *before = b.p;
    ck_strbuf_clear(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.p, "");
    ck_assert_ptr_eq(b.p, before);
    ck_strbuf_adds(&b, "second");
    ck_assert_str_eq(b.p, "second");
    ck_assert_ptr_eq(b.p, before);
    b.failed = 1;
    ck_strbuf_clear(&b);
    ck_assert_int_eq(b.failed, 0);
    ck_strbuf_adds(&b, "third");
    ck_assert_str_eq(b.p, "third");
    ck_strbuf_free(&b);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.len + b.cap, 0);
    ck_strbuf_adds(&b, "again");
    ck_assert_str_eq(b.p, "again");
    ck_strbuf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("strbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, appends_and_takes);
    tcase_add_test(tc, empty_and_reserve);
    tcase_add_test(tc, clear_keeps_the_allocation);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
