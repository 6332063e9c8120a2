/*
 * test_loop.c - unit tests of src/loop/loop_h2o.c (the ck_loop over h2o's evloop):
 * timer order, re-arm/cancel/free from inside callbacks, timers pushed back
 * or pulled forward while armed, fd watches on a pipe
 * (readable, one-shot writable, stale write notifications, stop inside the
 * callback), a signal interrupting the wait.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop/loop_h2o.h"
#include "check_main.h"

static h2o_evloop_t *evloop;
static ck_loop_t *loop;

static void setup(void)
{
    evloop = h2o_evloop_create();
    loop = ck_loop_new(evloop);
    ck_assert_ptr_nonnull(loop);
}

static void teardown(void)
{
    ck_loop_free(loop);
    h2o_evloop_destroy(evloop);
}

static void set_flag(ck_timer_t *t, void *user)
{
    (void)t;
    *(int *)user = 1;
}

/* Check's CK_TIMEOUT_MULTIPLIER (make test-valgrind sets it): under valgrind
 * the first pass of the loop alone can take longer than a 20 ms window. */
static uint64_t time_scale(void)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    long v = m ? strtol(m, NULL, 10) : 1;
    return v > 1 ? (uint64_t)v : 1;
}

/* Runs the loop until *flag becomes nonzero or `ms` (times
 * CK_TIMEOUT_MULTIPLIER) elapsed (a timer of its own bounds the wait);
 * returns *flag. */
static int run_until(const int *flag, uint64_t ms)
{
    int expired = 0;
    ck_timer_t *limit = ck_timer_new(loop, set_flag, &expired);
    ck_timer_arm(limit, ms * time_scale());
    while (!*flag && !expired)
        ck_assert_int_eq(ck_loop_run_once(loop), 0);
    ck_timer_free(limit);
    return *flag;
}

/* --- timers ---------------------------------------------------------------- */

static char order[32];
static size_t order_len;

static void record_cb(ck_timer_t *t, void *user)
{
    (void)t;
    order[order_len++] = *(const char *)user;
}

START_TEST(test_timers_fire_in_deadline_order)
{
    static const char names[] = "abcde";
    static const uint64_t delays[] = {30, 10, 20, 10, 0};
    ck_timer_t *t[5];
    order_len = 0;
    for (int i = 0; i < 5; i++) {
        t[i] = ck_timer_new(loop, record_cb, (void *)&names[i]);
        ck_timer_arm(t[i], delays[i]);
        ck_assert(ck_timer_is_armed(t[i]));
    }
    uint64_t start = ck_loop_now_ms(loop);
    while (order_len < 5)
        ck_loop_run_once(loop);
    order[order_len] = 0;
    ck_assert_str_eq(order, "ebdca"); /* equal deadlines fire in arm order */
    ck_assert_uint_ge(ck_loop_now_ms(loop) - start, 30);
    for (int i = 0; i < 5; i++) {
        ck_assert(!ck_timer_is_armed(t[i]));
        ck_timer_free(t[i]);
    }
}
END_TEST

START_TEST(test_timer_rearm_and_cancel_before_firing)
{
    static const char a = 'a', b = 'b';
    order_len = 0;
    ck_timer_t *ta = ck_timer_new(loop, record_cb, (void *)&a);
    ck_timer_t *tb = ck_timer_new(loop, record_cb, (void *)&b);
    ck_timer_arm(ta, 5);
    ck_timer_arm(tb, 10);
    ck_timer_arm(ta, 20); /* re-arming moves the deadline */
    ck_timer_cancel(tb);
    ck_assert(!ck_timer_is_armed(tb));
    int never = 0;
    run_until(&never, 40);
    order[order_len] = 0;
    ck_assert_str_eq(order, "a");
    ck_timer_free(ta);
    ck_timer_free(tb);
}
END_TEST

