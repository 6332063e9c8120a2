/*
 * rate_limit.c - the sharded per-user limiter of rate_limit.h.
 *
 * One shard = a mutex, an array of hash chains and a count.  A user's entry
 * holds the two bucket levels (in tokens, as doubles) as of `seen_ms`, the
 * last time the entry was touched; levels are brought up to date lazily by
 * refill() whenever the entry is looked at, so there is no background timer.
 */
#include "auth/rate_limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct rate_entry {
    struct rate_entry *next;
    uint64_t hash;
    uint64_t seen_ms; /* time of the levels below */
    double requests;  /* tokens in the request bucket */
    double turns;     /* tokens in the turn bucket */
    unsigned streams; /* open streams */
    char user[];      /* NUL-terminated */
} rate_entry_t;

typedef struct rate_shard {
    pthread_mutex_t lock;
    rate_entry_t **chains;
    size_t nchains; /* power of two */
    size_t count;
} rate_shard_t;

struct ck_auth_rate {
    ck_auth_rate_config_t cfg;
    size_t shard_cap; /* entries per shard */
    uint64_t seed;
    rate_shard_t shards[CK_AUTH_RATE_SHARDS];
};

static uint64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FNV-1a over the seed and the user id, then a final mix. */
static uint64_t hash_user(uint64_t seed, const char *user)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

ck_auth_rate_t *ck_auth_rate_new(const ck_auth_rate_config_t *config)
{
    ck_auth_rate_t *rate = calloc(1, sizeof(*rate));
    if (rate == NULL)
        return NULL;
    rate->cfg = *config;
    if (rate->cfg.max_users == 0)
        rate->cfg.max_users = 100000;
    if (rate->cfg.clock == NULL)
        rate->cfg.clock = monotonic_ms;
    rate->shard_cap = (rate->cfg.max_users + CK_AUTH_RATE_SHARDS - 1) / CK_AUTH_RATE_SHARDS;
    if (getrandom(&rate->seed, sizeof(rate->seed), 0) != (ssize_t)sizeof(rate->seed))
        rate->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)rate;
    size_t nchains = 16;
    while (nchains < rate->shard_cap)
        nchains *= 2;
    for (size_t i = 0; i < CK_AUTH_RATE_SHARDS; i++) {
        rate_shard_t *sh = &rate->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->nchains = nchains;
        sh->chains = calloc(nchains, sizeof(*sh->chains));
        if (sh->chains == NULL) {
            ck_auth_rate_free(rate);
            return NULL;
        }
    }
    return rate;
}

void ck_auth_rate_free(ck_auth_rate_t *rate)
{
    if (rate == NULL)
        return;
    for (size_t i = 0; i < CK_AUTH_RATE_SHARDS; i++) {
        rate_shard_t *sh = &rate->shards[i];
        for (size_t c = 0; sh->chains != NULL && c < sh->nchains; c++) {
            rate_entry_t *e = sh->chains[c];
            while (e != NULL) {
                rate_entry_t *next = e->next;
                free(e);
                e = next;
            }
        }
        free(sh->chains);
        pthread_mutex_destroy(&sh->lock);
    }
    free(rate);
}

/* A bucket level after `elapsed_ms` more at `per_min` tokens per minute,
 * capped at per_min. */
static double refilled(double level, unsigned per_min, uint64_t elapsed_ms)
{
    double v = level + (double)elapsed_ms * per_min / 60000.0;
    return v > per_min ? per_min : v;
}

static void refill(const ck_auth_rate_t *rate, rate_entry_t *e, uint64_t now)
{
    uint64_t elapsed = now > e->seen_ms ? now - e->seen_ms : 0;
    e->requests = refilled(e->requests, rate->cfg.requests_per_min, elapsed);
    e->turns = refilled(e->turns, rate->cfg.turns_per_min, elapsed);
    e->seen_ms = now;
}

/* An entry that carries no information: forgetting it changes nothing.
 * Leaves the entry untouched (its seen_ms orders the LRU fallback). */
static int idle(const ck_auth_rate_t *rate, const rate_entry_t *e, uint64_t now)
{
    uint64_t elapsed = now > e->seen_ms ? now - e->seen_ms : 0;
    return e->streams == 0 &&
           refilled(e->requests, rate->cfg.requests_per_min, elapsed) >= rate->cfg.requests_per_min &&
           refilled(e->turns, rate->cfg.turns_per_min, elapsed) >= rate->cfg.turns_per_min;
}

/* Unlinks and frees every idle entry of `sh`; when none was idle, the least
 * recently seen one without open streams.  Returns the number removed. */
static size_t evict(const ck_auth_rate_t *rate, rate_shard_t *sh, uint64_t now)
{
    size_t removed = 0;
    rate_entry_t **oldest = NULL;
    for (size_t c = 0; c < sh->nchains; c++) {
        rate_entry_t **pp = &sh->chains[c];
        while (*pp != NULL) {
            rate_entry_t *e = *pp;
            if (idle(rate, e, now)) {
                *pp = e->next;
                free(e);
                removed++;
                continue;
            }
            if (e->streams == 0 && (oldest == NULL || e->seen_ms < (*oldest)->seen_ms))
                oldest = pp;
            pp = &e->next;
        }
    }
    if (removed == 0 && oldest != NULL) {
        rate_entry_t *e = *oldest;
        *oldest = e->next;
        free(e);
        removed = 1;
    }
    sh->count -= removed;
    return removed;
}

