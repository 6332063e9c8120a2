/*
 * test_rate_limit.c - unit tests of src/auth/rate_limit.c with an injected
 * clock: bursts, refill and Retry-After, turn and stream limits, that refused
 * requests consume nothing, bounded memory with eviction, and exact counting
 * under concurrent use from several threads.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/rate_limit.h"
#include "check_main.h"

static uint64_t g_now = 1000000;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return __atomic_load_n(&g_now, __ATOMIC_SEQ_CST);
}

static ck_auth_rate_t *limiter(unsigned requests, unsigned turns, unsigned streams, size_t max_users)
{
    ck_auth_rate_config_t cfg = {requests, turns, streams, max_users, fake_clock, NULL};
    ck_auth_rate_t *r = ck_auth_rate_new(&cfg);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(burst_then_steady_rate)
{
    ck_auth_rate_t *r = limiter(60, 0, 0, 0);
    uint32_t retry = 0;
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, &retry), CK_AUTH_RATE_REQUESTS);
    ck_assert_uint_eq(retry, 1);
    g_now += 999;
    ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, &retry), CK_AUTH_RATE_REQUESTS);
    g_now += 1;
    ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, &retry), CK_AUTH_RATE_REQUESTS);
    /* Another user has a bucket of their own. */
    ck_assert_int_eq(ck_auth_rate_admit(r, "bob", 0, &retry), CK_AUTH_RATE_OK);
    /* A long pause refills to capacity, not beyond. */
    g_now += 3600 * 1000;
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, NULL), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "alice", 0, NULL), CK_AUTH_RATE_REQUESTS);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(retry_after_matches_refill)
{
    ck_auth_rate_t *r = limiter(6, 0, 0, 0);
    uint32_t retry = 0;
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_REQUESTS);
    ck_assert_uint_eq(retry, 10);
    g_now += 4000;
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_REQUESTS);
    ck_assert_uint_eq(retry, 6);
    g_now += 5999;
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_REQUESTS);
    ck_assert_uint_eq(retry, 1);
    g_now += 1;
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_OK);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(turns_and_streams)
{
    ck_auth_rate_t *r = limiter(100, 2, 0, 0);
    uint32_t retry = 0;
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_TURNS);
    ck_assert_uint_eq(retry, 30);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_OK);
    ck_assert_uint_eq(ck_auth_rate_streams(r, "u"), 2);
    ck_auth_rate_free(r);

    r = limiter(0, 0, 2, 0);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_STREAMS);
    ck_assert_uint_eq(retry, 1);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, &retry), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "v", 1, &retry), CK_AUTH_RATE_OK);
    ck_auth_rate_stream_end(r, "u");
    ck_assert_uint_eq(ck_auth_rate_streams(r, "u"), 1);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, &retry), CK_AUTH_RATE_OK);
    for (int i = 0; i < 5; i++)
        ck_auth_rate_stream_end(r, "u");
    ck_assert_uint_eq(ck_auth_rate_streams(r, "u"), 0);
    ck_auth_rate_stream_end(r, "never-seen");
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, NULL), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, NULL), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, NULL), CK_AUTH_RATE_STREAMS);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(refused_requests_consume_nothing)
{
    ck_auth_rate_t *r = limiter(2, 1, 0, 0);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, NULL), CK_AUTH_RATE_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ck_auth_rate_admit(r, "u", 1, NULL), CK_AUTH_RATE_TURNS);
    ck_assert_uint_eq(ck_auth_rate_streams(r, "u"), 1);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, NULL), CK_AUTH_RATE_OK);
    ck_assert_int_eq(ck_auth_rate_admit(r, "u", 0, NULL), CK_AUTH_RATE_REQUESTS);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(unlimited_when_zero)
{
    ck_auth_rate_t *r = limiter(0, 0, 0, 0);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(ck_auth_rate_admit(r, "u", i & 1, NULL), CK_AUTH_RATE_OK);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(memory_is_bounded)
{
    ck_auth_rate_t *r = limiter(10, 5, 0, 2 * CK_AUTH_RATE_SHARDS);
    char user[32];
    ck_assert_int_eq(ck_auth_rate_admit(r, "streamer", 1, NULL), CK_AUTH_RATE_OK);
    for (int i = 0; i < 20000; i++) {
        snprintf(user, sizeof(user), "user-%d", i);
        ck_assert_int_eq(ck_auth_rate_admit(r, user, 0, NULL), CK_AUTH_RATE_OK);
        ck_assert_uint_le(ck_auth_rate_tracked(r), 2 * CK_AUTH_RATE_SHARDS);
        if (i % 1000 == 0)
            g_now += 60000;
    }
    /* The user holding a stream was never forgotten. */
    ck_assert_uint_eq(ck_auth_rate_streams(r, "streamer"), 1);
    /* Idle entries go first: after a minute everybody is idle, and a new
     * user evicts idle entries rather than the streamer. */
    g_now += 60000;
    ck_assert_int_eq(ck_auth_rate_admit(r, "late", 0, NULL), CK_AUTH_RATE_OK);
    ck_assert_uint_eq(ck_auth_rate_streams(r, "streamer"), 1);
    ck_auth_rate_free(r);
}
END_TEST

START_TEST(full_of_streams_refuses_new_users)
{
    ck_auth_rate_t *r = limiter(0, 0, 0, CK_AUTH_RATE_SHARDS);
    char user[32];
    int full_at = -1;
    for (int i = 0; i < 5000 && full_at < 0; i++) {
        snprintf(user, sizeof(user), "s%d", i);
        uint32_t retry = 0;
        ck_auth_rate_verdict_t v = ck_auth_rate_admit(r, user, 1, &retry);
        if (v == CK_AUTH_RATE_FULL) {
            ck_assert_uint_eq(retry, 1);
            full_at = i;
        } else {
            ck_assert_int_eq(v, CK_AUTH_RATE_OK);
        }
    }
    ck_assert_int_ge(full_at, 1);
    ck_assert_uint_le(ck_auth_rate_tracked(r), CK_AUTH_RATE_SHARDS);
    for (int i = 0; i < full_at; i++) {
        snprintf(user, sizeof(user), "s%d", i);
        ck_auth_rate_stream_end(r, user);
    }
    snprintf(user, sizeof(user), "s%d", full_at);
    ck_assert_int_eq(ck_auth_rate_admit(r, user, 1, NULL), CK_AUTH_RATE_OK);
    ck_auth_rate_free(r);
}
END_TEST

typedef struct hammer {
    ck_auth_rate_t *r;
    int ok;
} hammer_t;

static void *hammer_thread(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < 20000; i++) {
        if (ck_auth_rate_admit(h->r, "shared", 0, NULL) == CK_AUTH_RATE_OK)
            h->ok++;
        if (ck_auth_rate_admit(h->r, "streams", 1, NULL) == CK_AUTH_RATE_OK)
            ck_auth_rate_stream_end(h->r, "streams");
    }
    return NULL;
}

START_TEST(exact_under_threads)
{
    ck_auth_rate_t *r = limiter(50000, 0, 3, 0);
    pthread_t t[8];
    hammer_t h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (hammer_t){r, 0};
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += h[i].ok;
    }
    ck_assert_int_eq(ok, 50000);
    ck_assert_uint_eq(ck_auth_rate_streams(r, "streams"), 0);
    ck_auth_rate_free(r);
}
END_TEST

static Suite *rate_suite(void)
{
    Suite *s = suite_create("rate_limit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, burst_then_steady_rate);
    tcase_add_test(tc, retry_after_matches_refill);
    tcase_add_test(tc, turns_and_streams);
    tcase_add_test(tc, refused_requests_consume_nothing);
    tcase_add_test(tc, unlimited_when_zero);
    tcase_add_test(tc, memory_is_bounded);
    tcase_add_test(tc, full_of_streams_refuses_new_users);
    tcase_add_test(tc, exact_under_threads);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(rate_suite)
