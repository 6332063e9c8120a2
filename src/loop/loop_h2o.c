/*
 * loop_h2o.c - src/base/loop.h implemented over h2o 2.2.5's evloop.
 *
 * Watches wrap a dup() of the caller's fd in an h2o socket created with
 * H2O_SOCKET_FLAG_DONT_READ, so h2o only reports readiness and never reads
 * the bytes itself (libpq and libcurl read their own sockets).  Readability uses
 * h2o_socket_read_start (epoll is level-triggered); writability uses the
 * one-shot h2o_socket_notify_write, which cannot be cancelled: a notification
 * that arrives after the interest was dropped is ignored.  h2o_socket_close()
 * marks the socket disposed, after which h2o calls none of its callbacks, so a
 * watch may be stopped (and freed) inside its own callback.
 *
 * Timers are a binary min-heap on h2o's millisecond clock, ordered by each
 * timer's position key: (deadline, arm sequence) as of when it took its
 * place.  Re-arming an armed timer to a deadline no earlier than its key
 * (a heartbeat or an idle timeout pushed back on every token of a stream)
 * only records the new deadline: the timer keeps its place, and when its
 * key comes due it moves down to its real deadline instead of firing.  So
 * such a re-arm costs no heap operation; an earlier deadline moves the
 * timer at once.  ck_loop_run_once() waits in h2o_evloop_run() at most
 * until the earliest key, then fires the due timers.  A timer armed while
 * timers are firing never fires in the same pass, so a callback re-arming
 * itself with 0 ms cannot starve the loop.
 */
#include "loop/loop_h2o.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct ck_loop {
    h2o_evloop_t *evloop;
    ck_timer_t **heap;         /* min-heap of armed timers */
    size_t heap_len, heap_cap; /* heap_cap >= timers, so arming never allocates */
    size_t timers;             /* timers alive (armed or not) */
    uint64_t seq;              /* arm counter: ties on the deadline fire in arm order */
    int fired;                 /* timers ran after the last evloop pass: h2o may hold pending work */
};

struct ck_watch {
    ck_loop_t *loop;
    h2o_socket_t *sock; /* owns the dup()ed fd */
    ck_watch_cb cb;
    void *user;
    int want;        /* CK_READABLE | CK_WRITABLE as last requested */
    int write_armed; /* an h2o write notification is outstanding */
};

struct ck_timer {
    ck_loop_t *loop;
    ck_timer_cb cb;
    void *user;
    uint64_t deadline;     /* when it fires */
    uint64_t seq;          /* of the last arm */
    uint64_t key, key_seq; /* its place in the heap: deadline and seq when it took it (key <= deadline) */
    size_t index;          /* position in loop->heap, or NOT_ARMED */
};

#define NOT_ARMED ((size_t)-1)

/* --- loop ------------------------------------------------------------------ */

ck_loop_t *ck_loop_new(h2o_evloop_t *evloop)
{
    ck_loop_t *loop = calloc(1, sizeof(*loop));
    if (loop != NULL)
        loop->evloop = evloop;
    return loop;
}

void ck_loop_free(ck_loop_t *loop)
{
    if (loop == NULL)
        return;
    free(loop->heap);
    free(loop);
}

h2o_evloop_t *ck_loop_evloop(ck_loop_t *loop) { return loop->evloop; }

uint64_t ck_loop_now_ms(ck_loop_t *loop) { return h2o_now(loop->evloop); }

/* --- timer heap ------------------------------------------------------------ */

static int timer_before(const ck_timer_t *a, const ck_timer_t *b)
{
    return a->key != b->key ? a->key < b->key : a->key_seq < b->key_seq;
}

static void heap_set(ck_loop_t *loop, size_t i, ck_timer_t *t)
{
    loop->heap[i] = t;
    t->index = i;
}

static void heap_up(ck_loop_t *loop, size_t i)
{
    ck_timer_t *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(ck_loop_t *loop, size_t i)
{
    ck_timer_t *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop->heap[child], t))
            break;
        heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, t);
}

static void heap_remove(ck_loop_t *loop, ck_timer_t *t)
{
    size_t i = t->index;
    ck_timer_t *last = loop->heap[--loop->heap_len];
    t->index = NOT_ARMED;
    if (last == t)
        return;
    heap_set(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->index);
}

/* Grows the heap so one more timer fits; -1 on allocation failure. */
static int heap_reserve(ck_loop_t *loop)
{
    if (loop->timers < loop->heap_cap)
        return 0;
    size_t cap = loop->heap_cap ? 2 * loop->heap_cap : 16;
    ck_timer_t **heap = realloc(loop->heap, cap * sizeof(*heap));
    if (heap == NULL)
        return -1;
    loop->heap = heap;
    loop->heap_cap = cap;
    return 0;
}

/* --- timers ---------------------------------------------------------------- */

/* Reserves the timer's heap slot up front, so ck_timer_arm() cannot fail. */
ck_timer_t *ck_timer_new(ck_loop_t *loop, ck_timer_cb cb, void *user)
{
    if (heap_reserve(loop) != 0)
        return NULL;
    ck_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    loop->timers++;
    t->loop = loop;
    t->cb = cb;
    t->user = user;
    t->index = NOT_ARMED;
    return t;
}