/* Re-arming an armed timer later keeps its heap place (loop_h2o.c): it must
 * still fire at its last deadline, in arm order among equal deadlines, and
 * re-arming earlier must move it up at once. */
START_TEST(test_timer_pushed_back_fires_at_its_last_deadline)
{
    static const char a = 'a', b = 'b', c = 'c', x = 'x', y = 'y';
    order_len = 0;
    ck_timer_t *ta = ck_timer_new(loop, record_cb, (void *)&a);
    ck_timer_t *tb = ck_timer_new(loop, record_cb, (void *)&b);
    ck_timer_t *tc = ck_timer_new(loop, record_cb, (void *)&c);
    ck_timer_t *tx = ck_timer_new(loop, record_cb, (void *)&x);
    ck_timer_t *ty = ck_timer_new(loop, record_cb, (void *)&y);
    uint64_t start = ck_loop_now_ms(loop);
    ck_timer_arm(tx, 20);
    ck_timer_arm(ty, 20);
    ck_timer_arm(tx, 20); /* same deadline, armed after y: fires after y */
    ck_timer_arm(ta, 10);
    ck_timer_arm(tb, 30);
    ck_timer_arm(ta, 40); /* pushed back past b */
    ck_timer_arm(tc, 50);
    ck_timer_arm(tc, 5); /* pulled forward: first */
    ck_assert(ck_timer_is_armed(ta));
    while (order_len < 5) /* a's place (10 ms) comes due first: it moves down instead of firing */
        ck_assert_int_eq(ck_loop_run_once(loop), 0);
    order[order_len] = 0;
    ck_assert_str_eq(order, "cyxba");
    ck_assert_uint_ge(ck_loop_now_ms(loop) - start, 40);
    ck_timer_free(ta);
    ck_timer_free(tb);
    ck_timer_free(tc);
    ck_timer_free(tx);
    ck_timer_free(ty);
}
END_TEST

struct juggler {
    ck_timer_t *self, *victim, *spare;
    int fired, victim_fired;
    int mode;    /* 0: re-arm self 3 times; 1: cancel victim; 2: free self; 3: free victim */
    int settled; /* mode 0: self fired 3 times and the victim once */
};

static void juggler_check_settled(struct juggler *j)
{
    if (j->mode == 0 && j->fired == 3 && j->victim_fired == 1)
        j->settled = 1;
}

static void victim_cb(ck_timer_t *t, void *user)
{
    (void)t;
    ((struct juggler *)user)->victim_fired++;
    juggler_check_settled(user);
}

static void juggler_cb(ck_timer_t *t, void *user)
{
    struct juggler *j = user;
    j->fired++;
    switch (j->mode) {
    case 0:
        if (j->fired < 3)
            ck_timer_arm(t, 0); /* 0 ms: must fire in a later pass, not loop forever */
        juggler_check_settled(j);
        break;
    case 1:
        ck_timer_cancel(j->victim);
        break;
    case 2:
        ck_timer_free(t);
        j->self = NULL;
        break;
    case 3:
        ck_timer_free(j->victim);
        j->victim = NULL;
        break;
    }
}

static void juggle(int mode)
{
    struct juggler j = {.mode = mode};
    j.self = ck_timer_new(loop, juggler_cb, &j);
    j.victim = ck_timer_new(loop, victim_cb, &j);
    ck_timer_arm(j.self, 1);
    ck_timer_arm(j.victim, 1); /* same deadline, armed later: fires after self */
    /* Mode 0 waits for what must happen (a loaded machine may sleep past a
     * short window before the re-armed passes run); the other modes watch a
     * short window for what must not happen. */
    int never = 0;
    run_until(mode == 0 ? &j.settled : &never, mode == 0 ? 5000 : 20);
    if (mode == 0) {
        ck_assert_int_eq(j.fired, 3);
        ck_assert_int_eq(j.victim_fired, 1);
    } else {
        ck_assert_int_eq(j.fired, 1);
        ck_assert_int_eq(j.victim_fired, 0);
    }
    ck_timer_free(j.self);
    ck_timer_free(j.victim);
}

