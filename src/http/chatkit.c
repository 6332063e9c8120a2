/*
 * chatkit.c - POST /chatkit, the ChatKit protocol endpoint (spec §1).
 *
 * Order of checks: body size (CHATKITD_MAX_BODY), parse and validate
 * (src/protocol), then the gate with the kind the request type needs (a
 * streamed turn takes a stream slot), so that every answer except a
 * transport-level failure is given to an admitted caller.  Then:
 *   - the six streaming types go to ck_http_stream_turn() (stream_turn.c);
 *   - attachments.create builds the upload descriptor (attachments.c);
 *   - input.transcribe answers 501 (no transcription call in src/agent);
 *   - every other type is one store op whose JSON is passed through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/respond.h"
#include "http/store_call.h"
#include "http/stream_turn.h"

static int send_transcribe_unavailable(h2o_req_t *req, const ck_http_worker_t *w)
{
    return ck_http_send_error(req, 501, "not_implemented",
                              w->config->model_configured ? "transcription is not supported by this server"
                                         : "transcription requires a model endpoint (set OPENAI_BASE_URL / OPENAI_API_KEY)");
}

/* One non-streaming request type, after the gate. */
static int answer_json_type(h2o_req_t *req, ck_http_worker_t *w, const ck_request_t *request, const char *user_id)
{
    if (request->type == CK_REQ_INPUT_TRANSCRIBE)
        return send_transcribe_unavailable(req, w);
    if (request->type == CK_REQ_ATTACHMENTS_CREATE)
        return ck_http_attachments_create(req, w, request, user_id);
    const char *op = ck_proto_store_op(request->type);
    if (op == NULL)
        return ck_http_send_error(req, 500, "internal", "request type has no store operation");
    char *params = ck_proto_dumps(request->params);
    if (params == NULL)
        return ck_http_send_error(req, 500, "internal", "out of memory");
    ck_http_store_args_t args = {op, user_id, params, strlen(params), NULL, 0, 0};
    ck_http_store_call(req, w, &args, NULL, NULL);
    free(params);
    return 0;
}

/* Parses the body; returns 0 with `request` filled or -1 with `err` filled. */
static int parse_body(h2o_req_t *req, const ck_http_worker_t *w, ck_request_t *request, ck_proto_error_t *err)
{
    if (req->entity.base == NULL || req->entity.len == 0)
        return ck_proto_error_set(err, 400, "invalid_json", "the request body must be a JSON object");
    if (req->entity.len > w->config->max_body)
        return ck_proto_error_set(err, 413, "too_large", "the request body is larger than %zu bytes", w->config->max_body);
    return ck_proto_parse_request(req->entity.base, req->entity.len, NULL, request, err);
}

int ck_http_handle_chatkit(h2o_req_t *req, ck_http_worker_t *w)
{
    char user_id[CK_USER_ID_MAX];
    ck_request_t request = {0};
    ck_proto_error_t err = {0};
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, CK_GATE_API, "POST, OPTIONS");
    if (!ck_http_method_is(req, "POST")) {
        if (!ck_http_gate(req, CK_GATE_API, user_id))
            return 0;
        return ck_http_answer_405(req, "POST, OPTIONS");
    }
    int parsed = parse_body(req, w, &request, &err) == 0;
    ck_gate_kind_t kind = parsed && request.streaming ? CK_GATE_TURN : CK_GATE_API;
    if (!ck_http_gate(req, kind, user_id)) {
        ck_request_free(&request);
        return 0;
    }
    if (!parsed)
        return ck_http_send_proto_error(req, &err);
    if (request.streaming) {
        if (!ck_http_store_available(w)) {
            ck_request_free(&request);
            ck_http_gate_turn_end(user_id);
            return ck_http_send_db_unavailable(req, w);
        }
        return ck_http_stream_turn(req, w, &request, user_id);
    }
    answer_json_type(req, w, &request, user_id);
    ck_request_free(&request);
    return 0;
}
