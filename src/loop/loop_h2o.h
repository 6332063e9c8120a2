/*
 * loop_h2o.h - the ck_loop_t of src/base/loop.h, implemented on h2o's evloop.
 *
 * A worker thread creates one h2o_evloop_t, wraps it with ck_loop_new() and
 * then runs `while (running) ck_loop_run_once(loop);`.  ck_loop_run_once()
 * runs one h2o evloop iteration (waiting at most until the next ck_timer is
 * due) and then fires the ck_timers that are due.  Only src/http and main.c
 * include this header.
 */
#ifndef CK_LOOP_H2O_H
#define CK_LOOP_H2O_H

#include <h2o.h>

#include "base/loop.h"

/* Wraps `evloop` (not owned).  Returns NULL on allocation failure. */
ck_loop_t *ck_loop_new(h2o_evloop_t *evloop);
/* Frees the wrapper; all watches and timers must be gone already. */
void ck_loop_free(ck_loop_t *loop);
/* One iteration; returns 0, or -1 if the underlying evloop failed. */
int ck_loop_run_once(ck_loop_t *loop);
h2o_evloop_t *ck_loop_evloop(ck_loop_t *loop);

#endif
