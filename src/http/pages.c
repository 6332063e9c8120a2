/*
 * pages.c - the public, read-only routes: the documentation (GET /,
 * /docs/<page>, /<page>.md), liveness (/healthz) and readiness (/readyz),
 * plus the JSON 404 for unknown paths.
 */
#include <string.h>

#include "http/docs.h"
#include "http/handlers.h"
#include "http/respond.h"
#include "http/store_call.h"

static const char placeholder_page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>chatkitd</title></head><body>"
    "<h1>chatkitd</h1><p>A ChatKit protocol server. The protocol endpoint is <code>POST /chatkit</code>.</p>"
    "<p>No documentation pages were found (see <code>CHATKITD_DOCS_DIR</code>).</p></body></html>\n";

static int send_html(h2o_req_t *req, const char *html, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("public, max-age=300"));
    return ck_http_send_bytes(req, 200, "text/html; charset=utf-8", html, len);
}

/* The documentation page for `path`, or NULL when `path` names none. */
static const ck_http_doc_t *doc_for_path(const ck_http_worker_t *w, h2o_iovec_t path)
{
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/")) || h2o_memis(path.base, path.len, H2O_STRLIT("/docs")) ||
        h2o_memis(path.base, path.len, H2O_STRLIT("/docs/")))
        return ck_http_docs_find(w->docs, H2O_STRLIT("index"));
    if (path.len > 6 && memcmp(path.base, "/docs/", 6) == 0)
        return ck_http_docs_find(w->docs, path.base + 6, path.len - 6);
    if (path.len > 4 && memcmp(path.base + path.len - 3, ".md", 3) == 0 &&
        memchr(path.base + 1, '/', path.len - 1) == NULL)
        return ck_http_docs_find(w->docs, path.base + 1, path.len - 1);
    return NULL;
}

static int handle_readyz(h2o_req_t *req, const ck_http_worker_t *w)
{
    if (ck_http_all_workers_ready(w))
        return ck_http_send_json(req, 200, H2O_STRLIT("{\"status\":\"ready\"}"));
    return ck_http_send_db_unavailable(req, w);
}

int ck_http_handle_pages(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t path)
{
    char user_id[CK_USER_ID_MAX];
    if (!ck_http_gate(req, CK_GATE_PUBLIC, user_id))
        return 0;
    int get = ck_http_method_is(req, "GET") || ck_http_method_is(req, "HEAD");
    const ck_http_doc_t *doc = doc_for_path(w, path);
    int known = doc != NULL || h2o_memis(path.base, path.len, H2O_STRLIT("/")) ||
                h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")) ||
                h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"));
    if (!known)
        return ck_http_send_error(req, 404, "not_found", "no such route");
    if (!get)
        return ck_http_answer_405(req, "GET, HEAD");
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")))
        return ck_http_send_json(req, 200, H2O_STRLIT("{\"status\":\"ok\"}"));
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz")))
        return handle_readyz(req, w);
    if (doc == NULL)
        return send_html(req, placeholder_page, sizeof placeholder_page - 1);
    return send_html(req, doc->html, doc->html_len);
}
