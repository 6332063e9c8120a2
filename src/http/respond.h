/*
 * respond.h - small helpers every src/http handler uses to answer: JSON
 * bodies, JSON error bodies {"error":{"code","message","request_id"}} and
 * raw bytes.
 *
 * Each helper sets the status, Content-Type and Content-Length, copies the
 * body into the request's pool (so the caller's buffer may be freed right
 * after the call) and sends it.  They return 0, the h2o on_req convention
 * for "answered".
 */
#ifndef CK_HTTP_RESPOND_H
#define CK_HTTP_RESPOND_H

#include <stddef.h>

#include <h2o.h>

#include "protocol/protocol.h"

/* Sends `json` (`len` bytes) as application/json with `status`. */
int ck_http_send_json(h2o_req_t *req, int status, const char *json, size_t len);

/* Sends {"error":{"code":code,"message":message,"request_id":id}} with
 * `status` (request_id: the request's id, see request_ctx.h). */
int ck_http_send_error(h2o_req_t *req, int status, const char *code, const char *message);

/* ck_http_send_error() for a protocol-layer error. */
int ck_http_send_proto_error(h2o_req_t *req, const ck_proto_error_t *err);

/* Sends `len` bytes with the given Content-Type (copied into the pool). */
int ck_http_send_bytes(h2o_req_t *req, int status, const char *content_type, const void *data, size_t len);

/* Sends an empty 204 No Content (CORS preflights, OPTIONS). */
int ck_http_send_no_content(h2o_req_t *req);

/* Adds a response header; `value` is copied into the request's pool. */
void ck_http_add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len);

#endif
