/*
 * jwks.h - JSON Web Key Sets (RFC 7517) for JWT verification.
 *
 * Two layers, both free of I/O apart from warnings in the log:
 *   - a key SET: the usable signature keys of one JWKS document, parsed with
 *     jansson and turned into OpenSSL public keys, kept as PEM text (what
 *     libjwt 1.10's jwt_decode() wants).  A set is immutable once built and
 *     reference-counted, so a verifying thread can hold one while another
 *     thread swaps in a newer set;
 *   - a HOLDER: the current set of one source behind a mutex, plus the
 *     wake-up logic of the thread that refreshes it (periodic, early when a
 *     token names an unknown `kid`, stop).  The mutex is held only to swap or
 *     take a reference to a pointer, never across a fetch, so workers never
 *     wait for the network.
 * Fetching (file or URL, the refresh thread) lives in jwks_fetch.h;
 * token verification with a set in jwt.h.
 */
#ifndef CK_AUTH_JWKS_H
#define CK_AUTH_JWKS_H

#include <stddef.h>
#include <time.h>

/* Keys beyond this many in one document are ignored (with a warning). */
#define CK_AUTH_JWKS_MAX_KEYS 64
/* An unknown `kid` triggers at most one early refresh per this many seconds. */
#define CK_AUTH_JWKS_EARLY_REFRESH_S 30

/* One usable key of a set.  Owned by its set. */
typedef struct ck_auth_jwk {
    const char *kid;          /* NULL when the JWK has no `kid` */
    const unsigned char *pem; /* SubjectPublicKeyInfo PEM text, NUL-terminated */
    size_t pem_len;           /* without the terminator */
    unsigned alg_mask;        /* bit (1u << jwt_alg_t) per algorithm this key may verify */
    int rsa;                  /* 1 for an RSA key, 0 for an EC key */
    int bits;                 /* RSA modulus or EC field size */
} ck_auth_jwk_t;

typedef struct ck_auth_jwks_set ck_auth_jwks_set_t;

/* Parses the JWKS document `text` (`len` bytes: {"keys":[...]}) into a set
 * holding one reference (drop it with ck_auth_jwks_set_release).  Usable
 * keys: kty RSA (n, e; 2048 to 8192 bits) and kty EC (crv P-256/P-384/P-521,
 * x, y on the curve).  A key's algorithms are pinned by its type (RS256/384/
 * 512; the one ES* of its curve) and narrowed to its `alg` when present.
 * Skipped with a warning naming the key: `use` other than "sig", `key_ops`
 * without "verify", an `alg` that does not fit, kty oct (symmetric) or any
 * other type, malformed or weak keys, a `kid` seen before.  Returns NULL with
 * a one-line reason in `err` (`errlen` bytes) when the document is not a
 * JWKS or holds no usable key. */
ck_auth_jwks_set_t *ck_auth_jwks_parse(const char *text, size_t len, char *err, size_t errlen);

/* Drops one reference to `set`, freeing it with the last one.  NULL is fine.
 * Thread-safe. */
void ck_auth_jwks_set_release(ck_auth_jwks_set_t *set);

/* The number of usable keys in `set` (>= 1). */
size_t ck_auth_jwks_count(const ck_auth_jwks_set_t *set);

/* Key `i` (< ck_auth_jwks_count) of `set`, in document order. */
const ck_auth_jwk_t *ck_auth_jwks_key(const ck_auth_jwks_set_t *set, size_t i);

/* Selects the key for a token whose protected header carries `kid` (NULL
 * when it has none): the key with exactly that kid, or, for a NULL kid, the
 * only key of a one-key set.  Returns NULL when no key is selected. */
const ck_auth_jwk_t *ck_auth_jwks_find(const ck_auth_jwks_set_t *set, const char *kid);

/* --- the holder ------------------------------------------------------------- */

typedef struct ck_auth_jwks ck_auth_jwks_t;

/* What ck_auth_jwks_wait() woke up for. */
typedef enum ck_auth_jwks_wake {
    CK_AUTH_JWKS_WAKE_PERIOD, /* the refresh period passed */
    CK_AUTH_JWKS_WAKE_EARLY,  /* ck_auth_jwks_request_refresh() asked for one */
    CK_AUTH_JWKS_WAKE_STOP    /* ck_auth_jwks_stop() was called */
} ck_auth_jwks_wake_t;

/* A holder whose current set is `initial` (its reference passes to the
 * holder).  Returns NULL on OOM (the reference is then dropped).  Caller
 * frees with ck_auth_jwks_free once no thread uses the holder. */
ck_auth_jwks_t *ck_auth_jwks_new(ck_auth_jwks_set_t *initial);

/* Drops the holder's reference to its set and frees it.  NULL is fine. */
void ck_auth_jwks_free(ck_auth_jwks_t *jwks);

/* A new reference to the current set (never NULL): release it with
 * ck_auth_jwks_set_release.  Takes the mutex for a pointer copy only.
 * Thread-safe. */
ck_auth_jwks_set_t *ck_auth_jwks_acquire(ck_auth_jwks_t *jwks);

/* Makes `next` the current set (its reference passes to the holder) and
 * drops the holder's reference to the old one; threads still holding the old
 * set keep using it until they release it.  Thread-safe. */
void ck_auth_jwks_replace(ck_auth_jwks_t *jwks, ck_auth_jwks_set_t *next);

/* Asks the refresh thread, if any, for an early refresh because a token
 * named an unknown kid at wall-clock time `now`.  Granted at most once per
 * CK_AUTH_JWKS_EARLY_REFRESH_S (a clock that went backwards counts as time
 * passed).  Returns 1 when granted, 0 when throttled.  Never blocks on I/O.
 * Thread-safe. */
int ck_auth_jwks_request_refresh(ck_auth_jwks_t *jwks, time_t now);

/* For the refresh thread: waits up to `period_ms` milliseconds for an early
 * refresh request or a stop, and says which came first.  A request made
 * while nobody waits is not lost: the next wait returns at once. */
ck_auth_jwks_wake_t ck_auth_jwks_wait(ck_auth_jwks_t *jwks, long period_ms);

/* Wakes the refresh thread for good: every later wait returns
 * CK_AUTH_JWKS_WAKE_STOP and ck_auth_jwks_stopping() 1.  Thread-safe. */
void ck_auth_jwks_stop(ck_auth_jwks_t *jwks);

/* 1 once ck_auth_jwks_stop() has been called (lets a fetch abort early). */
int ck_auth_jwks_stopping(ck_auth_jwks_t *jwks);

#endif
