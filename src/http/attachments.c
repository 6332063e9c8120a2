/*
 * attachments.c - attachment uploads and downloads over HTTP (docs/protocol.md, "Attachments").
 *
 *   POST /chatkit attachments.create     two-phase step 1: id, limits, signed
 *                                         upload URL (15 min), signed preview URL
 *   PUT|POST /attachments/<id>/upload     two-phase step 2 (token in the URL;
 *                                         raw body, or multipart `file` part)
 *   POST /attachments/upload              direct upload (API auth, multipart)
 *   GET /attachments/<id>/preview?token=  image preview (token bound to user + id)
 *   GET /attachments/<id>                 download by the authenticated owner
 *
 * Limits are checked here before the store sees the bytes: size -> 413,
 * MIME type outside CHATKITD_UPLOAD_MIME_TYPES -> 415, bad token -> 403.
 * The store re-checks ownership on every op (another user's id is 404).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/log.h"
#include "http/handlers.h"
#include "http/multipart.h"
#include "http/respond.h"
#include "http/store_call.h"
#include "http/upload_policy.h"
#include "http/url_token.h"

#define CK_UPLOAD_TOKEN_TTL_S (15 * 60)
#define CK_PUBLIC_BASE_MAX 512
#define CK_ATTACHMENT_NAME_MAX 255

static ck_http_token_key_t token_key(const ck_http_worker_t *w)
{
    return (ck_http_token_key_t){w->config->upload_secret, w->config->upload_secret_len};
}

static int authority_is_safe(h2o_iovec_t a)
{
    if (a.len == 0 || a.len > 255)
        return 0;
    for (size_t i = 0; i < a.len; i++) {
        char c = a.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

/* The absolute base of upload/preview URLs: CHATKITD_PUBLIC_URL, else the
 * request's scheme and authority (the listen address if the Host is odd). */
static void public_base(h2o_req_t *req, const ck_http_worker_t *w, char out[CK_PUBLIC_BASE_MAX])
{
    if (w->config->public_url != NULL) {
        snprintf(out, CK_PUBLIC_BASE_MAX, "%s", w->config->public_url);
        return;
    }
    const char *scheme = req->scheme != NULL && req->scheme->name.len == 5 ? "https" : "http";
    if (authority_is_safe(req->authority))
        snprintf(out, CK_PUBLIC_BASE_MAX, "%s://%.*s", scheme, (int)req->authority.len, req->authority.base);
    else
        snprintf(out, CK_PUBLIC_BASE_MAX, "%s://%s", scheme, w->config->listen);
}

/* The preview URL of image `id` for `user_id` (malloc'd), or NULL. */
static char *preview_url(h2o_req_t *req, const ck_http_worker_t *w, const char *id, const char *user_id)
{
    char base[CK_PUBLIC_BASE_MAX], token[CK_HTTP_TOKEN_MAX], *url = NULL;
    if (ck_http_token_sign(token_key(w), CK_TOKEN_PREVIEW, id, user_id, 0, token) != 0)
        return NULL;
    public_base(req, w, base);
    return asprintf(&url, "%s/attachments/%s/preview?token=%s", base, id, token) < 0 ? NULL : url;
}

static int send_too_large(h2o_req_t *req, const ck_http_worker_t *w)
{
    char msg[160];
    snprintf(msg, sizeof msg, "attachments are limited to %zu bytes", w->config->upload_max_bytes);
    return ck_http_send_error(req, 413, "too_large", msg);
}

/* Answers 413/415 and returns 0 when `size`/`mime` break the upload
 * limits; returns -1 (nothing sent) when they are fine. */
static int send_limit_errors(h2o_req_t *req, const ck_http_worker_t *w, size_t size, const char *mime, size_t mime_len)
{
    if (size > w->config->upload_max_bytes)
        return send_too_large(req, w);
    if (!ck_http_mime_allowed(w->config->upload_mime_types, mime, mime_len))
        return ck_http_send_error(req, 415, "unsupported_media_type", "this file type is not accepted");
    return -1;
}

/* Runs `op` with the JSON object `params` (consumed) and the pass-through answer. */
static int call_with_params(h2o_req_t *req, ck_http_worker_t *w, const char *op, const char *user_id, json_t *params,
                            const void *data, size_t data_len, int with_bytes)
{
    char *text = params != NULL ? ck_proto_dumps(params) : NULL;
    json_decref(params);
    if (text == NULL)
        return ck_http_send_error(req, 500, "internal", "out of memory");
    ck_http_store_args_t args = {op, user_id, text, strlen(text), data, data_len, with_bytes};
    ck_http_store_call(req, w, &args, NULL, NULL);
    free(text);
    return 0;
}

