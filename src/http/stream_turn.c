/*
 * stream_turn.c - the streamed turn (see stream_turn.h).
 *
 * First version: answers 501 with a JSON error so the router can link
 * against the final entry point while the real driver is written.
 */
#include "stream_turn.h"

#include <stdlib.h>
#include <string.h>

#include "gate.h"

int ck_http_stream_turn(h2o_req_t *req, struct ck_http_worker *worker, ck_request_t *request, const char *user_id)
{
    static const char body[] = "{\"error\":{\"code\":\"not_implemented\",\"message\":\"streamed turns are not available yet\"}}";
    (void)worker;
    ck_request_free(request);
    ck_http_gate_turn_end(user_id);
    req->res.status = 501;
    req->res.reason = "Not Implemented";
    req->res.content_length = sizeof(body) - 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, sizeof(body) - 1);
    return 0;
}
