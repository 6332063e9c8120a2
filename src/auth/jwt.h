/*
 * jwt.h - verification of JWT bearer tokens (RFC 7519, RFC 8725).
 *
 * libjwt 1.10 only checks signatures: it accepts the
 * HS/RS algorithm-confusion attack, verifies nothing when given a NULL key
 * and never looks at a claim.  This module wraps it so that a token is
 * accepted only when
 *   - it is at most CK_AUTH_JWT_MAX_TOKEN bytes of base64url in three parts,
 *   - its signature verifies with the configured key (never a NULL key),
 *   - its `alg` is in the set pinned for the key type (HS* for a secret,
 *     RS* for an RSA public key, the one ES* of the curve of an EC key),
 *   - its header has no `crit` member (we understand no extension),
 *   - `exp` is a JSON integer and now < exp + leeway,
 *   - `nbf`, when present, is a JSON integer and nbf <= now + leeway,
 *   - `iss` / `aud` match when configured (`aud` may be a string or an array),
 *   - `sub` is a non-empty string of at most 255 bytes with no control
 *     characters: it becomes the user id.
 * With a JWK set (jwks.h) instead of one key, the token's protected
 * header `kid` selects the key (no kid: only when the set has exactly one
 * key), and the algorithm must be one of that key's (its type, narrowed by
 * the JWK's `alg`) as well as of the pinned list.
 * The key configuration is immutable after creation (a JWK set changes only
 * by an atomic swap inside its holder), so one ck_auth_jwt_t is shared
 * read-only by every worker thread.  No h2o here: pure apart from
 * libjwt, jansson and OpenSSL, so it is unit-tested and fuzzed on its own.
 */
#ifndef CK_AUTH_JWT_H
#define CK_AUTH_JWT_H

#include <stddef.h>
#include <time.h>

#include "auth/jwks.h"

/* Tokens longer than this are rejected before any decoding. */
#define CK_AUTH_JWT_MAX_TOKEN 8192
/* Size of the user-id buffer ck_auth_jwt_verify() fills (= CK_USER_ID_MAX). */
#define CK_AUTH_JWT_SUB_MAX 256
/* RFC 7518, section 3.2: an HMAC key must be at least as long as the hash output. */
#define CK_AUTH_JWT_MIN_SECRET 32

typedef struct ck_auth_jwt ck_auth_jwt_t;

/* The textual configuration (normally the CHATKITD_JWT_* environment
 * variables).  Exactly one of `secret` / `public_key_pem` / `jwks` must be
 * set; the other fields may be NULL or empty. */
typedef struct ck_auth_jwt_settings {
    const char *secret;         /* HMAC secret (HS256/384/512) */
    const char *public_key_pem; /* PEM text of an RSA or EC public key ("PUBLIC KEY") */
    const char *algorithms;     /* comma list pinning the accepted algorithms, e.g. "RS256" */
    const char *issuer;         /* required `iss`, or NULL */
    const char *audience;       /* required member of `aud`, or NULL */
    long leeway_s;              /* clock skew allowed on exp/nbf, >= 0 */
    ck_auth_jwks_t *jwks;       /* JWK set holder (borrowed: must outlive the verifier), or NULL */
} ck_auth_jwt_settings_t;

/* The outcome of a verification.  Callers show only the short code
 * (ck_auth_jwt_result_code) to the client, never the reason. */
typedef enum ck_auth_jwt_result {
    CK_AUTH_JWT_OK = 0,
    CK_AUTH_JWT_INVALID, /* malformed, bad signature, wrong alg/iss/aud/sub, bad or missing claims */
    CK_AUTH_JWT_EXPIRED  /* valid in every respect except that exp has passed */
} ck_auth_jwt_result_t;

/* Builds a verifier from `settings`.  Checks the key (an HS secret of at
 * least CK_AUTH_JWT_MIN_SECRET bytes; a PEM public key parsed with OpenSSL to
 * learn its type) and that every algorithm in `settings->algorithms` fits the
 * key type; with no list, all algorithms of the key's family are accepted
 * (for EC keys: only the one matching the curve; for a JWK set: RS* and ES*,
 * each key further pinned by its own type).  Returns the verifier
 * (caller frees with ck_auth_jwt_free) or NULL with a one-line reason in
 * `err` (`errlen` bytes, always NUL-terminated). */
ck_auth_jwt_t *ck_auth_jwt_new(const ck_auth_jwt_settings_t *settings, char *err, size_t errlen);

/* Releases a verifier from ck_auth_jwt_new().  NULL is fine. */
void ck_auth_jwt_free(ck_auth_jwt_t *jwt);

/* A human-readable summary of what `jwt` accepts, e.g. "RSA public key,
 * algorithms RS256 RS384, issuer https://idp, audience chatkit, leeway 30 s",
 * written into `out` (`len` bytes, NUL-terminated, truncated if needed). */
void ck_auth_jwt_describe(const ck_auth_jwt_t *jwt, char *out, size_t len);

/* Verifies `token` (`len` bytes, need not be NUL-terminated) against `jwt`
 * at wall-clock time `now` (seconds since the epoch).  On CK_AUTH_JWT_OK
 * `user_id` (CK_AUTH_JWT_SUB_MAX bytes) holds the NUL-terminated `sub`;
 * otherwise it holds "".  With a JWK set, a `kid` naming no key of the
 * current set asks the holder for an early refresh (throttled, never
 * waited for).  Thread-safe; allocates nothing that outlives the call. */
ck_auth_jwt_result_t ck_auth_jwt_verify(const ck_auth_jwt_t *jwt, const char *token, size_t len, time_t now,
                                        char *user_id);

/* The short code for a result: "invalid_token" or "token_expired" ("" for
 * CK_AUTH_JWT_OK).  Static string. */
const char *ck_auth_jwt_result_code(ck_auth_jwt_result_t result);

#endif
