/*
 * protocol.h - the ChatKit wire protocol as pure functions over JSON values.
 *
 * This module parses and validates request bodies, builds items and stream
 * events, frames SSE events and holds the response-pipeline state machine
 * (pipeline.h); the rules are those of docs/protocol.md.
 *
 * It must never do I/O of its own and never include h2o, libpq or libcurl
 * headers; jansson is its only dependency.  Everything here is callable from
 * any thread; nothing keeps global state except the random id source.
 *
 * Errors are reported through ck_proto_error_t: an HTTP status, a short
 * machine code and a message that names the offending field, safe to show
 * the client as {"error":{"code":...,"message":...}}.
 */
#ifndef CK_PROTOCOL_PROTOCOL_H
#define CK_PROTOCOL_PROTOCOL_H

#include <stddef.h>

#include <jansson.h>

/* The 16 request types (docs/protocol.md, "Request types").  The first six stream. */
typedef enum ck_req_type {
    CK_REQ_THREADS_CREATE,
    CK_REQ_THREADS_ADD_USER_MESSAGE,
    CK_REQ_THREADS_ADD_CLIENT_TOOL_OUTPUT,
    CK_REQ_THREADS_ADD_STRUCTURED_INPUT,
    CK_REQ_THREADS_RETRY_AFTER_ITEM,
    CK_REQ_THREADS_CUSTOM_ACTION,
    CK_REQ_THREADS_GET_BY_ID,
    CK_REQ_THREADS_LIST,
    CK_REQ_THREADS_UPDATE,
    CK_REQ_THREADS_DELETE,
    CK_REQ_ITEMS_LIST,
    CK_REQ_ITEMS_FEEDBACK,
    CK_REQ_ATTACHMENTS_CREATE,
    CK_REQ_ATTACHMENTS_DELETE,
    CK_REQ_INPUT_TRANSCRIBE,
    CK_REQ_THREADS_SYNC_CUSTOM_ACTION
} ck_req_type_t;

#define CK_REQ_TYPE_COUNT 16

/* Input guards applied by ck_proto_parse_request(). */
typedef struct ck_proto_limits {
    size_t max_text_chars;     /* characters (not bytes) of all text parts of a user message; default 8000 */
    size_t max_metadata_bytes; /* compact-serialized size of the request `metadata`; default 16384 */
    int max_depth;             /* maximum JSON nesting depth of the body; default 32 */
    int max_page_limit;        /* `limit` of list requests is clamped to this; default 100 */
} ck_proto_limits_t;

/* Fills `limits` with the defaults listed above. */
void ck_proto_limits_default(ck_proto_limits_t *limits);

/* A failure that becomes an HTTP error answer (before any stream starts). */
typedef struct ck_proto_error {
    int http_status;   /* 400, 413, ... */
    char code[48];     /* e.g. "invalid_json", "unknown_type", "invalid_params", "too_large" */
    char message[256]; /* names the field, e.g. "params.input.content[0].text must be a string" */
} ck_proto_error_t;

/* A parsed, validated request. */
typedef struct ck_request {
    ck_req_type_t type;
    const char *type_name; /* static string, e.g. "threads.list" */
    int streaming;         /* 1 for the six SSE types (docs/protocol.md, "Streamed or JSON") */
    json_t *root;          /* the whole body; owned, released by ck_request_free() */
    json_t *params;        /* borrowed from root; normalized (defaults filled, limit clamped) */
    json_t *metadata;      /* borrowed from root, or NULL when absent */
} ck_request_t;

/* Parses and validates one request body (`len` bytes, need not be
 * NUL-terminated).  Returns 0 and fills `out` (release it with
 * ck_request_free()), or -1 with `err` filled and `out` left empty.
 * Validation follows docs/protocol.md, "Request types": params required, every required field present
 * and well-typed, enums checked, unknown keys ignored.  Normalization: list
 * `limit` null/0/absent -> 20, clamped to limits->max_page_limit, negative is
 * an error; `order` defaults to "desc"; a null `after` is dropped; user
 * message inputs get `interactive:false` / `data:{}` on tags.  `limits` may
 * be NULL for the defaults. */
int ck_proto_parse_request(const char *body, size_t len, const ck_proto_limits_t *limits, ck_request_t *out,
                           ck_proto_error_t *err);

/* Releases what ck_proto_parse_request() stored in `req` and zeroes it.
 * Safe on a zeroed or already freed request. */
void ck_request_free(ck_request_t *req);

/* The store op (src/store/README.md) that answers a non-streaming request
 * type with the request's normalized params, e.g. "threads.list".  Returns
 * NULL for the streaming types, for attachments.create (which needs an id
 * and upload descriptor built by src/http) and for input.transcribe. */
const char *ck_proto_store_op(ck_req_type_t type);

/* The wire name of `type`, e.g. "threads.add_user_message" (static). */
const char *ck_proto_type_name(ck_req_type_t type);

/* Fills `err`; `fmt` is printf-style.  Returns -1 so callers can
 * `return ck_proto_error_set(...)`. */
int ck_proto_error_set(ck_proto_error_t *err, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The JSON error body {"error":{"code":...,"message":...}} for `err`.
 * Returns a malloc'd NUL-terminated string (caller frees), NULL on OOM. */
char *ck_proto_error_body(const ck_proto_error_t *err);

/* --- identifiers, timestamps, framing --------------------------------- */

#define CK_ID_MAX 64
#define CK_TIME_MAX 32

/* Writes "<prefix>_" + 16 lowercase hex digits from getrandom() into `out`
 * (the prefix is truncated if it would not fit). */
void ck_proto_new_id(const char *prefix, char out[CK_ID_MAX]);

/* Writes the current UTC time as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six
 * fraction digits) into `out`. */
void ck_proto_now(char out[CK_TIME_MAX]);

/* Frames one event for SSE: "data: " + compact one-line JSON + "\n\n"
 * (docs/protocol.md, "SSE framing").  On success returns 0 with `*out` malloc'd (caller frees) and
 * `*len` its length without a terminator; returns -1 on failure. */
int ck_proto_sse_frame(const json_t *event, char **out, size_t *len);

/* Serializes `value` as compact JSON the way every response is written
 * (raw UTF-8, object keys in insertion order).  Returns a malloc'd string
 * (caller frees) or NULL. */
char *ck_proto_dumps(const json_t *value);

#endif
