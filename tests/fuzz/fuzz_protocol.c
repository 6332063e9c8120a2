/*
 * fuzz_protocol.c - libFuzzer target: one request body through
 * ck_proto_parse_request() (src/protocol), then the error body or the
 * normalized params serialized back, as src/http does with them.
 */
#include <stdint.h>
#include <stdlib.h>

#include "protocol/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_request_t req = {0};
    ck_proto_error_t err = {0};
    if (ck_proto_parse_request((const char *)data, size, NULL, &req, &err) == 0) {
        char *params = ck_proto_dumps(req.params);
        free(params);
        (void)ck_proto_store_op(req.type);
        ck_request_free(&req);
    } else {
        free(ck_proto_error_body(&err));
    }
    return 0;
}