/* Finds `user` in `sh` or adds it with full buckets.  Returns NULL when the
 * shard is full of streaming users or memory ran out.  Shard locked. */
static rate_entry_t *lookup(ck_auth_rate_t *rate, rate_shard_t *sh, const char *user, uint64_t h, uint64_t now)
{
    size_t c = (size_t)(h >> 8) & (sh->nchains - 1);
    for (rate_entry_t *e = sh->chains[c]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->user, user) == 0) {
            refill(rate, e, now);
            return e;
        }
    }
    if (sh->count >= rate->shard_cap && evict(rate, sh, now) == 0)
        return NULL;
    size_t n = strlen(user);
    rate_entry_t *e = malloc(sizeof(*e) + n + 1);
    if (e == NULL)
        return NULL;
    e->hash = h;
    e->seen_ms = now;
    e->requests = rate->cfg.requests_per_min;
    e->turns = rate->cfg.turns_per_min;
    e->streams = 0;
    memcpy(e->user, user, n + 1);
    e->next = sh->chains[c];
    sh->chains[c] = e;
    sh->count++;
    return e;
}

/* Whole seconds until a bucket at `level` holds one token (at least 1). */
static uint32_t wait_s(double level, unsigned per_min)
{
    double ms = (1.0 - level) * 60000.0 / per_min;
    uint32_t s = (uint32_t)((ms + 999.0) / 1000.0);
    return s < 1 ? 1 : s;
}

/* The verdict for entry `e` (shard locked); consumes on OK. */
static ck_auth_rate_verdict_t judge(const ck_auth_rate_t *rate, rate_entry_t *e, int turn, uint32_t *retry)
{
    const ck_auth_rate_config_t *cfg = &rate->cfg;
    if (cfg->requests_per_min > 0 && e->requests < 1.0) {
        *retry = wait_s(e->requests, cfg->requests_per_min);
        return CK_AUTH_RATE_REQUESTS;
    }
    if (turn && cfg->turns_per_min > 0 && e->turns < 1.0) {
        *retry = wait_s(e->turns, cfg->turns_per_min);
        return CK_AUTH_RATE_TURNS;
    }
    if (turn && cfg->max_streams > 0 && e->streams >= cfg->max_streams) {
        *retry = 1;
        return CK_AUTH_RATE_STREAMS;
    }
    if (cfg->requests_per_min > 0)
        e->requests -= 1.0;
    if (turn) {
        if (cfg->turns_per_min > 0)
            e->turns -= 1.0;
        e->streams++;
    }
    return CK_AUTH_RATE_OK;
}

ck_auth_rate_verdict_t ck_auth_rate_admit(ck_auth_rate_t *rate, const char *user, int turn, uint32_t *retry_after_s)
{
    uint32_t retry = 0;
    uint64_t h = hash_user(rate->seed, user);
    rate_shard_t *sh = &rate->shards[h % CK_AUTH_RATE_SHARDS];
    uint64_t now = rate->cfg.clock(rate->cfg.clock_ctx);
    pthread_mutex_lock(&sh->lock);
    rate_entry_t *e = lookup(rate, sh, user, h, now);
    ck_auth_rate_verdict_t v = CK_AUTH_RATE_FULL;
    if (e != NULL)
        v = judge(rate, e, turn, &retry);
    else
        retry = 1;
    pthread_mutex_unlock(&sh->lock);
    if (retry_after_s != NULL)
        *retry_after_s = retry;
    return v;
}

/* The entry of `user` if tracked (shard locked), else NULL. */
static rate_entry_t *find(rate_shard_t *sh, const char *user, uint64_t h)
{
    for (rate_entry_t *e = sh->chains[(size_t)(h >> 8) & (sh->nchains - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->user, user) == 0)
            return e;
    }
    return NULL;
}

void ck_auth_rate_stream_end(ck_auth_rate_t *rate, const char *user)
{
    uint64_t h = hash_user(rate->seed, user);
    rate_shard_t *sh = &rate->shards[h % CK_AUTH_RATE_SHARDS];
    pthread_mutex_lock(&sh->lock);
    rate_entry_t *e = find(sh, user, h);
    if (e != NULL && e->streams > 0)
        e->streams--;
    pthread_mutex_unlock(&sh->lock);
}

unsigned ck_auth_rate_streams(ck_auth_rate_t *rate, const char *user)
{
    uint64_t h = hash_user(rate->seed, user);
    rate_shard_t *sh = &rate->shards[h % CK_AUTH_RATE_SHARDS];
    pthread_mutex_lock(&sh->lock);
    rate_entry_t *e = find(sh, user, h);
    unsigned n = e != NULL ? e->streams : 0;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

size_t ck_auth_rate_tracked(ck_auth_rate_t *rate)
{
    size_t n = 0;
    for (size_t i = 0; i < CK_AUTH_RATE_SHARDS; i++) {
        pthread_mutex_lock(&rate->shards[i].lock);
        n += rate->shards[i].count;
        pthread_mutex_unlock(&rate->shards[i].lock);
    }
    return n;
}
