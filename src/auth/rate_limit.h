/*
 * rate_limit.h - per-user token buckets and open-stream counts, shared by
 * every worker thread of the process.
 *
 * Each user has two token buckets, refilled continuously: one for all
 * requests (capacity and refill = requests_per_min per minute) and one for
 * turns, i.e. streaming requests (turns_per_min).  A bucket starts full, so
 * a user may burst a whole minute's allowance and then goes on at the
 * steady rate.  Each user also has a count of open streams, capped at
 * max_streams.  A request is admitted only when every check passes, and
 * only an admitted request consumes tokens.
 *
 * The users live in a hash table of CK_AUTH_RATE_SHARDS shards, each with its
 * own mutex, keyed by a seeded hash (so user ids cannot be chosen to collide).
 * Memory is bounded by max_users entries: when a shard is full, entries that
 * are idle (both buckets refilled to capacity, no open stream: forgetting
 * them changes nothing) are evicted first, then the least recently seen
 * entry without open streams.  Entries with open streams are never evicted,
 * so every ck_auth_rate_stream_end() finds its user.
 *
 * Limits are per process: N server processes admit N times the configured
 * rates.  No h2o here; the clock is injectable for tests.
 */
#ifndef CK_AUTH_RATE_LIMIT_H
#define CK_AUTH_RATE_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define CK_AUTH_RATE_SHARDS 64

typedef struct ck_auth_rate ck_auth_rate_t;

/* Monotonic milliseconds; `ctx` is the config's clock_ctx. */
typedef uint64_t (*ck_auth_rate_clock_fn)(void *ctx);

typedef struct ck_auth_rate_config {
    unsigned requests_per_min;   /* all requests; 0 = unlimited */
    unsigned turns_per_min;      /* streaming requests; 0 = unlimited */
    unsigned max_streams;        /* concurrently open streams per user; 0 = unlimited */
    size_t max_users;            /* users tracked at once (memory bound); 0 = 100000 */
    ck_auth_rate_clock_fn clock; /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
} ck_auth_rate_config_t;

typedef enum ck_auth_rate_verdict {
    CK_AUTH_RATE_OK = 0,
    CK_AUTH_RATE_REQUESTS, /* request bucket empty */
    CK_AUTH_RATE_TURNS,    /* turn bucket empty */
    CK_AUTH_RATE_STREAMS,  /* too many open streams */
    CK_AUTH_RATE_FULL      /* no room to track a new user (every entry holds a stream) */
} ck_auth_rate_verdict_t;

/* Creates a limiter with a copy of `config`.  Returns NULL on allocation
 * failure.  Caller frees with ck_auth_rate_free(). */
ck_auth_rate_t *ck_auth_rate_new(const ck_auth_rate_config_t *config);

/* Frees the limiter and every entry.  NULL is fine.  No other thread may be
 * using it. */
void ck_auth_rate_free(ck_auth_rate_t *rate);

/* Admits one request of `user` (NUL-terminated), a turn when `turn` is
 * non-zero.  On CK_AUTH_RATE_OK the request's tokens are consumed and, for a
 * turn, one open-stream slot is held: give it back with
 * ck_auth_rate_stream_end().  Otherwise nothing is consumed and
 * `*retry_after_s` (may be NULL) is the number of whole seconds after which
 * the same request would pass (at least 1).  Thread-safe. */
ck_auth_rate_verdict_t ck_auth_rate_admit(ck_auth_rate_t *rate, const char *user, int turn, uint32_t *retry_after_s);

/* Releases one open-stream slot of `user` taken by ck_auth_rate_admit().
 * Extra calls are ignored (the count never goes below zero).  Thread-safe. */
void ck_auth_rate_stream_end(ck_auth_rate_t *rate, const char *user);

/* The number of users currently tracked (for tests and statistics). */
size_t ck_auth_rate_tracked(ck_auth_rate_t *rate);

/* The number of open streams of `user` (for tests and statistics). */
unsigned ck_auth_rate_streams(ck_auth_rate_t *rate, const char *user);

#endif
