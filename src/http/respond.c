/* respond.c - JSON, error and byte answers (see respond.h). */
#include "http/respond.h"

#include "http/request_ctx.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The standard reason phrase of an HTTP status ("Payload Too Large", ...). */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

void ck_http_add_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
}

int ck_http_send_bytes(h2o_req_t *req, int status, const char *content_type, const void *data, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    ck_http_add_header(req, H2O_TOKEN_CONTENT_TYPE, content_type, strlen(content_type));
    h2o_send_inline(req, len > 0 ? data : "", len);
    return 0;
}

int ck_http_send_no_content(h2o_req_t *req)
{
    req->res.status = 204;
    req->res.reason = reason_phrase(204);
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
    return 0;
}

int ck_http_send_json(h2o_req_t *req, int status, const char *json, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    return ck_http_send_bytes(req, status, "application/json", json, len);
}

int ck_http_send_error(h2o_req_t *req, int status, const char *code, const char *message)
{
    const char *id = ck_http_request_id(req);
    json_t *body = id != NULL
                       ? json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message, "request_id", id)
                       : json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return ck_http_send_json(req, 500, oom, sizeof oom - 1);
    }
    if (status == 503) /* every 503 is temporary: the database or a worker is not there yet */
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, H2O_STRLIT("1"), 1);
    ck_http_send_json(req, status, text, strlen(text));
    free(text);
    return 0;
}

int ck_http_send_proto_error(h2o_req_t *req, const ck_proto_error_t *err)
{
    return ck_http_send_error(req, err->http_status, err->code, err->message);
}
