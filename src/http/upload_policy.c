/* upload_policy.c - MIME allow-list matching (see upload_policy.h). */
#include "http/upload_policy.h"

#include <string.h>
#include <strings.h>

typedef struct span {
    const char *p;
    size_t len;
} span_t;

static span_t trim_span(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return (span_t){p, len};
}

/* The media type of `mime` (before ';', trimmed); len 0 if it is not type/subtype. */
static span_t media_type(const char *mime, size_t len)
{
    const char *semi = memchr(mime, ';', len);
    span_t t = trim_span(mime, semi != NULL ? (size_t)(semi - mime) : len);
    const char *slash = memchr(t.p, '/', t.len);
    if (slash == NULL || slash == t.p || slash == t.p + t.len - 1 ||
        memchr(slash + 1, '/', t.len - (size_t)(slash + 1 - t.p)))
        return (span_t){t.p, 0};
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.p[i] <= ' ' || (unsigned char)t.p[i] >= 0x7f)
            return (span_t){t.p, 0};
    return t;
}

static int entry_matches(span_t entry, span_t type)
{
    if ((entry.len == 1 && entry.p[0] == '*') || (entry.len == 3 && memcmp(entry.p, "*/*", 3) == 0))
        return 1;
    if (entry.len >= 2 && entry.p[entry.len - 2] == '/' && entry.p[entry.len - 1] == '*')
        return type.len > entry.len - 1 && strncasecmp(type.p, entry.p, entry.len - 1) == 0;
    return entry.len == type.len && strncasecmp(entry.p, type.p, type.len) == 0;
}

int ck_http_mime_allowed(const char *allow_list, const char *mime, size_t len)
{
    span_t type = media_type(mime, len);
    if (type.len == 0 || allow_list == NULL)
        return 0;
    for (const char *p = allow_list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (entry_matches(trim_span(p, n), type))
            return 1;
        p += n + (comma != NULL);
    }
    return 0;
}

const char *ck_http_attachment_type(const char *mime, size_t len)
{
    span_t type = media_type(mime, len);
    return type.len > 6 && strncasecmp(type.p, "image/", 6) == 0 ? "image" : "file";
}