void ck_timer_arm(ck_timer_t *t, uint64_t ms)
{
    ck_loop_t *loop = t->loop;
    t->deadline = ck_loop_now_ms(loop) + ms;
    t->seq = loop->seq++;
    if (t->index != NOT_ARMED) {
        if (t->deadline >= t->key)
            return; /* keeps its place; moves down when the key comes due (fire_due_timers) */
        heap_remove(loop, t);
    }
    t->key = t->deadline;
    t->key_seq = t->seq;
    t->index = loop->heap_len++;
    loop->heap[t->index] = t;
    heap_up(loop, t->index);
}

void ck_timer_cancel(ck_timer_t *t)
{
    if (t != NULL && t->index != NOT_ARMED)
        heap_remove(t->loop, t);
}

int ck_timer_is_armed(const ck_timer_t *t) { return t->index != NOT_ARMED; }

void ck_timer_free(ck_timer_t *t)
{
    if (t == NULL)
        return;
    ck_timer_cancel(t);
    t->loop->timers--;
    free(t);
}

/* Milliseconds until the earliest deadline (0 if due), capped at INT32_MAX. */
static int32_t next_wait(ck_loop_t *loop)
{
    /* Timer callbacks run outside h2o_evloop_run(); what they started there
     * (an h2o_send, a socket write) is queued on h2o's pending lists, which
     * only the next pass runs - and h2o does not shorten its poll for them. */
    if (loop->fired)
        return 0;
    if (loop->heap_len == 0)
        return INT32_MAX;
    uint64_t now = ck_loop_now_ms(loop), deadline = loop->heap[0]->key; /* may wake early: see fire_due_timers */
    if (deadline <= now)
        return 0;
    return deadline - now > INT32_MAX ? INT32_MAX : (int32_t)(deadline - now);
}

/* Fires the timers due now that were armed before this pass began; a timer
 * whose key came due but which was re-armed since takes its real place
 * first.  The heap is re-read after every callback, which may arm, cancel
 * or free any timer. */
static void fire_due_timers(ck_loop_t *loop)
{
    uint64_t now = ck_loop_now_ms(loop), limit = loop->seq;
    while (loop->heap_len > 0) {
        ck_timer_t *t = loop->heap[0];
        if (t->key > now)
            break;
        if (t->key != t->deadline || t->key_seq != t->seq) {
            t->key = t->deadline; /* later (or re-armed since): it only moves down */
            t->key_seq = t->seq;
            heap_down(loop, 0);
            continue;
        }
        if (t->seq >= limit)
            break;
        heap_remove(loop, t);
        loop->fired = 1;
        t->cb(t, t->user);
    }
}

int ck_loop_run_once(ck_loop_t *loop)
{
    int32_t wait = next_wait(loop);
    loop->fired = 0;
    /* epoll_wait() fails with EINTR when a signal handler ran or the process
     * was stopped and continued (SIGSTOP/SIGCONT, a debugger attaching):
     * h2o then returns -1 before running its pending work, which the next
     * pass runs.  Only other failures end the loop. */
    errno = 0;
    if (h2o_evloop_run(loop->evloop, wait) != 0 && errno != EINTR)
        return -1;
    fire_due_timers(loop);
    return 0;
}

/* --- watches --------------------------------------------------------------- */

static void on_sock_readable(h2o_socket_t *sock, const char *err)
{
    (void)err; /* with DONT_READ h2o reads nothing, so there is no read error */
    ck_watch_t *w = sock->data;
    if (w->want & CK_READABLE)
        w->cb(w, CK_READABLE, w->user);
}

static void on_sock_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    ck_watch_t *w = sock->data;
    w->write_armed = 0;
    if (!(w->want & CK_WRITABLE))
        return; /* stale: the interest was dropped after arming */
    w->want &= ~CK_WRITABLE;
    w->cb(w, CK_WRITABLE, w->user);
}

ck_watch_t *ck_watch_start(ck_loop_t *loop, int fd, ck_watch_cb cb, void *user)
{
    ck_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    int dupfd = dup(fd);
    if (dupfd < 0) {
        free(w);
        return NULL;
    }
    w->loop = loop;
    w->cb = cb;
    w->user = user;
    w->sock = h2o_evloop_socket_create(loop->evloop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    w->sock->data = w;
    return w;
}

void ck_watch_want(ck_watch_t *w, int events)
{
    if ((events & CK_READABLE) && !h2o_socket_is_reading(w->sock))
        h2o_socket_read_start(w->sock, on_sock_readable);
    else if (!(events & CK_READABLE) && h2o_socket_is_reading(w->sock))
        h2o_socket_read_stop(w->sock);
    if ((events & CK_WRITABLE) && !w->write_armed) {
        w->write_armed = 1;
        h2o_socket_notify_write(w->sock, on_sock_writable);
    }
    w->want = events;
}

void ck_watch_stop(ck_watch_t *w)
{
    if (w == NULL)
        return;
    h2o_socket_close(w->sock); /* closes the dup; a disposed socket gets no callbacks */
    free(w);
}