int ck_http_attachments_create(h2o_req_t *req, ck_http_worker_t *w, const ck_request_t *request, const char *user_id)
{
    const char *name = json_string_value(json_object_get(request->params, "name"));
    const char *mime = json_string_value(json_object_get(request->params, "mime_type"));
    json_int_t size = json_integer_value(json_object_get(request->params, "size"));
    if (name == NULL || mime == NULL || size < 0)
        return ck_http_send_error(req, 400, "invalid_params",
                                  "params.name, params.mime_type and params.size are required");
    if (send_limit_errors(req, w, (size_t)size, mime, strlen(mime)) == 0)
        return 0;
    if (!ck_http_store_available(w))
        return ck_http_send_db_unavailable(req, w);
    char id[CK_ID_MAX], token[CK_HTTP_TOKEN_MAX], base[CK_PUBLIC_BASE_MAX],
        url[CK_PUBLIC_BASE_MAX + CK_HTTP_TOKEN_MAX + 128];
    ck_proto_new_id("atc", id);
    if (ck_http_token_sign(token_key(w), CK_TOKEN_UPLOAD, id, user_id, (int64_t)time(NULL) + CK_UPLOAD_TOKEN_TTL_S,
                           token) != 0)
        return ck_http_send_error(req, 500, "internal", "cannot sign the upload URL");
    public_base(req, w, base);
    snprintf(url, sizeof url, "%s/attachments/%s/upload?token=%s", base, id, token);
    const char *type = ck_http_attachment_type(mime, strlen(mime));
    json_t *params =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:{s:s,s:s,s:{}}}", "id", id, "name", name, "size", size, "mime_type", mime,
                  "type", type, "upload_descriptor", "url", url, "method", "PUT", "headers");
    if (params != NULL && strcmp(type, "image") == 0) {
        char *preview = preview_url(req, w, id, user_id);
        json_object_set_new(params, "preview_url", preview != NULL ? json_string(preview) : json_null());
        free(preview);
    }
    return call_with_params(req, w, "attachments.create", user_id, params, NULL, 0, 0);
}

/* The value of query parameter `name` of the request (not decoded: tokens
 * only use unreserved characters), or {NULL,0}. */
static h2o_iovec_t query_param(h2o_req_t *req, const char *name)
{
    size_t nlen = strlen(name);
    if (req->query_at == SIZE_MAX || req->query_at >= req->path.len)
        return h2o_iovec_init(NULL, 0);
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=')
            return h2o_iovec_init(p + nlen + 1, (size_t)(stop - p - (ptrdiff_t)nlen - 1));
        p = stop + 1;
    }
    return h2o_iovec_init(NULL, 0);
}

/* Verifies the URL's token for (purpose, id); fills user_id.  1 ok, else answered 403. */
static int check_token(h2o_req_t *req, ck_http_worker_t *w, ck_http_token_purpose_t purpose, const char *id,
                       char user_id[CK_USER_ID_MAX])
{
    h2o_iovec_t token = query_param(req, "token");
    if (token.base != NULL &&
        ck_http_token_verify(token_key(w), purpose, id, token.base, token.len, (int64_t)time(NULL), user_id))
        return 1;
    ck_http_send_error(req, 403, "invalid_token",
                       purpose == CK_TOKEN_UPLOAD ? "the upload URL is invalid or has expired"
                                                  : "the preview URL is invalid");
    return 0;
}

static h2o_iovec_t request_content_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    return i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

static int send_multipart_error(h2o_req_t *req, int rc)
{
    return ck_http_send_error(req, 400, rc == CK_MULTIPART_NO_FILE ? "missing_file" : "invalid_multipart",
                              rc == CK_MULTIPART_NO_FILE ? "the form has no part named \"file\""
                                                         : "the multipart/form-data body is malformed");
}

