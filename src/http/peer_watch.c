/*
 * peer_watch.c - one epoll instance per worker in which HTTP/1.x stream
 * sockets wait for their peer to leave (see peer_watch.h).
 *
 * The slots are an array indexed by fd.  A registration's key is
 * (generation << 32) | fd, and is also the epoll event's data, so an event
 * finds its slot without a search and is delivered only while the slot
 * still holds that generation.  A slot's generation changes whenever its
 * registration ends (reported, removed, or found stale), so a key is never
 * reused while its old owner may still hold it.
 *
 * Closing an fd removes it from every epoll instance by itself (nobody else
 * holds a dup of a client socket).  When an fd number is added while its
 * slot is still in use, the old registration therefore died with the old
 * socket; it is dropped (its owner's later remove is a no-op) so that the
 * old owner can never delete the new socket's registration.
 */
#include "http/peer_watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/log.h"

#define EVENTS_PER_WAIT 64

typedef struct {
    void *user;   /* the registration's owner, NULL while the slot is free */
    uint32_t gen; /* generation of the slot's current or last registration */
} slot_t;

struct ck_http_peer_watch {
    int epfd;
    ck_http_peer_left_cb cb;
    ck_watch_t *watch; /* the epoll fd in the worker's loop */
    slot_t *slots;     /* indexed by fd */
    size_t cap;
    size_t count;
};

static uint64_t key_of(int fd, uint32_t gen) { return ((uint64_t)gen << 32) | (uint32_t)fd; }

/* Ends the slot's registration: later events and keys for it no longer match. */
static void slot_release(ck_http_peer_watch_t *pw, slot_t *s)
{
    s->user = NULL;
    if (++s->gen == 0)
        s->gen = 1;
    pw->count--;
}

static void on_events(ck_watch_t *watch, int events, void *user)
{
    ck_http_peer_watch_t *pw = user;
    struct epoll_event ev[EVENTS_PER_WAIT];
    (void)watch;
    (void)events;
    int n;
    do {
        n = epoll_wait(pw->epfd, ev, EVENTS_PER_WAIT, 0);
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)ev[i].data.u64;
            uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
            if (fd < 0 || (size_t)fd >= pw->cap)
                continue;
            slot_t *s = &pw->slots[fd];
            if (s->user == NULL || s->gen != gen)
                continue; /* removed by a callback earlier in this batch */
            void *owner = s->user;
            epoll_ctl(pw->epfd, EPOLL_CTL_DEL, fd, NULL);
            slot_release(pw, s);
            pw->cb(owner); /* may add and remove registrations, never free the watch */
        }
    } while (n == EVENTS_PER_WAIT);
}

ck_http_peer_watch_t *ck_http_peer_watch_new(ck_loop_t *loop, ck_http_peer_left_cb cb)
{
    ck_http_peer_watch_t *pw = calloc(1, sizeof(*pw));
    if (pw == NULL)
        return NULL;
    pw->cb = cb;
    pw->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (pw->epfd < 0) {
        free(pw);
        return NULL;
    }
    pw->watch = ck_watch_start(loop, pw->epfd, on_events, pw);
    if (pw->watch == NULL) {
        int e = errno;
        close(pw->epfd);
        free(pw);
        errno = e;
        return NULL;
    }
    ck_watch_want(pw->watch, CK_READABLE);
    return pw;
}

void ck_http_peer_watch_free(ck_http_peer_watch_t *pw)
{
    if (pw == NULL)
        return;
    ck_watch_stop(pw->watch);
    close(pw->epfd);
    free(pw->slots);
    free(pw);
}

/* Makes slot `fd` exist; -1 when out of memory. */
static int reserve(ck_http_peer_watch_t *pw, int fd)
{
    if ((size_t)fd < pw->cap)
        return 0;
    size_t cap = pw->cap ? pw->cap : 256;
    while (cap <= (size_t)fd)
        cap *= 2;
    slot_t *slots = realloc(pw->slots, cap * sizeof(*slots));
    if (slots == NULL)
        return -1;
    memset(slots + pw->cap, 0, (cap - pw->cap) * sizeof(*slots));
    for (size_t i = pw->cap; i < cap; i++)
        slots[i].gen = 1;
    pw->slots = slots;
    pw->cap = cap;
    return 0;
}

uint64_t ck_http_peer_watch_add(ck_http_peer_watch_t *pw, int fd, void *user)
{
    if (pw == NULL || fd < 0 || user == NULL || reserve(pw, fd) != 0)
        return 0;
    slot_t *s = &pw->slots[fd];
    if (s->user != NULL) {
        /* the fd was closed and its number reused: the old registration
         * went with the old socket; its owner's key stops matching */
        ck_debug("peer_watch: fd %d reused while registered; the old registration is dropped", fd);
        slot_release(pw, s);
    }
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLET, .data.u64 = key_of(fd, s->gen)};
    if (epoll_ctl(pw->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || epoll_ctl(pw->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))
        return 0;
    s->user = user;
    pw->count++;
    return ev.data.u64;
}

void ck_http_peer_watch_remove(ck_http_peer_watch_t *pw, uint64_t key)
{
    if (pw == NULL || key == 0)
        return;
    int fd = (int)(uint32_t)key;
    if (fd < 0 || (size_t)fd >= pw->cap)
        return;
    slot_t *s = &pw->slots[fd];
    if (s->user == NULL || s->gen != (uint32_t)(key >> 32))
        return;
    epoll_ctl(pw->epfd, EPOLL_CTL_DEL, fd, NULL); /* fails harmlessly if the fd was closed already */
    slot_release(pw, s);
}

size_t ck_http_peer_watch_count(const ck_http_peer_watch_t *pw) { return pw != NULL ? pw->count : 0; }
