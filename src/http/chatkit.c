/*
 * chatkit.c - POST /chatkit, the ChatKit protocol endpoint (docs/protocol.md).
 *
 * Order of checks: body size (CHATKITD_MAX_BODY), parse and validate
 * (src/protocol), then the gate with the kind the request type needs (a
 * streamed turn takes a stream slot), so that every answer except a
 * transport-level failure is given to an admitted caller.  Then:
 *   - the six streaming types go to ck_http_stream_turn() (stream_turn.c),
 *     after the check of inference_options.model against the assistants
 *     registry (CHATKITD_ASSISTANTS: 400 for a name that is neither an
 *     assistant id nor an allowed model override);
 *   - attachments.create builds the upload descriptor (attachments.c);
 *   - input.transcribe decodes the audio and hands it to the worker's agent
 *     (ck_agent_transcribe, the model endpoint's /audio/transcriptions),
 *     tied to the request's life: 501 without a model endpoint, 502 when the
 *     endpoint fails;
 *   - every other type is one store op whose JSON is passed through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/log.h"
#include "http/handlers.h"
#include "http/request_ctx.h"
#include "http/respond.h"
#include "http/store_call.h"
#include "http/stream_turn.h"

/* --- input.transcribe ---------------------------------------------------- */

/* Lives in the request's pool: the dispose hook cancels a pending call
 * when h2o frees the request (client gone) before the transcript came. */
typedef struct transcribe_link {
    h2o_req_t *req;
    ck_agent_transcription_t *call; /* pending call, NULL once answered */
} transcribe_link_t;

static void on_transcribe_dispose(void *p)
{
    transcribe_link_t *link = p;
    if (link->call != NULL)
        ck_agent_transcribe_cancel(link->call);
    link->call = NULL;
}

static void on_transcript(const ck_agent_transcript_t *result, void *user)
{
    transcribe_link_t *link = user;
    link->call = NULL;
    if (!result->ok) {
        ck_warn("input.transcribe: the transcription endpoint failed: %s", result->error ? result->error : "?");
        ck_http_send_error(link->req, 502, "upstream_error", "the transcription endpoint failed; try again");
        return;
    }
    json_t *body = json_pack("{s:s}", "text", result->text);
    char *text = body ? ck_proto_dumps(body) : NULL;
    json_decref(body);
    if (text == NULL)
        ck_http_send_error(link->req, 500, "internal", "out of memory");
    else
        ck_http_send_json(link->req, 200, text, strlen(text));
    free(text);
}

/* input.transcribe (docs/protocol.md, "input.transcribe").  The decoded audio is bounded by the
 * request body limit (CHATKITD_MAX_BODY), which the base64 text fits in. */
static int answer_transcribe(h2o_req_t *req, ck_http_worker_t *w, const ck_request_t *request)
{
    if (!w->config->model_configured)
        return ck_http_send_error(req, 501, "not_implemented",
                                  "transcription requires a model endpoint (set OPENAI_BASE_URL / OPENAI_API_KEY)");
    if (w->agent == NULL)
        return ck_http_send_db_unavailable(req, w);
    const json_t *b64 = json_object_get(request->params, "audio_base64");
    const char *mime_type = json_string_value(json_object_get(request->params, "mime_type"));
    size_t len = 0;
    unsigned char *audio = ck_base64_decode(json_string_value(b64), json_string_length(b64), &len);
    if (audio == NULL || len == 0) {
        free(audio);
        return ck_http_send_error(req, 400, "invalid_params",
                                  len == 0 && audio ? "params.audio_base64 is empty"
                                                    : "params.audio_base64 must be standard base64");
    }
    transcribe_link_t *link = h2o_mem_alloc_shared(&req->pool, sizeof *link, on_transcribe_dispose);
    link->req = req;
    link->call = ck_agent_transcribe(w->agent, audio, len, mime_type, on_transcript, link);
    free(audio);
    if (link->call == NULL)
        return ck_http_send_error(req, 500, "internal", "the transcription call could not be started");
    return 0;
}

/* --- other types ----------------------------------------------------------- */

/* One non-streaming request type, after the gate. */
static int answer_json_type(h2o_req_t *req, ck_http_worker_t *w, const ck_request_t *request, const char *user_id)
{
    if (request->type == CK_REQ_INPUT_TRANSCRIBE)
        return answer_transcribe(req, w, request);
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
        return ck_proto_error_set(err, 413, "too_large", "the request body is larger than %zu bytes",
                                  w->config->max_body);
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
    if (parsed)
        ck_http_request_set_op(req, request.type_name);
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
        const json_t *options = json_object_get(json_object_get(request.params, "input"), "inference_options");
        const char *model = json_string_value(json_object_get(options, "model"));
        if (!ck_agent_model_allowed(w->agent, model)) {
            ck_request_free(&request);
            ck_http_gate_turn_end(user_id);
            return ck_http_send_error(
                req, 400, "invalid_params",
                "params.input.inference_options.model is neither an assistant id nor an allowed model");
        }
        return ck_http_stream_turn(req, w, &request, user_id);
    }
    answer_json_type(req, w, &request, user_id);
    ck_request_free(&request);
    return 0;
}