/* PUT|POST /attachments/<id>/upload?token=... */
static int handle_token_upload(h2o_req_t *req, ck_http_worker_t *w, const char *id)
{
    char gate_user[CK_USER_ID_MAX], user_id[CK_USER_ID_MAX];
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, CK_GATE_UPLOAD, "PUT, POST, OPTIONS");
    if (!ck_http_gate(req, CK_GATE_UPLOAD, gate_user))
        return 0;
    if (!ck_http_method_is(req, "PUT") && !ck_http_method_is(req, "POST"))
        return ck_http_answer_405(req, "PUT, POST, OPTIONS");
    if (!check_token(req, w, CK_TOKEN_UPLOAD, id, user_id))
        return 0;
    const char *data = req->entity.base;
    size_t len = req->entity.base != NULL ? req->entity.len : 0;
    h2o_iovec_t ct = request_content_type(req);
    ck_http_multipart_part_t part;
    int rc = ck_http_multipart_find_file(ct.base, ct.len, data, len, &part);
    if (rc == CK_MULTIPART_OK) {
        data = part.data;
        len = part.data_len;
    } else if (rc != CK_MULTIPART_NOT_MULTIPART) {
        return send_multipart_error(req, rc);
    }
    if (len > w->config->upload_max_bytes)
        return send_too_large(req, w);
    json_t *params = json_pack("{s:s,s:I}", "attachment_id", id, "max_size", (json_int_t)w->config->upload_max_bytes);
    return call_with_params(req, w, "attachments.upload", user_id, params, data, len, 1);
}

/* A safe display name from a multipart filename: the last path component,
 * valid UTF-8, at most CK_ATTACHMENT_NAME_MAX bytes; "upload" otherwise. */
static json_t *upload_name(const ck_http_multipart_part_t *part)
{
    const char *p = part->filename, *end = p != NULL ? p + part->filename_len : NULL;
    for (const char *s = p; s != NULL && s < end; s++)
        if (*s == '/' || *s == '\\')
            p = s + 1;
    json_t *name =
        p != NULL && p < end && end - p <= CK_ATTACHMENT_NAME_MAX ? json_stringn(p, (size_t)(end - p)) : NULL;
    return name != NULL ? name : json_string("upload");
}

/* POST /attachments/upload (direct upload strategy). */
static int handle_direct_upload(h2o_req_t *req, ck_http_worker_t *w)
{
    char user_id[CK_USER_ID_MAX], id[CK_ID_MAX];
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, CK_GATE_API, "POST, OPTIONS");
    if (!ck_http_gate(req, CK_GATE_API, user_id))
        return 0;
    if (!ck_http_method_is(req, "POST"))
        return ck_http_answer_405(req, "POST, OPTIONS");
    h2o_iovec_t ct = request_content_type(req);
    ck_http_multipart_part_t part;
    int rc = ck_http_multipart_find_file(ct.base, ct.len, req->entity.base,
                                         req->entity.base != NULL ? req->entity.len : 0, &part);
    if (rc == CK_MULTIPART_NOT_MULTIPART)
        return ck_http_send_error(req, 415, "unsupported_media_type",
                                  "send multipart/form-data with the file in a part named \"file\"");
    if (rc != CK_MULTIPART_OK)
        return send_multipart_error(req, rc);
    char mime[128] = "application/octet-stream";
    if (part.content_type != NULL && part.content_type_len > 0 && part.content_type_len < sizeof mime)
        snprintf(mime, sizeof mime, "%.*s", (int)part.content_type_len, part.content_type);
    if (send_limit_errors(req, w, part.data_len, mime, strlen(mime)) == 0)
        return 0;
    if (!ck_http_store_available(w))
        return ck_http_send_db_unavailable(req, w);
    ck_proto_new_id("atc", id);
    const char *type = ck_http_attachment_type(mime, strlen(mime));
    json_t *params = json_pack("{s:s,s:o,s:s,s:s,s:I}", "id", id, "name", upload_name(&part), "mime_type", mime, "type",
                               type, "max_size", (json_int_t)w->config->upload_max_bytes);
    if (params != NULL && strcmp(type, "image") == 0) {
        char *preview = preview_url(req, w, id, user_id);
        json_object_set_new(params, "preview_url", preview != NULL ? json_string(preview) : json_null());
        free(preview);
    }
    return call_with_params(req, w, "attachments.create_direct", user_id, params, part.data, part.data_len, 1);
}

