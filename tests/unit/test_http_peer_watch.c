/*
 * test_http_peer_watch.c - unit tests of src/http/peer_watch.c (a client
 * leaving an HTTP/1.x stream, noticed through one epoll instance per
 * worker) on a real loop (src/loop/loop_h2o.c) with real loopback TCP
 * connections: a peer closing or resetting is reported once; bytes from
 * the peer wake nothing; a removed registration, or one whose fd was closed
 * and reused, never reports; a callback may remove another registration
 * whose event is in the same batch; a peer gone before the registration is
 * reported; more peers than one epoll_wait batch.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/peer_watch.h"
#include "loop/loop_h2o.h"
#include "check_main.h"

static h2o_evloop_t *evloop;
static ck_loop_t *loop;
static ck_http_peer_watch_t *pw;
static int listener = -1;

#define MAX_REPORTS 512
static void *reported[MAX_REPORTS]; /* the `user` of every callback, in order */
static int reports;

/* Two owners whose callbacks each remove the other's registration. */
static int pair_owner[2];
static uint64_t pair_key[2];

static void on_left(void *user)
{
    ck_assert_int_lt(reports, MAX_REPORTS);
    reported[reports++] = user;
    for (int i = 0; i < 2; i++)
        if (user == &pair_owner[i])
            ck_http_peer_watch_remove(pw, pair_key[1 - i]);
}

static void setup(void)
{
    evloop = h2o_evloop_create();
    loop = ck_loop_new(evloop);
    ck_assert_ptr_nonnull(loop);
    pw = ck_http_peer_watch_new(loop, on_left);
    ck_assert_ptr_nonnull(pw);
    reports = 0;
    pair_key[0] = pair_key[1] = 0;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(listener, 512), 0);
}

static void teardown(void)
{
    ck_http_peer_watch_free(pw);
    close(listener);
    ck_loop_free(loop);
    h2o_evloop_destroy(evloop);
}

/* A connected loopback pair: fds[0] the server's side (watched), fds[1] the client's. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fds[1], (struct sockaddr *)&a, sizeof a), 0);
    fds[0] = accept(listener, NULL, NULL);
    ck_assert_int_ge(fds[0], 0);
}

static void set_flag(ck_timer_t *t, void *user)
{
    (void)t;
    *(int *)user = 1;
}

/* Runs the loop until `want` reports arrived, or for at most `ms` (times
 * CK_TIMEOUT_MULTIPLIER); returns the number of reports. */
static int run_until_reports(int want, uint64_t ms)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    long scale = m ? strtol(m, NULL, 10) : 1;
    int expired = 0;
    ck_timer_t *limit = ck_timer_new(loop, set_flag, &expired);
    ck_timer_arm(limit, ms * (uint64_t)(scale > 1 ? scale : 1));
    while (reports < want && !expired)
        ck_assert_int_eq(ck_loop_run_once(loop), 0);
    ck_timer_free(limit);
    return reports;
}

/* Runs the loop for a few passes plus `ms`: what is reported by then. */
static int settle(uint64_t ms) { return run_until_reports(MAX_REPORTS, ms); }

START_TEST(test_peer_close_is_reported_once)
{
    int fds[2], owner;
    tcp_pair(fds);
    uint64_t key = ck_http_peer_watch_add(pw, fds[0], &owner);
    ck_assert_uint_ne(key, 0);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 1);
    close(fds[1]);
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_ptr_eq(reported[0], &owner);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 0);
    ck_http_peer_watch_remove(pw, key); /* already ended: a no-op */
    ck_assert_int_eq(settle(50), 1);
    close(fds[0]);
}
END_TEST

START_TEST(test_peer_reset_is_reported)
{
    int fds[2], owner;
    tcp_pair(fds);
    ck_assert_uint_ne(ck_http_peer_watch_add(pw, fds[0], &owner), 0);
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(fds[1], SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    close(fds[1]); /* RST */
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_ptr_eq(reported[0], &owner);
    close(fds[0]);
}
END_TEST

START_TEST(test_peer_bytes_wake_nothing)
{
    int fds[2], owner;
    tcp_pair(fds);
    uint64_t key = ck_http_peer_watch_add(pw, fds[0], &owner);
    ck_assert_int_eq(write(fds[1], "GET / HTTP/1.1\r\n\r\n", 18), 18); /* a pipelined request */
    ck_assert_int_eq(settle(50), 0);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 1);
    close(fds[1]); /* the unread bytes do not hide the close */
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_ptr_eq(reported[0], &owner);
    ck_http_peer_watch_remove(pw, key);
    close(fds[0]);
}
END_TEST

