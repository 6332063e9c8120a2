/*
 * fuzz_upstream_sse.c - libFuzzer target for the upstream Chat Completions
 * SSE parser (src/agent/upstream_sse.c).  The first input byte chooses the
 * piece size the rest is fed in (1..256 bytes), so lines split anywhere,
 * including between CR and LF; then the stream is finished and freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/upstream_sse.h"

/* Reads every byte of the delta so AddressSanitizer checks its bounds. */
static void on_text(const char *delta, size_t len, void *user)
{
    unsigned *sum = user;
    for (size_t i = 0; i < len; i++)
        *sum += (unsigned char)delta[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = (size_t)data[0] + 1;
    unsigned sum = 0;
    ck_agent_sse_t p;
    ck_agent_sse_init(&p, on_text, &sum);
    for (size_t off = 1; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        char *buf = malloc(n);
        memcpy(buf, data + off, n);
        int rc = ck_agent_sse_feed(&p, buf, n);
        free(buf);
        if (rc != 0)
            break;
    }
    (void)ck_agent_sse_finish(&p);
    ck_agent_sse_free(&p);
    return 0;
}
