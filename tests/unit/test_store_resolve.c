/*
 * test_store_resolve.c - Check tests of the pure parts of src/store/resolve.c:
 * which conninfo hosts need a lookup off the loop, and the rewriting of a
 * conninfo into keyword/value arrays with host/hostaddr filled in.  Also the
 * refresh -> cache path with "localhost" (resolved from /etc/hosts).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "store/resolve.h"

/* The value of `key` in the parsed arrays, or NULL. */
static const char *value_of(const ck_store_conninfo_t *ci, const char *key)
{
    for (int i = 0; ci->keywords[i] != NULL; i++)
        if (strcmp(ci->keywords[i], key) == 0)
            return ci->values[i];
    return NULL;
}

START_TEST(classifies_hosts)
{
    ck_assert_int_eq(ck_store_host_needs_lookup("db"), 1);
    ck_assert_int_eq(ck_store_host_needs_lookup("localhost"), 1);
    ck_assert_int_eq(ck_store_host_needs_lookup("db.example.com"), 1);
    ck_assert_int_eq(ck_store_host_needs_lookup(NULL), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup(""), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("/tmp/pg"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("@abstract"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("127.0.0.1"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("::1"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("fe80::1"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("a,b"), 0);
    ck_assert_int_eq(ck_store_host_needs_lookup("10.0.0.1,db"), 0);
}
END_TEST

START_TEST(leaves_other_conninfos_alone)
{
    const char *as_is[] = {
        "host=/tmp/pg port=5432 dbname=x",
        "postgresql://u@127.0.0.1:5432/x",
        "postgresql://u@[::1]:5432/x",
        "host=db hostaddr=10.0.0.5 dbname=x",
        "host=a,b dbname=x",
        "dbname=x",
        "this is = not a conninfo '",
    };
    for (size_t i = 0; i < sizeof(as_is) / sizeof(as_is[0]); i++) {
        ck_store_conninfo_t ci;
        ck_assert_msg(ck_store_conninfo_parse(as_is[i], &ci) == 0, "%s", as_is[i]);
        ck_assert_ptr_null(ci.keywords);
        ck_assert_ptr_null(ci.lookup_name);
        ck_store_conninfo_free(&ci);
    }
}
END_TEST

START_TEST(rewrites_uri_with_name)
{
    ck_store_conninfo_t ci;
    ck_assert_int_eq(ck_store_conninfo_parse("postgresql://chatkitd:pw@db:5433/chatkitd?sslmode=require", &ci), 1);
    ck_assert_str_eq(ci.lookup_name, "db");
    ck_assert_str_eq(value_of(&ci, "host"), "db");
    ck_assert_str_eq(value_of(&ci, "port"), "5433");
    ck_assert_str_eq(value_of(&ci, "user"), "chatkitd");
    ck_assert_str_eq(value_of(&ci, "password"), "pw");
    ck_assert_str_eq(value_of(&ci, "dbname"), "chatkitd");
    ck_assert_str_eq(value_of(&ci, "sslmode"), "require");
    ck_assert_ptr_null(value_of(&ci, "hostaddr"));

    ck_assert_int_eq(ck_store_conninfo_set_addrs(&ci, "10.1.2.3"), 0);
    ck_assert_str_eq(value_of(&ci, "host"), "db");
    ck_assert_str_eq(value_of(&ci, "hostaddr"), "10.1.2.3");
    /* a second fill (a reconnect after the address changed) replaces both */
    ck_assert_int_eq(ck_store_conninfo_set_addrs(&ci, "::1,127.0.0.1"), 0);
    ck_assert_str_eq(value_of(&ci, "host"), "db,db");
    ck_assert_str_eq(value_of(&ci, "hostaddr"), "::1,127.0.0.1");
    ck_store_conninfo_free(&ci);
    ck_assert_ptr_null(ci.keywords);
    ck_store_conninfo_free(&ci); /* idempotent */
}
END_TEST

START_TEST(rewrites_keyword_form_with_empty_hostaddr)
{
    ck_store_conninfo_t ci;
    ck_assert_int_eq(ck_store_conninfo_parse("host=pg.internal hostaddr='' port=6000 dbname=d", &ci), 1);
    ck_assert_str_eq(ci.lookup_name, "pg.internal");
    ck_assert_int_eq(ck_store_conninfo_set_addrs(&ci, "192.0.2.7"), 0);
    int hostaddrs = 0;
    for (int i = 0; ci.keywords[i] != NULL; i++)
        hostaddrs += strcmp(ci.keywords[i], "hostaddr") == 0;
    ck_assert_int_eq(hostaddrs, 1);
    ck_assert_str_eq(value_of(&ci, "hostaddr"), "192.0.2.7");
    ck_assert_str_eq(value_of(&ci, "port"), "6000");
    ck_store_conninfo_free(&ci);
}
END_TEST

START_TEST(refresh_publishes_localhost)
{
    ck_assert_int_eq(ck_store_resolve_refresh("host=/tmp dbname=x"), 0); /* nothing to resolve */
    ck_assert_ptr_null(ck_store_resolved("localhost"));
    ck_assert_int_eq(ck_store_resolve_refresh("host=localhost port=1 dbname=x"), 0);
    char *addrs = ck_store_resolved("localhost");
    ck_assert_ptr_nonnull(addrs);
    ck_assert_msg(strstr(addrs, "127.0.0.1") != NULL || strstr(addrs, "::1") != NULL, "%s", addrs);
    free(addrs);
    ck_assert_ptr_null(ck_store_resolved("db"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_resolve");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, classifies_hosts);
    tcase_add_test(tc, leaves_other_conninfos_alone);
    tcase_add_test(tc, rewrites_uri_with_name);
    tcase_add_test(tc, rewrites_keyword_form_with_empty_hostaddr);
    tcase_add_test(tc, refresh_publishes_localhost);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(make_suite)
