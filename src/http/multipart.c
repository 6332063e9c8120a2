/*
 * multipart.c - find one named part of a multipart/form-data body (see
 * multipart.h).
 *
 * The body is scanned once: delimiter ("--" boundary) at the start or after
 * CRLF, then the part's header lines up to an empty line, then the content
 * up to the next CRLF + delimiter.  Header values are parsed as
 * `token *( ";" key "=" (token | quoted-string) )`.  Every step checks the
 * remaining length; nothing is written outside `out`.
 */
#include "http/multipart.h"

#include <string.h>
#include <strings.h>

#define CK_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046, section 5.1.1 */

typedef struct slice {
    const char *p;
    size_t len;
} slice_t;

static int is_space(char c) { return c == ' ' || c == '\t'; }

static slice_t trim(const char *p, const char *end)
{
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    return (slice_t){p, (size_t)(end - p)};
}

static int slice_ieq(slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* Reads the next `; key=value` of a header value starting at *pos; fills
 * key/value (value without its quotes).  Returns 1, or 0 at the end. */
static int next_param(const char **pos, const char *end, slice_t *key, slice_t *value)
{
    const char *p = *pos;
    while (p < end && *p != ';')
        p++;
    if (p >= end)
        return 0;
    p++;
    const char *eq = p;
    while (eq < end && *eq != '=' && *eq != ';')
        eq++;
    *key = trim(p, eq);
    if (eq >= end || *eq != '=') {
        *value = (slice_t){eq, 0};
        *pos = eq;
        return 1;
    }
    p = eq + 1;
    while (p < end && is_space(*p))
        p++;
    if (p < end && *p == '"') {
        const char *q = ++p;
        while (q < end && *q != '"') {
            if (*q == '\\' && q + 1 < end)
                q++;
            q++;
        }
        *value = (slice_t){p, (size_t)(q - p)};
        *pos = q < end ? q + 1 : end;
        return 1;
    }
    const char *v = p;
    while (p < end && *p != ';')
        p++;
    *value = trim(v, p);
    *pos = p;
    return 1;
}

/* The value of parameter `name` in a header value, or {NULL,0}. */
static slice_t find_param(const char *v, const char *end, const char *name)
{
    slice_t key, value;
    while (next_param(&v, end, &key, &value))
        if (slice_ieq(key, name))
            return value;
    return (slice_t){NULL, 0};
}

/* Writes "--" + boundary of `content_type` into `delim`; returns its length or -1. */
static int parse_boundary(const char *ct, size_t ct_len, char delim[CK_MULTIPART_BOUNDARY_MAX + 3])
{
    const char *end = ct + ct_len, *semi = memchr(ct, ';', ct_len);
    if (!slice_ieq(trim(ct, semi != NULL ? semi : end), "multipart/form-data") || semi == NULL)
        return -1;
    slice_t b = find_param(semi, end, "boundary");
    if (b.p == NULL || b.len == 0 || b.len > CK_MULTIPART_BOUNDARY_MAX || memchr(b.p, '\\', b.len) != NULL)
        return -1;
    delim[0] = delim[1] = '-';
    memcpy(delim + 2, b.p, b.len);
    return (int)b.len + 2;
}

/* Position of the first delimiter line, which starts the body or follows CRLF. */
static const char *first_delimiter(const char *body, const char *end, const char *delim, size_t dlen)
{
    const char *p = body;
    while ((size_t)(end - p) >= dlen) {
        const char *hit = memmem(p, (size_t)(end - p), delim, dlen);
        if (hit == NULL)
            return NULL;
        if (hit == body || (hit - body >= 2 && hit[-2] == '\r' && hit[-1] == '\n'))
            return hit;
        p = hit + 1;
    }
    return NULL;
}

/* Fills `part` from the header lines in [p, end) (each ending in CRLF).
 * Sets *name to the Content-Disposition name.  Returns 0, or -1 if malformed. */
static int parse_part_headers(const char *p, const char *end, slice_t *name, ck_http_multipart_part_t *part)
{
    *name = (slice_t){NULL, 0};
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            return -1;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL)
            return -1;
        slice_t hname = trim(p, colon), value = trim(colon + 1, eol);
        if (slice_ieq(hname, "content-disposition")) {
            const char *semi = memchr(value.p, ';', value.len);
            if (!slice_ieq(trim(value.p, semi != NULL ? semi : value.p + value.len), "form-data"))
                return -1;
            *name = find_param(value.p, value.p + value.len, "name");
            slice_t fn = find_param(value.p, value.p + value.len, "filename");
            part->filename = fn.p;
            part->filename_len = fn.len;
        } else if (slice_ieq(hname, "content-type")) {
            part->content_type = value.p;
            part->content_type_len = value.len;
        }
        p = eol + 2;
    }
    return 0;
}

/* Walks the parts after the delimiter at `p` until one named `name`. */
static int scan_parts(const char *p, const char *end, const char *delim, size_t dlen, const char *name,
                      ck_http_multipart_part_t *out)
{
    for (;;) {
        p += dlen;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return CK_MULTIPART_NO_FILE; /* close delimiter */
        while (p < end && is_space(*p))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return CK_MULTIPART_MALFORMED;
        p += 2;
        const char *hend =
            (end - p >= 2 && p[0] == '\r' && p[1] == '\n') ? p : memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL)
            return CK_MULTIPART_MALFORMED;
        if (hend != p)
            hend += 2; /* keep the CRLF that ends the last header line */
        ck_http_multipart_part_t part = {0};
        slice_t pname;
        if (parse_part_headers(p, hend, &pname, &part) != 0)
            return CK_MULTIPART_MALFORMED;
        const char *data = hend + 2, *next = NULL;
        for (const char *s = data; (size_t)(end - s) >= dlen + 2;) {
            const char *hit = memmem(s, (size_t)(end - s), "\r\n", 2);
            if (hit == NULL || (size_t)(end - hit) < dlen + 2)
                break;
            if (memcmp(hit + 2, delim, dlen) == 0) {
                next = hit;
                break;
            }
            s = hit + 1;
        }
        if (next == NULL)
            return CK_MULTIPART_MALFORMED;
        if (pname.p != NULL && pname.len == strlen(name) && memcmp(pname.p, name, pname.len) == 0) {
            part.data = data;
            part.data_len = (size_t)(next - data);
            *out = part;
            return CK_MULTIPART_OK;
        }
        p = next + 2;
    }
}

int ck_http_multipart_find(const char *content_type, size_t ct_len, const char *body, size_t len, const char *name,
                           ck_http_multipart_part_t *out)
{
    char delim[CK_MULTIPART_BOUNDARY_MAX + 3];
    memset(out, 0, sizeof *out);
    if (content_type == NULL)
        return CK_MULTIPART_NOT_MULTIPART;
    int dlen = parse_boundary(content_type, ct_len, delim);
    if (dlen < 0)
        return CK_MULTIPART_NOT_MULTIPART;
    if (body == NULL)
        return CK_MULTIPART_MALFORMED;
    const char *first = first_delimiter(body, body + len, delim, (size_t)dlen);
    if (first == NULL)
        return CK_MULTIPART_MALFORMED;
    return scan_parts(first, body + len, delim, (size_t)dlen, name, out);
}

int ck_http_multipart_find_file(const char *content_type, size_t ct_len, const char *body, size_t len,
                                ck_http_multipart_part_t *out)
{
    return ck_http_multipart_find(content_type, ct_len, body, len, "file", out);
}
