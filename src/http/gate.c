/*
 * gate.c - development identity only (X-User-Id header, default "anonymous").
 * Replaced by the full gate (JWT, rate limits, CORS) of the security issue.
 */
#include "http/gate.h"

#include <string.h>

int ck_http_gate_init(void) { return 0; }
void ck_http_gate_shutdown(void) {}
void ck_http_gate_turn_end(const char *user_id) { (void)user_id; }
uint64_t ck_http_gate_max_stream_ms(void) { return 0; }

int ck_http_gate(h2o_req_t *req, ck_gate_kind_t kind, char *user_id)
{
    (void)kind;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-user-id"), -1);
    if (i >= 0 && req->headers.entries[i].value.len > 0 && req->headers.entries[i].value.len < CK_USER_ID_MAX) {
        memcpy(user_id, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
        user_id[req->headers.entries[i].value.len] = '\0';
    } else {
        strcpy(user_id, "anonymous");
    }
    return 1;
}
