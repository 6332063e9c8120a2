/* router.c - path dispatch and the shared OPTIONS / 405 answers (see router.h). */
#include "http/router.h"

#include <string.h>

#include "base/log.h"
#include "http/handlers.h"
#include "http/request_ctx.h"
#include "http/respond.h"

/* The route name for metrics and the access log (a fixed set, whatever the path). */
static const char *route_op(h2o_iovec_t path)
{
    static const char *const exact[] = {"/chatkit",     "/healthz",    "/readyz", "/metrics",
                                        "/admin/stats", "/assistants", "/memory", "/"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (h2o_memis(path.base, path.len, exact[i], strlen(exact[i])))
            return exact[i];
    if (path.len >= 13 && memcmp(path.base, "/attachments/", 13) == 0)
        return "/attachments";
    if (path.len > 8 && memcmp(path.base, "/memory/", 8) == 0)
        return "/memory";
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/widget.js")))
        return "/widget.js";
    if (ck_http_web_client_route(path))
        return "/chat";
    if ((path.len >= 5 && memcmp(path.base, "/docs", 5) == 0) ||
        (path.len > 3 && memcmp(path.base + path.len - 3, ".md", 3) == 0))
        return "/docs";
    return "other";
}

static int dispatch(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t path)
{
    static const char attachments[] = "/attachments/";
    static const char memory[] = "/memory/";
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/chatkit")))
        return ck_http_handle_chatkit(req, w);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/assistants")))
        return ck_http_handle_assistants(req, w);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/memory")))
        return ck_http_handle_memory(req, w, h2o_iovec_init(path.base + path.len, 0));
    if (path.len > sizeof memory - 1 && memcmp(path.base, memory, sizeof memory - 1) == 0)
        return ck_http_handle_memory(req, w,
                                     h2o_iovec_init(path.base + sizeof memory - 1, path.len - (sizeof memory - 1)));
    if (path.len > sizeof attachments - 1 && memcmp(path.base, attachments, sizeof attachments - 1) == 0)
        return ck_http_handle_attachments(
            req, w, h2o_iovec_init(path.base + sizeof attachments - 1, path.len - (sizeof attachments - 1)));
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")))
        return ck_http_handle_metrics(req, w);
    if (ck_http_web_client_route(path))
        return ck_http_handle_web_client(req, w, path);
    if (path.len >= 7 && memcmp(path.base, "/admin/", 7) == 0)
        return ck_http_handle_admin(req, w, path);
    return ck_http_handle_pages(req, w, path);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ck_http_worker_t *w = ck_http_worker_of(req);
    h2o_iovec_t path = req->path_normalized;
    ck_http_request_ctx_t *ctx = ck_http_request_begin(req, route_op(path));
    const char *previous = ck_log_scope_enter(ctx->id);
    int rc = dispatch(req, w, path);
    ck_log_scope_leave(previous);
    return rc;
}

int ck_http_router_install(h2o_globalconf_t *config)
{
    h2o_hostconf_t *host = h2o_config_register_host(config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    if (handler == NULL)
        return -1;
    handler->on_req = on_req;
    return 0;
}

int ck_http_answer_options(h2o_req_t *req, ck_gate_kind_t kind, const char *allow)
{
    char user_id[CK_USER_ID_MAX];
    if (!ck_http_gate(req, kind, user_id))
        return 0;
    ck_http_add_header(req, H2O_TOKEN_ALLOW, allow, strlen(allow));
    return ck_http_send_no_content(req);
}

int ck_http_answer_405(h2o_req_t *req, const char *allow)
{
    ck_http_add_header(req, H2O_TOKEN_ALLOW, allow, strlen(allow));
    return ck_http_send_error(req, 405, "method_not_allowed", "method not allowed on this route");
}