START_TEST(test_timer_rearm_inside_callback) { juggle(0); }
END_TEST
START_TEST(test_timer_cancel_other_inside_callback) { juggle(1); }
END_TEST
START_TEST(test_timer_free_self_inside_callback)
{
    struct juggler j = {.mode = 2};
    j.self = ck_timer_new(loop, juggler_cb, &j);
    ck_timer_arm(j.self, 0);
    run_until(&j.fired, 100);
    ck_assert_ptr_null(j.self);
}
END_TEST
START_TEST(test_timer_free_other_inside_callback) { juggle(3); }
END_TEST

START_TEST(test_wait_is_bounded_by_next_timer)
{
    static const char a = 'a';
    order_len = 0;
    ck_timer_t *t = ck_timer_new(loop, record_cb, (void *)&a);
    ck_timer_arm(t, 50);
    uint64_t start = ck_loop_now_ms(loop);
    int fired = 0;
    while (!fired) {
        ck_loop_run_once(loop);
        fired = order_len == 1;
    }
    uint64_t took = ck_loop_now_ms(loop) - start;
    ck_assert_uint_ge(took, 50);
    ck_assert_uint_lt(took, 500);
    ck_timer_free(t);
}
END_TEST

/* --- watches --------------------------------------------------------------- */

struct pipe_state {
    int fds[2];
    ck_watch_t *watch;
    int readable, writable;
    int stop_in_cb;
};

static void pipe_cb(ck_watch_t *w, int events, void *user)
{
    struct pipe_state *p = user;
    if (events & CK_READABLE) {
        p->readable++;
        if (p->stop_in_cb) {
            ck_watch_stop(w);
            p->watch = NULL;
        }
    }
    if (events & CK_WRITABLE)
        p->writable++;
}

static void pipe_open(struct pipe_state *p)
{
    memset(p, 0, sizeof(*p));
    ck_assert_int_eq(pipe(p->fds), 0);
}

static void pipe_close(struct pipe_state *p)
{
    ck_watch_stop(p->watch);
    close(p->fds[0]);
    close(p->fds[1]);
}

START_TEST(test_watch_readable_is_level_triggered)
{
    struct pipe_state p;
    pipe_open(&p);
    p.watch = ck_watch_start(loop, p.fds[0], pipe_cb, &p);
    ck_assert_ptr_nonnull(p.watch);
    ck_watch_want(p.watch, CK_READABLE);
    int never = 0;
    run_until(&never, 10);
    ck_assert_int_eq(p.readable, 0);
    ck_assert_int_eq(write(p.fds[1], "x", 1), 1);
    run_until(&p.readable, 1000);
    int seen = p.readable;
    ck_loop_run_once(loop); /* still unread: reported again */
    ck_assert_int_gt(p.readable, seen);
    char c;
    ck_assert_int_eq(read(p.fds[0], &c, 1), 1); /* the caller's fd still works */
    ck_watch_want(p.watch, 0);
    ck_assert_int_eq(write(p.fds[1], "y", 1), 1);
    seen = p.readable;
    run_until(&never, 10);
    ck_assert_int_eq(p.readable, seen); /* no interest, no report */
    pipe_close(&p);
}
END_TEST

START_TEST(test_watch_writable_is_one_shot)
{
    struct pipe_state p;
    pipe_open(&p);
    p.watch = ck_watch_start(loop, p.fds[1], pipe_cb, &p);
    ck_watch_want(p.watch, CK_WRITABLE);
    ck_watch_want(p.watch, CK_WRITABLE); /* asking twice is harmless */
    run_until(&p.writable, 1000);
    int never = 0;
    run_until(&never, 10);
    ck_assert_int_eq(p.writable, 1);
    ck_watch_want(p.watch, CK_WRITABLE); /* re-arm */
    run_until(&never, 10);
    ck_assert_int_eq(p.writable, 2);
    pipe_close(&p);
}
END_TEST

