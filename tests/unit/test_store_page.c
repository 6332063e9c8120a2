/*
 * test_store_page.c - Check tests of src/store/page.c, the JSON of the hot
 * reads built from result cells: JSON string escapes, timestamps, the Page
 * envelope (has_more, after), the wire Thread from a binary row (null title
 * and domains omitted, compacted jsonb, bad cells refused), and the
 * "not found" message cut at 128 characters.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/page.h"
#include "check_main.h"

static char *take(ck_strbuf_t *b)
{
    ck_assert_int_eq(b->failed, 0);
    return ck_strbuf_take(b);
}

START_TEST(json_strings)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"a\nb\tc\rd\be\ff", 11, "\"a\\nb\\tc\\rd\\be\\ff\""},
        {"ctl \x01 \x1f", 7, "\"ctl \\u0001 \\u001f\""},
        {"caf\xc3\xa9 /", 7, "\"caf\xc3\xa9 /\""},
        {"", 0, "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_strbuf_t b = {0};
        ck_store_json_string(&b, cases[i].in, cases[i].len);
        char *s = take(&b);
        ck_assert_str_eq(s, cases[i].want);
        free(s);
    }
}
END_TEST

START_TEST(timestamps)
{
    char buf[40];
    ck_store_ts_wire(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "2000-01-01T00:00:00.000000Z");
    ck_store_ts_wire(-1, buf, sizeof buf);
    ck_assert_str_eq(buf, "1999-12-31T23:59:59.999999Z");
    /* 2025-05-01T08:00:00.000003Z */
    ck_store_ts_wire((int64_t)799401600 * 1000000 + 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "2025-05-01T08:00:00.000003Z");
}
END_TEST

START_TEST(pages)
{
    ck_strbuf_t b = {0};
    ck_store_page_open(&b);
    ck_store_page_close(&b, 0, NULL, 0);
    char *s = take(&b);
    ck_assert_str_eq(s, "{\"data\":[],\"has_more\":false}");
    free(s);

    ck_store_page_open(&b);
    ck_store_page_add_json(&b, 0, "{\"a\": 1, \"s\": \"x y\"}", 20);
    ck_store_page_add_json(&b, 1, "[1, 2]", 6);
    ck_store_page_close(&b, 1, "itm_\"2", 6);
    s = take(&b);
    ck_assert_str_eq(s, "{\"data\":[{\"a\":1,\"s\":\"x y\"},[1,2]],\"has_more\":true,\"after\":\"itm_\\\"2\"}");
    free(s);
}
END_TEST

/* A thread row as the binary protocol delivers it. */
static const char created_at[8] = {0, 0, 0, 0, 0, 0, 0, 5}; /* 5 us after 2000-01-01 */

START_TEST(threads)
{
    ck_store_thread_cols_t t = {
        .id = {"thr_1", 5},
        .title = {NULL, 0},
        .status = {"\x01{\"type\": \"active\"}", 19},
        .domains = {NULL, 0},
        .created_at = {created_at, 8},
    };
    static const char items[] = "{\"data\":[],\"has_more\":false}";
    ck_strbuf_t b = {0};
    ck_assert_int_eq(ck_store_thread_json(&b, &t, items, sizeof items - 1), 0);
    char *s = take(&b);
    ck_assert_str_eq(s, "{\"id\":\"thr_1\",\"status\":{\"type\":\"active\"},\"metadata\":{},"
                        "\"created_at\":\"2000-01-01T00:00:00.000005Z\",\"items\":{\"data\":[],\"has_more\":false}}");
    free(s);

    t.title = (ck_store_cell_t){"a \"t\"", 5};
    t.domains = (ck_store_cell_t){"\x01[\"a.example\", \"b\"]", 19};
    ck_assert_int_eq(ck_store_thread_json(&b, &t, items, sizeof items - 1), 0);
    s = take(&b);
    ck_assert_str_eq(s,
                     "{\"id\":\"thr_1\",\"title\":\"a \\\"t\\\"\",\"status\":{\"type\":\"active\"},\"metadata\":{},"
                     "\"created_at\":\"2000-01-01T00:00:00.000005Z\",\"allowed_image_domains\":[\"a.example\",\"b\"],"
                     "\"items\":{\"data\":[],\"has_more\":false}}");
    free(s);

    /* a recorded assistant is the only metadata on the wire; any other JSON there is not */
    t.assistant = (ck_store_cell_t){"\x01\"support\"", 10};
    ck_assert_int_eq(ck_store_thread_json(&b, &t, items, sizeof items - 1), 0);
    s = take(&b);
    ck_assert_ptr_nonnull(strstr(s, ",\"metadata\":{\"assistant\":\"support\"},"));
    free(s);
    t.assistant = (ck_store_cell_t){"\x01{\"a\": 1}", 9};
    ck_assert_int_eq(ck_store_thread_json(&b, &t, items, sizeof items - 1), 0);
    s = take(&b);
    ck_assert_ptr_nonnull(strstr(s, ",\"metadata\":{},"));
    free(s);
    t.assistant = (ck_store_cell_t){NULL, 0};

    /* not the binary forms: refused, nothing appended */
    ck_store_thread_cols_t bad = t;
    bad.status = (ck_store_cell_t){"{\"type\": \"active\"}", 18}; /* no version byte */
    ck_assert_int_eq(ck_store_thread_json(&b, &bad, items, sizeof items - 1), -1);
    bad = t;
    bad.created_at = (ck_store_cell_t){"2000-01-01", 10};
    ck_assert_int_eq(ck_store_thread_json(&b, &bad, items, sizeof items - 1), -1);
    bad = t;
    bad.id = (ck_store_cell_t){NULL, 0};
    ck_assert_int_eq(ck_store_thread_json(&b, &bad, items, sizeof items - 1), -1);
    ck_assert_uint_eq(b.len, 0);
    free(b.p);
}
END_TEST

START_TEST(not_found)
{
    char out[700];
    ck_store_page_not_found(out, sizeof out, "thread", "thr_1");
    ck_assert_str_eq(out, "thread thr_1 not found");
    char id[400];
    for (int i = 0; i < 130; i++)
        memcpy(id + 2 * i, "\xc3\xa9", 2); /* 130 x U+00E9 */
    id[260] = 0;
    ck_store_page_not_found(out, sizeof out, "thread", id);
    ck_assert_uint_eq(strlen(out), strlen("thread  not found") + 256); /* 128 characters, 2 bytes each */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_page");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, json_strings);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, pages);
    tcase_add_test(tc, threads);
    tcase_add_test(tc, not_found);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
