/*
 * docs_tables.c - GitHub-style pipe tables for the documentation pages.
 *
 * libcmark implements plain CommonMark, which has no tables, and our docs
 * are mostly tables.  This pass finds each table block (a row line starting
 * with '|', then a delimiter line like |---|:--:|, then more row lines) and
 * replaces it with one raw HTML <table> block.  It renders every cell's
 * inline Markdown with cmark and strips the <p> wrapper.  All other lines
 * are copied unchanged.  The result is rendered by cmark with
 * CMARK_OPT_UNSAFE so the table HTML is passed through; this is only
 * acceptable because the docs are the operator's own files.
 */
#include "http/docs.h"

#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include "base/strbuf.h"

#define CK_TABLE_MAX_COLS 16

typedef struct line {
    const char *p;
    size_t len; /* without the newline */
} line_t;

/* Splits a row into at most CK_TABLE_MAX_COLS cells (pipes inside code spans
 * or escaped as \| do not split).  Returns the cell count. */
static int split_row(line_t row, line_t cells[CK_TABLE_MAX_COLS])
{
    const char *p = row.p, *end = row.p + row.len;
    while (end > p && (end[-1] == ' ' || end[-1] == '\r'))
        end--;
    if (p < end && *p == '|')
        p++;
    if (end > p && end[-1] == '|' && (end - 1 == p || end[-2] != '\\'))
        end--;
    int n = 0, in_code = 0;
    const char *start = p;
    for (const char *s = p; s <= end && n < CK_TABLE_MAX_COLS; s++) {
        if (s < end && *s == '`')
            in_code = !in_code;
        if (s == end || (*s == '|' && !in_code && (s == p || s[-1] != '\\'))) {
            cells[n++] = (line_t){start, (size_t)(s - start)};
            start = s + 1;
        }
    }
    return n;
}

static int is_delimiter_row(line_t l)
{
    int dashes = 0;
    if (l.len == 0 || l.p[0] != '|')
        return 0;
    for (size_t i = 0; i < l.len; i++) {
        char c = l.p[i];
        if (c == '-')
            dashes++;
        else if (c != '|' && c != ':' && c != ' ' && c != '\r')
            return 0;
    }
    return dashes > 0;
}

/* Cell text with "\|" unescaped, rendered as inline HTML. */
static void put_cell(ck_strbuf_t *o, line_t cell, const char *tag)
{
    char *text = malloc(cell.len + 1);
    size_t n = 0;
    if (text == NULL) {
        o->failed = 1;
        return;
    }
    for (size_t i = 0; i < cell.len; i++)
        if (!(cell.p[i] == '\\' && i + 1 < cell.len && cell.p[i + 1] == '|'))
            text[n++] = cell.p[i];
    text[n] = '\0';
    char *html = cmark_markdown_to_html(text, n, CMARK_OPT_DEFAULT);
    free(text);
    ck_strbuf_adds(o, "<");
    ck_strbuf_adds(o, tag);
    ck_strbuf_adds(o, ">");
    if (html != NULL) {
        size_t len = strlen(html);
        const char *h = html;
        if (len >= 8 && strncmp(h, "<p>", 3) == 0 && strncmp(h + len - 5, "</p>\n", 5) == 0)
            h += 3, len -= 8;
        ck_strbuf_add(o, h, len);
        free(html);
    }
    ck_strbuf_adds(o, "</");
    ck_strbuf_adds(o, tag);
    ck_strbuf_adds(o, ">");
}

static void put_row(ck_strbuf_t *o, line_t row, const char *tag)
{
    line_t cells[CK_TABLE_MAX_COLS];
    int n = split_row(row, cells);
    ck_strbuf_adds(o, "<tr>");
    for (int i = 0; i < n; i++)
        put_cell(o, cells[i], tag);
    ck_strbuf_adds(o, "</tr>\n");
}

static line_t line_at(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return (line_t){p, nl != NULL ? (size_t)(nl - p) : (size_t)(end - p)};
}

/* Emits the table starting with header line `head`; returns the position after it. */
static const char *put_table(ck_strbuf_t *o, line_t head, const char *p, const char *end)
{
    ck_strbuf_adds(o, "<table>\n<thead>\n");
    put_row(o, head, "th");
    ck_strbuf_adds(o, "</thead>\n<tbody>\n");
    while (p < end) {
        line_t l = line_at(p, end);
        if (l.len == 0 || l.p[0] != '|')
            break;
        put_row(o, l, "td");
        p += l.len + (p + l.len < end);
    }
    ck_strbuf_adds(o, "</tbody>\n</table>\n\n");
    return p;
}

char *ck_http_docs_tables_to_html(const char *md, size_t len, size_t *out_len)
{
    ck_strbuf_t o = {0};
    const char *p = md, *end = md + len;
    int in_fence = 0;
    while (p < end) {
        line_t l = line_at(p, end);
        const char *next = p + l.len + (p + l.len < end);
        if (l.len >= 3 && strncmp(l.p, "```", 3) == 0)
            in_fence = !in_fence;
        if (!in_fence && l.len > 0 && l.p[0] == '|' && next < end && is_delimiter_row(line_at(next, end))) {
            line_t delim = line_at(next, end);
            p = put_table(&o, l, next + delim.len + (next + delim.len < end), end);
            continue;
        }
        ck_strbuf_add(&o, l.p, l.len);
        ck_strbuf_add(&o, "\n", 1);
        p = next;
    }
    if (o.failed || o.p == NULL) {
        free(o.p);
        return NULL;
    }
    *out_len = o.len;
    return o.p;
}
