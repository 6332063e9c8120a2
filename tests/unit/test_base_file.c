/*
 * test_base_file.c - Check tests of src/base/file.c: the size cap at exactly
 * max and max + 1 bytes, empty files, embedded NULs, reading from the current
 * position, a stream without a file size (growth by doubling) and a read
 * error (a directory).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "check_main.h"

/* A temporary file holding `n` bytes of `data`, rewound. */
static FILE *temp_with(const char *data, size_t n)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    rewind(f);
    return f;
}

START_TEST(reads_up_to_the_cap)
{
    FILE *f = temp_with("abcdef", 6);
    size_t len = 99;
    char *s = ck_file_read_all(f, 6, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, 6);
    ck_assert_str_eq(s, "abcdef");
    free(s);
    rewind(f);
    len = 99;
    errno = 0;
    ck_assert_ptr_null(ck_file_read_all(f, 5, &len));
    ck_assert_int_eq(errno, EFBIG);
    ck_assert_uint_eq(len, 99);
    fclose(f);
}
END_TEST

START_TEST(empty_nuls_and_position)
{
    FILE *f = temp_with("", 0);
    size_t len = 99;
    char *s = ck_file_read_all(f, 0, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(s, "");
    free(s);
    fclose(f);

    f = temp_with("x\0y\0z", 5);
    ck_assert_int_eq(fgetc(f), 'x');
    s = ck_file_read_all(f, 4, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(s, "\0y\0z", 5), 0);
    free(s);
    fclose(f);
}
END_TEST

START_TEST(grows_without_a_file_size)
{
    size_t n = 100000;
    char *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    FILE *f = fmemopen(data, n, "rb"); /* no file descriptor: no size hint */
    ck_assert_ptr_nonnull(f);
    size_t len = 0;
    char *s = ck_file_read_all(f, n, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(memcmp(s, data, n), 0);
    ck_assert_int_eq(s[n], '\0');
    free(s);
    rewind(f);
    errno = 0;
    ck_assert_ptr_null(ck_file_read_all(f, n - 1, NULL));
    ck_assert_int_eq(errno, EFBIG);
    fclose(f);
    free(data);
}
END_TEST

START_TEST(read_error_sets_errno)
{
    FILE *f = fopen("/", "rb"); /* opens on Linux; reading gives EISDIR */
    ck_assert_ptr_nonnull(f);
    errno = 0;
    ck_assert_ptr_null(ck_file_read_all(f, 1024, NULL));
    ck_assert_int_eq(errno, EISDIR);
    fclose(f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("base_file");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, reads_up_to_the_cap);
    tcase_add_test(tc, empty_nuls_and_position);
    tcase_add_test(tc, grows_without_a_file_size);
    tcase_add_test(tc, read_error_sets_errno);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
