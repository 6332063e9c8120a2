/* router.c - path dispatch and the shared OPTIONS / 405 answers (see router.h). */
#include "http/router.h"

#include <string.h>

#include "http/handlers.h"
#include "http/respond.h"

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ck_http_worker_t *w = ck_http_worker_of(req);
    h2o_iovec_t path = req->path_normalized;
    static const char attachments[] = "/attachments/";
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/chatkit")))
        return ck_http_handle_chatkit(req, w);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/assistants")))
        return ck_http_handle_assistants(req, w);
    if (path.len > sizeof attachments - 1 && memcmp(path.base, attachments, sizeof attachments - 1) == 0)
        return ck_http_handle_attachments(req, w,
                                          h2o_iovec_init(path.base + sizeof attachments - 1, path.len - (sizeof attachments - 1)));
    return ck_http_handle_pages(req, w, path);
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
