/*
 * web_client.c - the browser client served by chatkitd itself:
 *
 *   GET /chat                 the chat page (web/chat.html); `?embed=1` is the
 *                              same page inside the widget's iframe
 *   GET /chat/assets/<name>   its script, style sheet, icon and the two npm
 *                              libraries (marked, DOMPurify)
 *   GET /widget.js            the embeddable floating button (web/widget.js)
 *
 * The files are compiled into the binary (web_assets.h).  The page learns the
 * identity mode from its root element: the placeholder @AUTH@ in chat.html
 * becomes "jwt" when the gate requires bearer tokens, else "dev" (the page
 * then sends a per-browser X-User-Id).  Every answer carries a strict
 * Content-Security-Policy: scripts, styles and connections only from this
 * origin, images also from blob:/data: (local previews), no inline script.
 * The page may be framed only by this origin, except the embed variant,
 * which any site may frame (it holds no token of its own: the host page
 * hands one over with postMessage, see docs/web-client.md).
 */
#include <stdlib.h>
#include <string.h>

#include "auth/gate.h"
#include "http/gate.h"
#include "http/handlers.h"
#include "http/respond.h"
#include "http/web_assets.h"

#define CSP_BASE                                                                                                       \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "        \
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-src 'none'; "

static const char assets_prefix[] = "/chat/assets/";

static const ck_web_asset_t *find_asset(const char *name, size_t len)
{
    for (const ck_web_asset_t *a = ck_web_assets; a->name != NULL; a++)
        if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return a;
    return NULL;
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, value, strlen(value));
}

/* 1 when the query string has the parameter embed=1. */
static int is_embed(const h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    static const char key[] = "embed=1";
    for (const char *p = q; p + sizeof key - 1 <= end; p++) {
        if ((p == q || p[-1] == '&') && memcmp(p, key, sizeof key - 1) == 0 &&
            (p + sizeof key - 1 == end || p[sizeof key - 1] == '&'))
            return 1;
    }
    return 0;
}

static void add_common_headers(h2o_req_t *req, int embed, const char *cache)
{
    add_header(req, "content-security-policy",
               embed ? CSP_BASE "frame-ancestors *" : CSP_BASE "frame-ancestors 'self'");
    add_header(req, "x-content-type-options", "nosniff");
    add_header(req, "referrer-policy", "no-referrer");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache, strlen(cache));
}

/* chat.html with @AUTH@ replaced by the gate's identity mode. */
static int send_page(h2o_req_t *req)
{
    const ck_web_asset_t *a = find_asset(H2O_STRLIT("chat.html"));
    if (a == NULL)
        return ck_http_send_error(req, 404, "not_found", "the chat page is not built into this binary");
    static const char mark[] = "@AUTH@";
    const char *mode = ck_auth_gate_uses_jwt() ? "jwt" : "dev";
    const char *at = memmem(a->data, a->len, mark, sizeof mark - 1);
    add_common_headers(req, is_embed(req), "no-cache");
    if (at == NULL)
        return ck_http_send_bytes(req, 200, a->content_type, a->data, a->len);
    size_t head = (size_t)(at - (const char *)a->data), tail = a->len - head - (sizeof mark - 1);
    size_t len = head + strlen(mode) + tail;
    char *page = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(page, a->data, head);
    memcpy(page + head, mode, strlen(mode));
    memcpy(page + head + strlen(mode), at + sizeof mark - 1, tail);
    return ck_http_send_bytes(req, 200, a->content_type, page, len);
}

static int send_asset(h2o_req_t *req, const ck_web_asset_t *a)
{
    add_common_headers(req, 0, "public, max-age=300");
    return ck_http_send_bytes(req, 200, a->content_type, a->data, a->len);
}

int ck_http_web_client_route(h2o_iovec_t path)
{
    return h2o_memis(path.base, path.len, H2O_STRLIT("/chat")) ||
           h2o_memis(path.base, path.len, H2O_STRLIT("/widget.js")) ||
           (path.len > sizeof assets_prefix - 1 && memcmp(path.base, assets_prefix, sizeof assets_prefix - 1) == 0);
}

int ck_http_handle_web_client(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t path)
{
    (void)w;
    char user_id[CK_USER_ID_MAX];
    if (!ck_http_gate(req, CK_GATE_PUBLIC, user_id))
        return 0;
    const ck_web_asset_t *asset = NULL;
    int page = h2o_memis(path.base, path.len, H2O_STRLIT("/chat"));
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/widget.js")))
        asset = find_asset(H2O_STRLIT("widget.js"));
    else if (!page)
        asset = find_asset(path.base + sizeof assets_prefix - 1, path.len - (sizeof assets_prefix - 1));
    if (!page && asset == NULL)
        return ck_http_send_error(req, 404, "not_found", "no such route");
    if (!ck_http_method_is(req, "GET") && !ck_http_method_is(req, "HEAD"))
        return ck_http_answer_405(req, "GET, HEAD");
    if (page)
        return send_page(req);
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/widget.js")) &&
        h2o_find_header(&req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, -1) < 0)
        add_header(req, "access-control-allow-origin", "*");
    return send_asset(req, asset);
}