/* A Content-Type safe to echo: printable ASCII without ';'-injected CR/LF. */
static const char *safe_content_type(const char *mime)
{
    if (mime == NULL || *mime == '\0' || strlen(mime) > 127)
        return "application/octet-stream";
    for (const char *p = mime; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            return "application/octet-stream";
    return mime;
}

/* Content-Disposition with an ASCII fallback name and the RFC 5987 UTF-8 name. */
static void add_disposition(h2o_req_t *req, const char *kind, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    char ascii[CK_ATTACHMENT_NAME_MAX + 1], pct[3 * CK_ATTACHMENT_NAME_MAX + 1], value[sizeof ascii + sizeof pct + 64];
    size_t a = 0, p = 0;
    for (const unsigned char *s = (const unsigned char *)(name != NULL ? name : "download");
         *s != '\0' && a < CK_ATTACHMENT_NAME_MAX; s++) {
        int plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                    strchr("-._~", *s) != NULL;
        ascii[a++] = plain || *s == ' ' ? (char)*s : '_';
        if (plain) {
            pct[p++] = (char)*s;
        } else {
            pct[p++] = '%';
            pct[p++] = hex[*s >> 4];
            pct[p++] = hex[*s & 15];
        }
    }
    ascii[a] = pct[p] = '\0';
    int n = snprintf(value, sizeof value, "%s; filename=\"%s\"; filename*=UTF-8''%s", kind, ascii, pct);
    ck_http_add_header(req, H2O_TOKEN_CONTENT_DISPOSITION, value,
                       (size_t)n < sizeof value ? (size_t)n : sizeof value - 1);
}

/* Sends the downloaded bytes; `arg` is "inline" (preview) or "attachment". */
static void on_download(h2o_req_t *req, const ck_store_reply_t *reply, void *arg)
{
    if (!reply->ok) {
        ck_http_send_store_reply(req, reply);
        return;
    }
    json_t *meta =
        json_loadb(reply->json != NULL ? reply->json : "{}", reply->json != NULL ? reply->json_len : 2, 0, NULL);
    const char *inline_or_attachment = arg;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL,
                          H2O_STRLIT("nosniff"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0, NULL,
                          H2O_STRLIT("default-src 'none'; sandbox"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("private, max-age=3600"));
    add_disposition(req, inline_or_attachment, json_string_value(json_object_get(meta, "name")));
    ck_http_send_bytes(req, 200, safe_content_type(json_string_value(json_object_get(meta, "mime_type"))), reply->bytes,
                       reply->bytes != NULL ? reply->bytes_len : 0);
    json_decref(meta);
}

/* GET /attachments/<id>/preview?token=... and GET /attachments/<id>. */
static int handle_download(h2o_req_t *req, ck_http_worker_t *w, const char *id, int preview)
{
    char gate_user[CK_USER_ID_MAX], user_id[CK_USER_ID_MAX];
    ck_gate_kind_t kind = preview ? CK_GATE_UPLOAD : CK_GATE_DOWNLOAD;
    if (ck_http_method_is(req, "OPTIONS"))
        return ck_http_answer_options(req, kind, "GET, HEAD, OPTIONS");
    if (!ck_http_gate(req, kind, preview ? gate_user : user_id))
        return 0;
    if (!ck_http_method_is(req, "GET") && !ck_http_method_is(req, "HEAD"))
        return ck_http_answer_405(req, "GET, HEAD, OPTIONS");
    if (preview && !check_token(req, w, CK_TOKEN_PREVIEW, id, user_id))
        return 0;
    json_t *params = json_pack("{s:s}", "attachment_id", id);
    char *text = params != NULL ? ck_proto_dumps(params) : NULL;
    json_decref(params);
    if (text == NULL)
        return ck_http_send_error(req, 500, "internal", "out of memory");
    ck_http_store_args_t args = {"attachments.download", user_id, text, strlen(text), NULL, 0, 1};
    ck_http_store_call(req, w, &args, on_download, preview ? "inline" : "attachment");
    free(text);
    return 0;
}

/* Copies the id segment if it looks like an id ([A-Za-z0-9_-], 1..63 bytes). */
static int copy_id(const char *p, size_t len, char out[CK_ID_MAX])
{
    if (len == 0 || len >= CK_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

int ck_http_handle_attachments(h2o_req_t *req, ck_http_worker_t *w, h2o_iovec_t rest)
{
    char id[CK_ID_MAX];
    if (h2o_memis(rest.base, rest.len, H2O_STRLIT("upload")))
        return handle_direct_upload(req, w);
    const char *slash = memchr(rest.base, '/', rest.len);
    size_t id_len = slash != NULL ? (size_t)(slash - rest.base) : rest.len;
    if (copy_id(rest.base, id_len, id)) {
        if (slash == NULL)
            return handle_download(req, w, id, 0);
        h2o_iovec_t action = h2o_iovec_init(slash + 1, rest.len - id_len - 1);
        if (h2o_memis(action.base, action.len, H2O_STRLIT("upload")))
            return handle_token_upload(req, w, id);
        if (h2o_memis(action.base, action.len, H2O_STRLIT("preview")))
            return handle_download(req, w, id, 1);
    }
    char user_id[CK_USER_ID_MAX];
    if (!ck_http_gate(req, CK_GATE_PUBLIC, user_id))
        return 0;
    return ck_http_send_error(req, 404, "not_found", "no such route");
}
