/*
 * gate.h - the decisions of the gate in front of every request, without
 * HTTP: the gate's configuration (JWT keys, CORS, rate limits, read from the
 * environment once), who the caller is (a bearer token, or X-User-Id in
 * development mode) and whether the caller is admitted now (rate limits and
 * open-stream slots).
 *
 * src/http/gate.c reads the request headers, calls these functions in order
 * (CORS, identity, limits) and turns each refusal into an answer.
 */
#ifndef CK_AUTH_GATE_H
#define CK_AUTH_GATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/cors.h"

/* Size of every user-id buffer (at most CK_USER_ID_MAX-1 bytes + NUL). */
#define CK_USER_ID_MAX 256

/* Why a request may not go on, as the client is told. */
typedef struct ck_auth_refusal {
    int status;       /* 400, 401, 429 or 503 */
    const char *code; /* the error code of {"error":{"code","message"}} */
    const char *message;
    const char *www_authenticate; /* 401: the WWW-Authenticate challenge; else NULL */
    uint32_t retry_after_s;       /* 429/503 of the limits: Retry-After; else 0 */
    const char *label;            /* metric label: the failure reason (identity) or the limit
                                     ("requests", "turns", "streams", "users") */
} ck_auth_refusal_t;

/* Reads the gate's configuration from the environment and logs how it is set
 * up (loudly when no JWT key is configured).  Returns 0, or -1 on a bad
 * configuration (logged).  Call once before the workers start. */
int ck_auth_gate_init(void);
void ck_auth_gate_shutdown(void);

/* The CORS decision for `req` under the configured origins (see cors.h). */
void ck_auth_gate_cors(const ck_auth_cors_request_t *req, ck_auth_cors_decision_t *out);

/* Who is calling.  `authorization` is the first Authorization header's value
 * (NULL when absent), `authorization_count` how many there are; `x_user_id`
 * the X-User-Id header (NULL when absent).  With a JWT key configured the
 * bearer token decides; otherwise (development mode) X-User-Id does, and
 * "anonymous" when it is absent or empty.  Returns 1 with `user_id` filled
 * (NUL-terminated, at most CK_USER_ID_MAX-1 bytes), or 0 with `why` set
 * (401 for a missing/bad token, 400 for a malformed X-User-Id). */
int ck_auth_gate_identify(const char *authorization, size_t authorization_len, int authorization_count,
                          const char *x_user_id, size_t x_user_id_len, char *user_id, ck_auth_refusal_t *why);

/* Admits one request of `user_id` under the rate limits; `turn` also takes
 * a turn token and one open-stream slot (give it back with
 * ck_auth_gate_turn_end).  Returns 1, or 0 with `why` set (429/503). */
int ck_auth_gate_admit(const char *user_id, int turn, ck_auth_refusal_t *why);

/* Gives back the open-stream slot a turn admission took for `user_id`.
 * Extra calls (or "") are ignored.  Thread-safe. */
void ck_auth_gate_turn_end(const char *user_id);

/* Maximum duration of one stream in milliseconds (0 = unlimited), from
 * CHATKITD_MAX_STREAM_SECONDS (default 300). */
uint64_t ck_auth_gate_max_stream_ms(void);

/* {"auth": mode, "limits": {...}, "cors": bool} for the start-up line (a
 * new JSON object, caller releases). */
json_t *ck_auth_gate_summary(void);

/* 1 when requests must carry a JWT bearer token, 0 in development mode
 * (identity from X-User-Id).  The browser client (/chat) is told which. */
int ck_auth_gate_uses_jwt(void);

/* The token of an Authorization value "Bearer <token>" (scheme matched
 * without case, blanks around the token dropped), or NULL when the value is
 * not a bearer credential.  `*len` is the token's length. */
const char *ck_auth_bearer_token(const char *value, size_t value_len, size_t *len);

#endif
