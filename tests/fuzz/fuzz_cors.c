/*
 * fuzz_cors.c - libFuzzer target for the CORS decision (src/auth/cors.c).
 * Input: four NUL-separated fields: method, Origin,
 * Access-Control-Request-Method, Access-Control-Request-Headers (a missing
 * field is an absent header).  Every echoed value must come from the
 * request and be free of CR/LF (header injection).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cors.h"

static ck_auth_cors_t *g_list, *g_any;

static void check(const ck_auth_cors_decision_t *d)
{
    if (d->allow_origin != NULL &&
        (memchr(d->allow_origin, '\r', d->allow_origin_len) || memchr(d->allow_origin, '\n', d->allow_origin_len)))
        abort();
    if (strlen(d->allow_headers) != d->allow_headers_len || strpbrk(d->allow_headers, "\r\n") != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_list == NULL) {
        ck_auth_cors_settings_t a = {"https://app.example.com, http://localhost:5173", NULL, 600};
        ck_auth_cors_settings_t b = {"*", NULL, 600};
        g_list = ck_auth_cors_new(&a, NULL, 0);
        g_any = ck_auth_cors_new(&b, NULL, 0);
    }
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *field[4] = {NULL, NULL, NULL, NULL};
    size_t len[4] = {0, 0, 0, 0};
    size_t off = 0;
    for (int i = 0; i < 4 && off <= size; i++) {
        field[i] = buf + off;
        len[i] = strlen(buf + off);
        off += len[i] + 1;
    }
    ck_auth_cors_request_t r = {field[0], len[0], field[1], len[1], field[2], len[2], field[3], len[3]};
    ck_auth_cors_decision_t d;
    ck_auth_cors_decide(g_list, &r, &d);
    check(&d);
    ck_auth_cors_decide(g_any, &r, &d);
    check(&d);
    free(buf);
    return 0;
}
