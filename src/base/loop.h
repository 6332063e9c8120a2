/*
 * loop.h - the event-loop interface that src/store and src/agent program against.
 *
 * Each worker thread runs one event loop (implemented over h2o's evloop in
 * src/loop/loop_h2o.c).  Modules below src/http never include h2o: they watch
 * file descriptors and arm timers through this small interface instead.
 *
 * The one callback convention of the project.  Every function that starts
 * work which finishes later takes a callback (or a table of callbacks) and a
 * `void *user`, and returns a handle:
 *
 *     ck_store_op(store, op, user_id, params, len, cb, user)   -> ck_store_call_t *
 *     ck_agent_respond(agent, turn, sink, user)                -> ck_agent_run_t *
 *     ck_agent_transcribe(agent, audio, len, mime, cb, user)   -> ck_agent_transcription_t *
 *     ck_agent_llm_post(llm, opts, body, callbacks, user)      -> ck_agent_llm_call_t *
 *
 *   - NULL means the work could not start; no callback will ever run.
 *   - Otherwise the (final) callback runs exactly once, on this loop's
 *     thread, and never inside the starting call: work that ends at once (an
 *     error, an unavailable database) is reported from a 0 ms timer.  So the
 *     caller always holds the handle before any callback runs.
 *   - The matching cancel function (ck_store_cancel, ck_agent_cancel, ...)
 *     may be called at any time until then, even from inside a callback;
 *     afterwards no callback runs.
 *   - A callback may start new work, cancel other work or destroy its owner.
 *
 * Never block inside a callback: no sleeping, no blocking I/O, no waiting.
 */
#ifndef CK_BASE_LOOP_H
#define CK_BASE_LOOP_H

#include <stdint.h>

typedef struct ck_loop ck_loop_t;
typedef struct ck_watch ck_watch_t;
typedef struct ck_timer ck_timer_t;

enum { CK_READABLE = 1, CK_WRITABLE = 2 };

/* Called when the watched fd became readable and/or writable (events is a mask). */
typedef void (*ck_watch_cb)(ck_watch_t *watch, int events, void *user);
typedef void (*ck_timer_cb)(ck_timer_t *timer, void *user);

/* Watch `fd` (the caller keeps owning it; the loop works on a dup()).
 * Starts with no interest: call ck_watch_want() to select events.
 * Readability is level-triggered; writability is reported once per
 * ck_watch_want(..., CK_WRITABLE) request (re-arm as needed). */
ck_watch_t *ck_watch_start(ck_loop_t *loop, int fd, ck_watch_cb cb, void *user);
void ck_watch_want(ck_watch_t *watch, int events);
/* Stops watching and frees the watch (closes the dup, never the caller's fd).
 * Safe to call from inside the watch's own callback. */
void ck_watch_stop(ck_watch_t *watch);

/* One-shot timers.  ck_timer_arm() (re)arms to fire after `ms` milliseconds;
 * ck_timer_cancel() disarms; ck_timer_free() disarms and frees (safe inside cb). */
ck_timer_t *ck_timer_new(ck_loop_t *loop, ck_timer_cb cb, void *user);
void ck_timer_arm(ck_timer_t *timer, uint64_t ms);
void ck_timer_cancel(ck_timer_t *timer);
int ck_timer_is_armed(const ck_timer_t *timer);
void ck_timer_free(ck_timer_t *timer);

/* Milliseconds on the loop's monotonic clock (cached per iteration). */
uint64_t ck_loop_now_ms(ck_loop_t *loop);

#endif
