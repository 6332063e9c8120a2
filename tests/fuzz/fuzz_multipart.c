/*
 * fuzz_multipart.c - libFuzzer target for the multipart/form-data reader
 * (src/http/multipart.c).  Input: the Content-Type value, a newline, then
 * the body.  The body is copied into an exactly sized heap buffer so that
 * AddressSanitizer catches any read past its end; a found part must lie
 * inside the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"

static void must_be_inside(const char *p, size_t n, const char *body, size_t len)
{
    if (p != NULL && (p < body || p + n > body + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    size_t len = nl ? size - ct_len - 1 : 0;
    char *ct = malloc(ct_len + 1), *body = malloc(len + 1);
    memcpy(ct, data, ct_len);
    if (len > 0)
        memcpy(body, nl + 1, len);
    ck_http_multipart_part_t part;
    if (ck_http_multipart_find_file(ct, ct_len, body, len, &part) == CK_MULTIPART_OK) {
        must_be_inside(part.data, part.data_len, body, len);
        must_be_inside(part.filename, part.filename_len, body, len);
        must_be_inside(part.content_type, part.content_type_len, body, len);
    }
    (void)ck_http_multipart_find(ct, ct_len, body, len, "attachment", &part);
    free(ct);
    free(body);
    return 0;
}
