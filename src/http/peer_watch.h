/*
 * peer_watch.h - notices HTTP/1.x clients leaving while their response is
 * silent, at no cost while nothing happens.
 *
 * h2o reads nothing from an HTTP/1.x connection while its response is being
 * generated, so a client that closes its connection during a silent stream
 * (the model thinking, or hung) would be noticed only at the next write.
 * One watch per worker holds an epoll instance of its own in which each
 * watched socket is registered for EPOLLRDHUP only (edge-triggered, no
 * EPOLLIN: bytes the client sends, such as a pipelined request, wake
 * nothing); EPOLLHUP and EPOLLERR come with it.  The instance's fd sits in
 * the worker's loop (base/loop.h watch), so the loop wakes only when a
 * watched peer closed or reset its side.
 *
 * Each registration is keyed by the socket's fd and a generation number of
 * that fd's slot; an event whose key no longer matches (the registration
 * was removed, or its fd was closed and reused meanwhile) is dropped, so an
 * event for a finished stream never reaches its owner.  Everything runs on
 * the worker's loop thread.
 */
#ifndef CK_HTTP_PEER_WATCH_H
#define CK_HTTP_PEER_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"

typedef struct ck_http_peer_watch ck_http_peer_watch_t;

/* Called once per registration, on the loop, with the registration's
 * `user`, when the peer of a watched socket closed (or half-closed, or
 * reset) its side.  The registration is already gone: removing it again is
 * a harmless no-op. */
typedef void (*ck_http_peer_left_cb)(void *user);

/* A watch on `loop` that reports to `cb`, or NULL (errno set) when no
 * epoll instance could be made. */
ck_http_peer_watch_t *ck_http_peer_watch_new(ck_loop_t *loop, ck_http_peer_left_cb cb);

/* Frees the watch and its epoll instance; no callback runs afterwards.
 * NULL is a no-op. */
void ck_http_peer_watch_free(ck_http_peer_watch_t *pw);

/* Watches the peer of connected socket `fd` for `user` (not NULL; the
 * caller keeps owning the fd and removes the registration when it no longer
 * wants to know, at the latest before the fd is closed).  Returns the
 * registration's key (never 0), or 0 when it could not be made (the caller
 * then learns of the peer leaving at its next write, as without a watch).
 * A peer that left before the call is reported too, on a later loop pass. */
uint64_t ck_http_peer_watch_add(ck_http_peer_watch_t *pw, int fd, void *user);

/* Removes registration `key` (0, or a key already reported or removed:
 * no-op).  Its callback never runs afterwards. */
void ck_http_peer_watch_remove(ck_http_peer_watch_t *pw, uint64_t key);

/* Registrations alive (for tests and metrics). */
size_t ck_http_peer_watch_count(const ck_http_peer_watch_t *pw);

#endif
