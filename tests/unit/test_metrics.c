/*
 * test_metrics.c - Check tests of src/base/metrics.c (counters added from
 * several threads sum up, histogram buckets are cumulative, label values are
 * escaped, the series cap folds new combinations into "other") and that
 * src/base/log.c masks PII (the masking itself: test_redact.c).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "check_main.h"

/* The exposition as a string (caller frees). */
static char *render(void)
{
    ck_strbuf_t b = {0};
    ck_assert_int_eq(ck_metrics_render(&b), 0);
    return ck_strbuf_take(&b);
}

static void *count_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        ck_metrics_inc(CK_M_TOOL_CALLS, CK_LABELS("threads", "ok"));
    return NULL;
}

START_TEST(counters_sum_over_threads)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, count_many, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_tool_calls_total{tool=\"threads\",outcome=\"ok\"} 400000\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE chatkitd_tool_calls_total counter\n"));
    free(s);
}
END_TEST

START_TEST(histogram_buckets_are_cumulative)
{
    ck_metrics_observe(CK_M_SEARCH_DURATION, NULL, 0.0001);
    ck_metrics_observe(CK_M_SEARCH_DURATION, NULL, 0.003);
    ck_metrics_observe(CK_M_SEARCH_DURATION, NULL, 99);
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_bucket{le=\"0.005\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_bucket{le=\"2.5\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_count 3\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_search_duration_seconds_sum 99.0031"));
    free(s);
}
END_TEST

START_TEST(gauges_and_escaping)
{
    ck_metrics_gauge_add(CK_M_OPEN_STREAMS, NULL, 3);
    ck_metrics_gauge_add(CK_M_OPEN_STREAMS, NULL, -5);
    ck_metrics_inc(CK_M_AUTH_FAILURES, CK_LABELS("a\"b\\c\nd"));
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_open_streams -2\n"));
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_auth_failures_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"));
    free(s);
}
END_TEST

START_TEST(series_are_capped)
{
    char name[32];
    for (int i = 0; i < CK_METRICS_MAX_SERIES + 50; i++) {
        snprintf(name, sizeof name, "limit%d", i);
        ck_metrics_inc(CK_M_RATE_LIMITED, CK_LABELS(name));
    }
    char *s = render();
    ck_assert_ptr_nonnull(strstr(s, "chatkitd_rate_limited_total{limit=\"other\"} 50\n"));
    ck_assert_ptr_null(strstr(s, "limit=\"limit520\""));
    free(s);
}
END_TEST

static void assert_masked(const char *in, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", in);
    ck_log_mask(buf, sizeof buf);
    ck_assert_str_eq(buf, want);
}

START_TEST(log_masks_pii)
{
    assert_masked("mail jane.doe@example.com now", "mail [EMAIL] now");
    assert_masked("card 4111 1111 1111 1111 ok", "card [CARD] ok");
    assert_masked("2026-12-01T23:19:03.123Z 127.0.0.1:8000 thr_0123456789abcdef v1.2.3",
                  "2026-12-01T23:19:03.123Z 127.0.0.1:8000 thr_0123456789abcdef v1.2.3");
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counters_sum_over_threads);
    tcase_add_test(tc, histogram_buckets_are_cumulative);
    tcase_add_test(tc, gauges_and_escaping);
    tcase_add_test(tc, series_are_capped);
    tcase_add_test(tc, log_masks_pii);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(metrics_suite)
