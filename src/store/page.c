/*
 * page.c - the Page envelope and the wire Thread of the hot reads, built
 * from result cells (page.h).  No libpq, no I/O.
 */
#include "store/page.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/json_compact.h"

/* Seconds from 1970-01-01 to 2000-01-01 (PostgreSQL's timestamp epoch). */
#define PG_EPOCH_UNIX 946684800

/* Appends `len` bytes of JSON text compacted (ck_store_json_compact). */
static void add_compact(ck_strbuf_t *b, const char *json, size_t len)
{
    ck_strbuf_reserve(b, len);
    if (b->failed)
        return;
    b->len += ck_store_json_compact(b->p + b->len, json, len);
    b->p[b->len] = 0;
}

void ck_store_page_open(ck_strbuf_t *b) { ck_strbuf_adds(b, "{\"data\":["); }

void ck_store_page_add_json(ck_strbuf_t *b, int index, const char *json, size_t len)
{
    if (index > 0)
        ck_strbuf_addc(b, ',');
    add_compact(b, json, len);
}

void ck_store_page_close(ck_strbuf_t *b, int has_more, const char *after, size_t after_len)
{
    if (!has_more) {
        ck_strbuf_adds(b, "],\"has_more\":false}");
        return;
    }
    ck_strbuf_adds(b, "],\"has_more\":true,\"after\":");
    if (after != NULL)
        ck_store_json_string(b, after, after_len);
    else
        ck_strbuf_adds(b, "null");
    ck_strbuf_addc(b, '}');
}

void ck_store_json_string(ck_strbuf_t *b, const char *s, size_t len)
{
    ck_strbuf_reserve(b, len + 2);
    ck_strbuf_addc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ck_strbuf_add(b, s + start, i - start);
        start = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            ck_strbuf_adds(b, "\\\"");
            break;
        case '\\':
            ck_strbuf_adds(b, "\\\\");
            break;
        case '\b':
            ck_strbuf_adds(b, "\\b");
            break;
        case '\f':
            ck_strbuf_adds(b, "\\f");
            break;
        case '\n':
            ck_strbuf_adds(b, "\\n");
            break;
        case '\r':
            ck_strbuf_adds(b, "\\r");
            break;
        case '\t':
            ck_strbuf_adds(b, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            ck_strbuf_adds(b, esc);
        }
    }
    ck_strbuf_add(b, s + start, len - start);
    ck_strbuf_addc(b, '"');
}

void ck_store_ts_wire(int64_t us, char *out, size_t size)
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    time_t t = (time_t)(sec + PG_EPOCH_UNIX);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)frac);
}

/* A jsonb cell in binary format: version byte 1, then the text. */
static int jsonb_text(ck_store_cell_t c, const char **text, size_t *len)
{
    if (c.p == NULL || c.len < 2 || c.p[0] != 1)
        return -1;
    *text = c.p + 1;
    *len = c.len - 1;
    return 0;
}

int ck_store_thread_json(ck_strbuf_t *b, const ck_store_thread_cols_t *t, const char *items, size_t items_len)
{
    const char *status, *domains = NULL;
    size_t status_len, domains_len = 0;
    if (t->id.p == NULL || t->created_at.p == NULL || t->created_at.len != 8 ||
        jsonb_text(t->status, &status, &status_len) != 0 ||
        (t->domains.p != NULL && jsonb_text(t->domains, &domains, &domains_len) != 0))
        return -1;
    uint64_t raw = 0;
    for (int i = 0; i < 8; i++)
        raw = raw << 8 | (unsigned char)t->created_at.p[i];
    char ts[40];
    ck_store_ts_wire((int64_t)raw, ts, sizeof ts);
    ck_strbuf_adds(b, "{\"id\":");
    ck_store_json_string(b, t->id.p, t->id.len);
    if (t->title.p != NULL) {
        ck_strbuf_adds(b, ",\"title\":");
        ck_store_json_string(b, t->title.p, t->title.len);
    }
    ck_strbuf_adds(b, ",\"status\":");
    add_compact(b, status, status_len);
    const char *assistant;
    size_t assistant_len;
    if (jsonb_text(t->assistant, &assistant, &assistant_len) == 0 && assistant[0] == '"') {
        ck_strbuf_adds(b, ",\"metadata\":{\"assistant\":");
        add_compact(b, assistant, assistant_len);
        ck_strbuf_adds(b, "},\"created_at\":\"");
    } else {
        ck_strbuf_adds(b, ",\"metadata\":{},\"created_at\":\"");
    }
    ck_strbuf_adds(b, ts);
    ck_strbuf_addc(b, '"');
    if (domains != NULL) {
        ck_strbuf_adds(b, ",\"allowed_image_domains\":");
        add_compact(b, domains, domains_len);
    }
    ck_strbuf_adds(b, ",\"items\":");
    ck_strbuf_add(b, items, items_len);
    ck_strbuf_addc(b, '}');
    return 0;
}

void ck_store_page_not_found(char *out, size_t size, const char *kind, const char *id)
{
    /* left(id, 128): 128 characters, i.e. UTF-8 sequences, not bytes */
    size_t n = 0;
    for (int chars = 0; id[n] != 0; n++) {
        if (((unsigned char)id[n] & 0xC0) != 0x80 && chars++ == 128)
            break;
    }
    snprintf(out, size, "%s %.*s not found", kind, (int)n, id);
}
