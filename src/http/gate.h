/*
 * gate.h - the checks every request passes before a handler does any work:
 * CORS (preflight answers and response headers), authentication (JWT bearer
 * tokens, or the development-only X-User-Id header), per-user rate limits and
 * the per-user cap on concurrently open streams.
 *
 * The decisions and the configuration are src/auth/gate.h's; this header
 * applies them to an h2o request.  Handlers call ck_http_gate() first; when it returns 0 it has already sent
 * the answer (preflight 204, 401, 429, ...) and the handler returns at once.
 */
#ifndef CK_HTTP_GATE_H
#define CK_HTTP_GATE_H

#include <stddef.h>
#include <stdint.h>

#include <h2o.h>

#include "auth/gate.h"

typedef enum ck_gate_kind {
    CK_GATE_API,      /* POST /chatkit, non-streaming request types */
    CK_GATE_TURN,     /* POST /chatkit, streaming request types (a "turn") */
    CK_GATE_UPLOAD,   /* attachment uploads authorized by a signed URL token (no auth header) */
    CK_GATE_DOWNLOAD, /* attachment downloads/previews */
    CK_GATE_PUBLIC    /* /, /healthz, /readyz: CORS only */
} ck_gate_kind_t;

/* Reads the gate's configuration from the environment and logs how it is set
 * up (loudly when no JWT key is configured).  Returns 0, or -1 on a bad
 * configuration (logged).  Call once before the workers start. */
int ck_http_gate_init(void);
void ck_http_gate_shutdown(void);

/* Runs the checks for `req` (order and answers: see gate.c and
 * docs/security.md).  Returns 1 with `user_id` filled (NUL-terminated, at
 * most CK_USER_ID_MAX-1 bytes) when the request may go on; returns 0 when
 * the gate has already answered the request (preflight 204, 403, 401, 429,
 * 503).  For CK_GATE_PUBLIC, CK_GATE_UPLOAD and any OPTIONS request the
 * identity is not checked and `user_id` is "" (an upload's signed URL names
 * its user).  For CK_GATE_TURN a returned 1 with a non-empty user holds one
 * of the user's open-stream slots: release it exactly once with
 * ck_http_gate_turn_end() when the stream ends.  Thread-safe. */
int ck_http_gate(h2o_req_t *req, ck_gate_kind_t kind, char *user_id);
/* Gives back the open-stream slot a CK_GATE_TURN admission took for
 * `user_id`.  Extra calls (or "") are ignored.  Thread-safe. */
void ck_http_gate_turn_end(const char *user_id);

/* Maximum duration of one stream in milliseconds (0 = unlimited), from
 * CHATKITD_MAX_STREAM_SECONDS (default 300). */
uint64_t ck_http_gate_max_stream_ms(void);

#endif