START_TEST(test_watch_stale_write_notification_ignored)
{
    struct pipe_state p;
    pipe_open(&p);
    p.watch = ck_watch_start(loop, p.fds[1], pipe_cb, &p);
    ck_watch_want(p.watch, CK_WRITABLE);
    ck_watch_want(p.watch, 0); /* dropped before the loop ran */
    int never = 0;
    run_until(&never, 20);
    ck_assert_int_eq(p.writable, 0);
    ck_watch_want(p.watch, CK_WRITABLE); /* can be armed again afterwards */
    run_until(&p.writable, 1000);
    ck_assert_int_eq(p.writable, 1);
    pipe_close(&p);
}
END_TEST

START_TEST(test_watch_stop_inside_callback)
{
    struct pipe_state p;
    pipe_open(&p);
    p.stop_in_cb = 1;
    p.watch = ck_watch_start(loop, p.fds[0], pipe_cb, &p);
    ck_watch_want(p.watch, CK_READABLE | CK_WRITABLE);
    ck_assert_int_eq(write(p.fds[1], "x", 1), 1);
    run_until(&p.readable, 1000);
    int never = 0;
    run_until(&never, 20);
    ck_assert_int_eq(p.readable, 1);
    ck_assert_ptr_null(p.watch);
    ck_assert_int_ne(fcntl(p.fds[0], F_GETFD), -1); /* caller's fd left open */
    pipe_close(&p);
}
END_TEST

START_TEST(test_watch_stop_with_write_pending)
{
    struct pipe_state p;
    pipe_open(&p);
    p.watch = ck_watch_start(loop, p.fds[1], pipe_cb, &p);
    ck_watch_want(p.watch, CK_WRITABLE);
    ck_watch_stop(p.watch); /* the outstanding notification must not reach freed memory */
    p.watch = NULL;
    int never = 0;
    run_until(&never, 20);
    ck_assert_int_eq(p.writable, 0);
    pipe_close(&p);
}
END_TEST

/* --- signals -------------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A signal arriving while the loop waits makes epoll_wait() fail with EINTR
 * (as does SIGSTOP then SIGCONT): the loop must go on, not report a failure. */
START_TEST(test_signal_during_wait_is_not_a_failure)
{
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_alarm; /* no SA_RESTART: epoll_wait is never restarted anyway */
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
    alarms = 0;
    struct itimerval every = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
    int fired = 0;
    ck_timer_t *t = ck_timer_new(loop, set_flag, &fired);
    ck_timer_arm(t, 200);
    while (!fired)
        ck_assert_int_eq(ck_loop_run_once(loop), 0); /* the loop waits here while the alarms ring */
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    ck_assert_int_gt(alarms, 0);
    ck_timer_free(t);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_timers_fire_in_deadline_order);
    tcase_add_test(tc, test_timer_rearm_and_cancel_before_firing);
    tcase_add_test(tc, test_timer_pushed_back_fires_at_its_last_deadline);
    tcase_add_test(tc, test_timer_rearm_inside_callback);
    tcase_add_test(tc, test_timer_cancel_other_inside_callback);
    tcase_add_test(tc, test_timer_free_self_inside_callback);
    tcase_add_test(tc, test_timer_free_other_inside_callback);
    tcase_add_test(tc, test_wait_is_bounded_by_next_timer);
    suite_add_tcase(s, tc);
    tc = tcase_create("watches");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_watch_readable_is_level_triggered);
    tcase_add_test(tc, test_watch_writable_is_one_shot);
    tcase_add_test(tc, test_watch_stale_write_notification_ignored);
    tcase_add_test(tc, test_watch_stop_inside_callback);
    tcase_add_test(tc, test_watch_stop_with_write_pending);
    tcase_add_test(tc, test_signal_during_wait_is_not_a_failure);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(loop_suite)
