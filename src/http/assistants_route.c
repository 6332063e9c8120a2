/*
 * assistants_route.c - GET /assistants: the assistants a front end may
 * offer in ChatKit's model picker (composer.models), from the
 * CHATKITD_ASSISTANTS registry (src/agent/assistants.h).
 *
 * Same gate as POST /chatkit (CK_GATE_API: CORS, authentication, rate
 * limits).  Answer: {"data":[{"id","name","description","default"}]} in the
 * file's order.  Without a registry the route answers 404 not_found: there
 * is nothing to choose from, and a client hides its picker anyway unless it
 * gets two or more entries (see docs/assistants.md).
 */
#include <stdlib.h>
#include <string.h>

#include "agent/assistants.h"
#include "http/handlers.h"
#include "http/respond.h"

int ck_http_handle_assistants(h2o_req_t *req, ck_http_worker_t *worker)
{
    char user_id[CK_USER_ID_MAX];
    (void)worker;
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, CK_GATE_API, "GET, HEAD, OPTIONS");
    if (!ck_http_gate(req, CK_GATE_API, user_id))
        return 0;
    if (!ck_http_method_is(req, "GET") && !ck_http_method_is(req, "HEAD"))
        return ck_http_answer_405(req, "GET, HEAD, OPTIONS");
    const ck_assistants_t *registry = ck_assistants_get();
    if (registry == NULL)
        return ck_http_send_error(req, 404, "not_found",
                                  "no assistants are configured (CHATKITD_ASSISTANTS is not set)");
    json_t *body = ck_assistants_public(registry);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return ck_http_send_error(req, 500, "internal", "out of memory");
    ck_http_send_json(req, 200, text, strlen(text));
    free(text);
    return 0;
}
