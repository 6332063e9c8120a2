/*
 * test_http_multipart.c - Check tests of the multipart/form-data reader
 * (src/http/multipart.c): boundary parsing (quoted, case, missing), the
 * `file` part among others, filename and Content-Type, binary content with
 * CR/LF and near-boundary bytes, preamble, malformed bodies and every
 * truncation of a valid body.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"
#include "check_main.h"

#define CT "multipart/form-data; boundary=XyZ"

static const char BODY[] = "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"note\"\r\n"
                           "\r\n"
                           "hello\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"file\"; filename=\"a b.png\"\r\n"
                           "Content-Type: image/png\r\n"
                           "\r\n"
                           "\x89PNG\r\n--Xy\r\n\x00\x01"
                           "\r\n"
                           "--XyZ--\r\n";

static int find(const char *ct, const char *body, size_t len, ck_http_multipart_part_t *part)
{
    return ck_http_multipart_find_file(ct, ct != NULL ? strlen(ct) : 0, body, len, part);
}

START_TEST(finds_file_part)
{
    ck_http_multipart_part_t part;
    ck_assert_int_eq(find(CT, BODY, sizeof BODY - 1, &part), CK_MULTIPART_OK);
    ck_assert_uint_eq(part.data_len, 14);
    ck_assert(memcmp(part.data, "\x89PNG\r\n--Xy\r\n\x00\x01", 14) == 0);
    ck_assert_uint_eq(part.filename_len, 7);
    ck_assert(memcmp(part.filename, "a b.png", 7) == 0);
    ck_assert_uint_eq(part.content_type_len, 9);
    ck_assert(memcmp(part.content_type, "image/png", 9) == 0);
}
END_TEST

START_TEST(other_names)
{
    ck_http_multipart_part_t part;
    ck_assert_int_eq(ck_http_multipart_find(CT, strlen(CT), BODY, sizeof BODY - 1, "note", &part), CK_MULTIPART_OK);
    ck_assert_uint_eq(part.data_len, 5);
    ck_assert(part.filename == NULL && part.content_type == NULL);
    ck_assert_int_eq(ck_http_multipart_find(CT, strlen(CT), BODY, sizeof BODY - 1, "fil", &part), CK_MULTIPART_NO_FILE);
}
END_TEST

START_TEST(content_type_variants)
{
    ck_http_multipart_part_t part;
    ck_assert_int_eq(find("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"XyZ\"", BODY, sizeof BODY - 1, &part),
                     CK_MULTIPART_OK);
    ck_assert_int_eq(find("multipart/form-data", BODY, sizeof BODY - 1, &part), CK_MULTIPART_NOT_MULTIPART);
    ck_assert_int_eq(find("multipart/form-data; boundary=", BODY, sizeof BODY - 1, &part), CK_MULTIPART_NOT_MULTIPART);
    ck_assert_int_eq(find("application/json", BODY, sizeof BODY - 1, &part), CK_MULTIPART_NOT_MULTIPART);
    ck_assert_int_eq(find(NULL, BODY, sizeof BODY - 1, &part), CK_MULTIPART_NOT_MULTIPART);
    ck_assert_int_eq(find("multipart/form-data; boundary=Other", BODY, sizeof BODY - 1, &part), CK_MULTIPART_MALFORMED);
    char longb[128] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'a', 71);
    ck_assert_int_eq(find(longb, BODY, sizeof BODY - 1, &part), CK_MULTIPART_NOT_MULTIPART);
}
END_TEST

START_TEST(preamble_and_unquoted_name)
{
    static const char body[] = "ignored preamble\r\n--XyZ\r\n"
                               "content-disposition: form-data; name=file\r\n\r\n"
                               "abc\r\n--XyZ--";
    ck_http_multipart_part_t part;
    ck_assert_int_eq(find(CT, body, sizeof body - 1, &part), CK_MULTIPART_OK);
    ck_assert_uint_eq(part.data_len, 3);
    ck_assert(memcmp(part.data, "abc", 3) == 0);
}
END_TEST

START_TEST(empty_file)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--XyZ--\r\n";
    ck_http_multipart_part_t part;
    ck_assert_int_eq(find(CT, body, sizeof body - 1, &part), CK_MULTIPART_OK);
    ck_assert_uint_eq(part.data_len, 0);
}
END_TEST

START_TEST(malformed_bodies)
{
    static const char *const bodies[] = {
        "",
        "--XyZ",
        "--XyZ\r\n",
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end",
        "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nx\r\n--XyZ--",
        "--XyZgarbage\r\n",
        "x--XyZ\r\n",
    };
    ck_http_multipart_part_t part;
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        ck_assert_msg(find(CT, bodies[i], strlen(bodies[i]), &part) == CK_MULTIPART_MALFORMED, "body %zu", i);
    ck_assert_int_eq(find(CT, NULL, 0, &part), CK_MULTIPART_MALFORMED);
    ck_assert_int_eq(find(CT, "--XyZ--\r\n", 9, &part), CK_MULTIPART_NO_FILE);
}
END_TEST

/* Every prefix of a valid body is either rejected or (once the file part is
 * complete) found with the right content; never a crash or a wrong part. */
START_TEST(every_truncation)
{
    ck_http_multipart_part_t part;
    for (size_t n = 0; n < sizeof BODY - 1; n++) {
        char *copy = malloc(n > 0 ? n : 1);
        memcpy(copy, BODY, n);
        int rc = find(CT, copy, n, &part);
        if (rc == CK_MULTIPART_OK)
            ck_assert_uint_eq(part.data_len, 14);
        else
            ck_assert_int_eq(rc, CK_MULTIPART_MALFORMED);
        free(copy);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_multipart");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, finds_file_part);
    tcase_add_test(tc, other_names);
    tcase_add_test(tc, content_type_variants);
    tcase_add_test(tc, preamble_and_unquoted_name);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, malformed_bodies);
    tcase_add_test(tc, every_truncation);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
