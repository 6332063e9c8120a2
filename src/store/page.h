/*
 * page.h - the JSON the hot reads answer, assembled from the bytes of
 * binary-format result cells (read.c): a Page envelope around stored item
 * text, and a wire Thread from the columns of a thread row.  Pure functions
 * (no libpq), unit-tested in tests/unit/test_store_page.c.
 *
 * Shapes (src/store/README.md): Page = {"data":[...],"has_more":false} or
 * {"data":[...],"has_more":true,"after":"<id of the last element>"}; Thread
 * = {"id","title"?,"status","metadata","created_at","allowed_image_domains"?,
 * "items":<Page>} with null title and domains omitted, created_at as
 * YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC) and metadata {} except a recorded
 * assistant id, {"assistant":"<id>"} (chatkit.thread_wire_metadata).
 */
#ifndef CK_STORE_PAGE_H
#define CK_STORE_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

/* One result cell: `p` NULL for SQL NULL. */
typedef struct ck_store_cell {
    const char *p;
    size_t len;
} ck_store_cell_t;

/* A thread row in binary format: id and title text, status and domains
 * jsonb (version byte 1, then text), created_at timestamptz (8 bytes,
 * big-endian microseconds since 2000-01-01 UTC), assistant the jsonb of the
 * stored metadata's "assistant" (NULL when absent). */
typedef struct ck_store_thread_cols {
    ck_store_cell_t id, title, status, domains, created_at, assistant;
} ck_store_thread_cols_t;

/* {"data":[ */
void ck_store_page_open(ck_strbuf_t *b);
/* Element `index` (0-based) of the page: JSON text, compacted. */
void ck_store_page_add_json(ck_strbuf_t *b, int index, const char *json, size_t len);
/* ],"has_more":...} with "after" when has_more. */
void ck_store_page_close(ck_strbuf_t *b, int has_more, const char *after, size_t after_len);

/* Appends the wire Thread of `t` with `items` (a Page's JSON) embedded;
 * -1 (nothing appended) when a cell has not the binary form above. */
int ck_store_thread_json(ck_strbuf_t *b, const ck_store_thread_cols_t *t, const char *items, size_t items_len);

/* Appends `s` as a JSON string (quotes, escapes as to_json does). */
void ck_store_json_string(ck_strbuf_t *b, const char *s, size_t len);

/* Writes the wire form of a timestamp given in microseconds since
 * 2000-01-01T00:00:00Z into out (at least 32 bytes). */
void ck_store_ts_wire(int64_t us, char *out, size_t size);

/* "<kind> <id, at most 128 characters> not found", as chatkit.raise_not_found. */
void ck_store_page_not_found(char *out, size_t size, const char *kind, const char *id);

#endif