START_TEST(test_removed_registration_never_reports)
{
    int fds[2], owner;
    tcp_pair(fds);
    uint64_t key = ck_http_peer_watch_add(pw, fds[0], &owner);
    ck_http_peer_watch_remove(pw, key);
    ck_http_peer_watch_remove(pw, key); /* twice: a no-op */
    ck_http_peer_watch_remove(pw, 0);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 0);
    close(fds[1]);
    ck_assert_int_eq(settle(50), 0);
    close(fds[0]);
}
END_TEST

START_TEST(test_peer_gone_before_add_is_reported)
{
    int fds[2], owner;
    tcp_pair(fds);
    close(fds[1]);
    ck_assert_int_eq(settle(20), 0);
    ck_assert_uint_ne(ck_http_peer_watch_add(pw, fds[0], &owner), 0);
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_ptr_eq(reported[0], &owner);
    close(fds[0]);
}
END_TEST

START_TEST(test_reused_fd_keeps_the_new_registration)
{
    int a[2], b[2], old_owner, new_owner;
    tcp_pair(a);
    uint64_t old_key = ck_http_peer_watch_add(pw, a[0], &old_owner);
    int fd = a[0];
    close(a[0]); /* closed without removing: the registration goes with the socket */
    close(a[1]);
    tcp_pair(b);
    if (b[0] != fd) { /* the lowest free number is reused: make it so */
        ck_assert_int_eq(dup2(b[0], fd), fd);
        close(b[0]);
        b[0] = fd;
    }
    uint64_t new_key = ck_http_peer_watch_add(pw, b[0], &new_owner);
    ck_assert_uint_ne(new_key, 0);
    ck_assert_uint_ne(new_key, old_key);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 1);
    ck_http_peer_watch_remove(pw, old_key); /* the old owner ends late: must not touch the new socket */
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 1);
    close(b[1]);
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_ptr_eq(reported[0], &new_owner);
    ck_assert_int_eq(settle(50), 1);
    close(b[0]);
}
END_TEST

START_TEST(test_callback_removes_another_in_the_same_batch)
{
    int a[2], b[2];
    tcp_pair(a);
    tcp_pair(b);
    pair_key[0] = ck_http_peer_watch_add(pw, a[0], &pair_owner[0]);
    pair_key[1] = ck_http_peer_watch_add(pw, b[0], &pair_owner[1]);
    /* both peers leave before the loop runs, so one epoll_wait returns both
     * events; whichever is reported first removes the other registration,
     * whose event must then be dropped */
    close(a[1]);
    close(b[1]);
    ck_assert_int_eq(run_until_reports(1, 5000), 1);
    ck_assert_int_eq(settle(50), 1);
    ck_assert(reported[0] == &pair_owner[0] || reported[0] == &pair_owner[1]);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 0);
    close(a[0]);
    close(b[0]);
}
END_TEST

START_TEST(test_more_peers_than_one_batch)
{
    enum { N = 150 }; /* more than the 64 events one epoll_wait takes */
    int fds[N][2], owners[N];
    for (int i = 0; i < N; i++) {
        tcp_pair(fds[i]);
        ck_assert_uint_ne(ck_http_peer_watch_add(pw, fds[i][0], &owners[i]), 0);
    }
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), N);
    for (int i = 0; i < N; i++)
        close(fds[i][1]);
    ck_assert_int_eq(run_until_reports(N, 10000), N);
    ck_assert_uint_eq(ck_http_peer_watch_count(pw), 0);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        int k = (int *)reported[i] - owners;
        ck_assert(k >= 0 && k < N && !seen[k]);
        seen[k] = 1;
    }
    for (int i = 0; i < N; i++)
        close(fds[i][0]);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("http_peer_watch");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_peer_close_is_reported_once);
    tcase_add_test(tc, test_peer_reset_is_reported);
    tcase_add_test(tc, test_peer_bytes_wake_nothing);
    tcase_add_test(tc, test_removed_registration_never_reports);
    tcase_add_test(tc, test_peer_gone_before_add_is_reported);
    tcase_add_test(tc, test_reused_fd_keeps_the_new_registration);
    tcase_add_test(tc, test_callback_removes_another_in_the_same_batch);
    tcase_add_test(tc, test_more_peers_than_one_batch);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(make_suite)
