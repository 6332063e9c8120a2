/*
 * jwks_fetch.h - where a JWK set comes from (CHATKITD_JWT_JWKS): a
 * file, read once at start-up, or an http(s) URL, fetched once at start-up
 * (blocking, before any worker exists) and then refreshed by a dedicated
 * thread every refresh period, and early when a token names an unknown kid
 * (at most once per CK_AUTH_JWKS_EARLY_REFRESH_S).  A failed refresh keeps
 * the old set and logs a warning.  The refresh thread uses blocking libcurl
 * easy transfers (10 s timeouts); no event loop is involved, and verifying
 * threads only ever take a reference to the current set (jwks.h).
 * libcurl must be initialised (curl_global_init) before a URL source starts.
 */
#ifndef CK_AUTH_JWKS_FETCH_H
#define CK_AUTH_JWKS_FETCH_H

#include <stddef.h>

#include "auth/jwks.h"

/* Largest JWKS document accepted, from a file or a URL. */
#define CK_AUTH_JWKS_DOC_MAX (1024 * 1024)
/* Connect and total timeout of one fetch, in seconds. */
#define CK_AUTH_JWKS_FETCH_TIMEOUT_S 10

typedef struct ck_auth_jwks_source ck_auth_jwks_source_t;

/* Loads the JWK set at `location` (a file path, or a URL starting with
 * http:// or https://) and, for a URL, starts the refresh thread with period
 * `refresh_s` (1..86400 seconds).  Blocks for the first load.  Returns the
 * source (caller stops and frees it with ck_auth_jwks_source_stop) or NULL
 * with a one-line reason in `err` (`errlen` bytes). */
ck_auth_jwks_source_t *ck_auth_jwks_source_start(const char *location, long refresh_s, char *err, size_t errlen);

/* The holder of the source's current set, for ck_auth_jwt_settings_t.jwks.
 * Valid until ck_auth_jwks_source_stop(). */
ck_auth_jwks_t *ck_auth_jwks_source_keys(ck_auth_jwks_source_t *src);

/* Stops the refresh thread (aborting a fetch in progress), joins it and
 * frees the source and its holder.  No verifier may use the holder any
 * more.  NULL is fine. */
void ck_auth_jwks_source_stop(ck_auth_jwks_source_t *src);

#endif
