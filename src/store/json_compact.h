/*
 * json_compact.h - removes the insignificant whitespace from JSON text.
 *
 * PostgreSQL prints jsonb as `{"a": 1, "b": [1, 2]}`; the wire wants
 * `{"a":1,"b":[1,2]}`.  Internal to src/store.
 */
#ifndef CK_STORE_JSON_COMPACT_H
#define CK_STORE_JSON_COMPACT_H

#include <stddef.h>

/* Copies the `len` bytes of JSON text at `src` to `dst`, dropping spaces,
 * tabs and line breaks outside strings (string contents, including escaped
 * quotes, are copied verbatim), and returns the new length (<= len).  `dst`
 * may equal `src` (in place); it is not NUL-terminated.  The input is assumed
 * to be valid JSON; anything else is copied with the same rules, never read
 * or written out of bounds. */
size_t ck_store_json_compact(char *dst, const char *src, size_t len);

#endif
