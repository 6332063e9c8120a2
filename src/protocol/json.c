/*
 * json.c - the small shared pieces of the wire format: identifiers,
 * timestamps, compact serialization, SSE framing and error bodies
 * (docs/protocol.md, "SSE framing", "JSON answers and errors",
 * "Identifiers and timestamps").
 */
#include "protocol/protocol.h"
#include "protocol/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Fills `buf` with random bytes: getrandom() (which does not block once the
 * kernel pool is initialized), falling back to a clock-seeded xorshift only
 * if the syscall is unavailable, so an id is always produced. */
static void random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == len)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^ (uintptr_t)buf;
    for (; got < len; got++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[got] = (unsigned char)x;
    }
}

void ck_proto_new_id(const char *prefix, char out[CK_ID_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[8];
    random_bytes(rnd, sizeof(rnd));
    size_t plen = strlen(prefix);
    if (plen > CK_ID_MAX - 18)
        plen = CK_ID_MAX - 18;
    memcpy(out, prefix, plen);
    out[plen] = '_';
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[plen + 1 + 2 * i] = hex[rnd[i] >> 4];
        out[plen + 2 + 2 * i] = hex[rnd[i] & 15];
    }
    out[plen + 1 + 2 * sizeof(rnd)] = '\0';
}

void ck_proto_now(char out[CK_TIME_MAX])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, CK_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CK_TIME_MAX - n, ".%06ldZ", ts.tv_nsec / 1000);
}

void ck_proto_utf8_trim(char *s)
{
    size_t n = strlen(s), lead = n;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0 || ((unsigned char)s[lead - 1] & 0x80) == 0)
        return;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (n - (lead - 1) < need)
        s[lead - 1] = '\0';
}

char *ck_proto_dumps(const json_t *value) { return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY); }

int ck_proto_sse_frame(const json_t *event, char **out, size_t *len)
{
    size_t body = json_dumpb(event, NULL, 0, JSON_COMPACT);
    if (body == 0)
        return -1;
    char *buf = malloc(body + 8);
    if (buf == NULL)
        return -1;
    memcpy(buf, "data: ", 6);
    if (json_dumpb(event, buf + 6, body, JSON_COMPACT) != body) {
        free(buf);
        return -1;
    }
    buf[6 + body] = '\n';
    buf[7 + body] = '\n';
    *out = buf;
    *len = body + 8;
    return 0;
}

int ck_proto_error_set(ck_proto_error_t *err, int http_status, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->http_status = http_status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    ck_proto_utf8_trim(err->message);
    return -1;
}

char *ck_proto_error_body(const ck_proto_error_t *err)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", err->code, "message", err->message);
    if (body == NULL) {
        /* the message was cut inside a UTF-8 sequence: send the code alone */
        body = json_pack("{s:{s:s,s:s}}", "error", "code", err->code, "message", err->code);
    }
    if (body == NULL)
        return NULL;
    char *text = ck_proto_dumps(body);
    json_decref(body);
    return text;
}
