/*
 * handlers.h - the route handlers of src/http, called by the router
 * (router.c) after it picked the route from the request path.  Internal to
 * src/http.  Every handler calls ck_http_gate() before doing anything else
 * and answers every request (h2o on_req convention: return 0).
 */
#ifndef CK_HTTP_HANDLERS_H
#define CK_HTTP_HANDLERS_H

#include <stddef.h>

#include <h2o.h>

#include "http/gate.h"
#include "http/server.h"
#include "protocol/protocol.h"

/* GET /, /docs/<page>, /<page>.md, /healthz, /readyz, and the JSON 404 for
 * every other path. */
int ck_http_handle_pages(h2o_req_t *req, ck_http_worker_t *worker, h2o_iovec_t path);

/* GET /metrics: the Prometheus exposition (ops_routes.c). */
int ck_http_handle_metrics(h2o_req_t *req, ck_http_worker_t *worker);

/* Everything under /admin/ (ops_routes.c): 404 unless CHATKITD_ADMIN_TOKEN is set. */
int ck_http_handle_admin(h2o_req_t *req, ck_http_worker_t *worker, h2o_iovec_t path);

/* 1 when `req` carries "Authorization: Bearer <token>" (constant-time compare). */
int ck_http_bearer_matches(h2o_req_t *req, const char *token);

/* 1 when `path` is a route of the browser client (/chat, /chat/assets/...,
 * /widget.js); ck_http_handle_web_client() answers it (web_client.c). */
int ck_http_web_client_route(h2o_iovec_t path);
int ck_http_handle_web_client(h2o_req_t *req, ck_http_worker_t *worker, h2o_iovec_t path);

/* POST /chatkit (and its OPTIONS preflight). */
int ck_http_handle_chatkit(h2o_req_t *req, ck_http_worker_t *worker);

/* GET /assistants (and its OPTIONS preflight): the configured assistants. */
int ck_http_handle_assistants(h2o_req_t *req, ck_http_worker_t *worker);

/* Everything under /attachments/ ; `rest` is the path after that prefix. */
int ck_http_handle_attachments(h2o_req_t *req, ck_http_worker_t *worker, h2o_iovec_t rest);

/* /memory and /memory/<id> (memory_routes.c); `rest` is the path after
 * "/memory" and its '/' (empty for /memory itself). */
int ck_http_handle_memory(h2o_req_t *req, ck_http_worker_t *worker, h2o_iovec_t rest);

/* The `attachments.create` request type of POST /chatkit, for `user_id`
 * (the gate already passed).  Does not take ownership of `request`. */
int ck_http_attachments_create(h2o_req_t *req, ck_http_worker_t *worker, const ck_request_t *request,
                               const char *user_id);

/* 1 when the request method is `m` (a string literal). */
#define ck_http_method_is(req, m) h2o_memis((req)->method.base, (req)->method.len, H2O_STRLIT(m))

/* Answers an OPTIONS request: the gate answers preflights itself; when it
 * lets the request through, a bare 204 with `allow` in the Allow header. */
int ck_http_answer_options(h2o_req_t *req, ck_gate_kind_t kind, const char *allow);

/* Answers 405 with the Allow header and a JSON error. */
int ck_http_answer_405(h2o_req_t *req, const char *allow);

#endif
