/*
 * docs.c - load the docs directory's Markdown files and render them to HTML pages (see docs.h).
 *
 * Two passes: read every Markdown file and its title, then render each page
 * with a navigation bar that links all pages (so the bar needs the full
 * list).  Pipe tables are turned into HTML first (docs_tables.c) and the
 * page is rendered with CMARK_OPT_UNSAFE so that HTML survives: the docs are
 * the operator's own files, never user input.
 */
#include "http/docs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmark.h>

#include "base/file.h"
#include "base/log.h"
#include "base/strbuf.h"

#define CK_DOCS_MAX_FILE (1024 * 1024)
#define CK_DOCS_MAX_PAGES 64

static void add_html_escaped(ck_strbuf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            ck_strbuf_adds(b, "&lt;");
            break;
        case '>':
            ck_strbuf_adds(b, "&gt;");
            break;
        case '&':
            ck_strbuf_adds(b, "&amp;");
            break;
        case '"':
            ck_strbuf_adds(b, "&quot;");
            break;
        default:
            ck_strbuf_add(b, s, 1);
        }
    }
}

static const char page_head[] = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
static const char page_style[] =
    " - chatkitd</title><style>"
    "body{font:16px/1.55 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fff}"
    "nav{background:#f4f4f6;border-bottom:1px solid #ddd;padding:.6em 1.2em}"
    "nav a{margin-right:1.1em;color:#0b57d0;text-decoration:none}nav a.here{font-weight:600;color:#1d1d1f}"
    "main{max-width:52em;margin:0 auto;padding:1em 1.2em 3em}"
    "pre{background:#f6f8fa;padding:.8em;overflow:auto;border-radius:6px}"
    "code{font:14px/1.4 ui-monospace,monospace}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}"
    "</style></head><body><nav>";

/* The first "# " heading of `md`, or a copy of `fallback` (malloc'd). */
static char *md_title(const char *md, const char *fallback)
{
    for (const char *line = md; line != NULL && *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t n = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (n > 2 && line[0] == '#' && line[1] == ' ') {
            while (n > 2 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                n--;
            return strndup(line + 2, n - 2);
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return strdup(fallback);
}

static int valid_page_name(const char *file, size_t *stem_len)
{
    size_t n = strlen(file);
    if (n < 4 || n > 64 || strcmp(file + n - 3, ".md") != 0)
        return 0;
    for (size_t i = 0; i < n - 3; i++) {
        char c = file[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    *stem_len = n - 3;
    return 1;
}

/* Reads a whole regular file of at most CK_DOCS_MAX_FILE bytes (malloc'd, NUL-terminated). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *text = NULL;
    if (f == NULL)
        return NULL;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
        text = ck_file_read_all(f, CK_DOCS_MAX_FILE, len);
    fclose(f);
    return text;
}

static int page_cmp(const void *a, const void *b)
{
    const ck_http_doc_t *x = a, *y = b;
    /* index first, then alphabetical */
    int xi = strcmp(x->name, "index") == 0, yi = strcmp(y->name, "index") == 0;
    return xi != yi ? yi - xi : strcmp(x->name, y->name);
}

/* Reads the sources: pages[i].name/title set and pages[i].html = the Markdown. */
static size_t load_sources(const char *dir, ck_http_doc_t *pages)
{
    DIR *d = opendir(dir);
    size_t count = 0, stem;
    if (d == NULL) {
        ck_warn("docs: cannot open %s: GET / will show a placeholder page (set CHATKITD_DOCS_DIR)", dir);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL && count < CK_DOCS_MAX_PAGES;) {
        if (!valid_page_name(e->d_name, &stem))
            continue;
        char path[4096];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *md = read_file(path, &len);
        char *name = strndup(e->d_name, stem);
        char *title = md != NULL && name != NULL ? md_title(md, name) : NULL;
        if (title == NULL) {
            ck_warn("docs: skipping %s (unreadable, too large or out of memory)", path);
            free(md), free(name);
            continue;
        }
        pages[count++] = (ck_http_doc_t){name, title, md, len};
    }
    closedir(d);
    qsort(pages, count, sizeof *pages, page_cmp);
    return count;
}

/* Replaces pages[i].html (the Markdown) with the rendered page. */
static int render_page(ck_http_doc_t *pages, size_t count, size_t i)
{
    ck_strbuf_t b = {0};
    ck_strbuf_adds(&b, page_head);
    add_html_escaped(&b, pages[i].title);
    ck_strbuf_adds(&b, page_style);
    for (size_t k = 0; k < count; k++) {
        ck_strbuf_adds(&b, k == i ? "<a class=\"here\" href=\"" : "<a href=\"");
        ck_strbuf_adds(&b, strcmp(pages[k].name, "index") == 0 ? "/" : "/docs/");
        if (strcmp(pages[k].name, "index") != 0)
            ck_strbuf_adds(&b, pages[k].name);
        ck_strbuf_adds(&b, "\">");
        add_html_escaped(&b, strcmp(pages[k].name, "index") == 0 ? "chatkitd" : pages[k].title);
        ck_strbuf_adds(&b, "</a>");
    }
    ck_strbuf_adds(&b, "</nav><main>\n");
    size_t md_len = 0;
    char *md = ck_http_docs_tables_to_html(pages[i].html, pages[i].html_len, &md_len);
    char *body = md != NULL ? cmark_markdown_to_html(md, md_len, CMARK_OPT_UNSAFE) : NULL;
    free(md);
    if (body == NULL) {
        free(b.p);
        return -1;
    }
    ck_strbuf_adds(&b, body);
    free(body);
    ck_strbuf_adds(&b, "</main></body></html>\n");
    if (b.failed) {
        free(b.p);
        return -1;
    }
    free(pages[i].html);
    pages[i].html = b.p;
    pages[i].html_len = b.len;
    return 0;
}

ck_http_docs_t *ck_http_docs_load(const char *dir)
{
    ck_http_docs_t *docs = calloc(1, sizeof *docs);
    if (docs == NULL || (docs->pages = calloc(CK_DOCS_MAX_PAGES, sizeof *docs->pages)) == NULL) {
        free(docs);
        return NULL;
    }
    docs->count = load_sources(dir, docs->pages);
    for (size_t i = 0; i < docs->count; i++) {
        if (render_page(docs->pages, docs->count, i) != 0) {
            ck_http_docs_free(docs);
            return NULL;
        }
    }
    ck_info("docs: %zu page(s) rendered from %s", docs->count, dir);
    return docs;
}

void ck_http_docs_free(ck_http_docs_t *docs)
{
    if (docs == NULL)
        return;
    for (size_t i = 0; i < docs->count; i++) {
        free(docs->pages[i].name);
        free(docs->pages[i].title);
        free(docs->pages[i].html);
    }
    free(docs->pages);
    free(docs);
}

const ck_http_doc_t *ck_http_docs_find(const ck_http_docs_t *docs, const char *name, size_t len)
{
    if (len > 3 && memcmp(name + len - 3, ".md", 3) == 0)
        len -= 3;
    for (size_t i = 0; docs != NULL && i < docs->count; i++)
        if (strlen(docs->pages[i].name) == len && memcmp(docs->pages[i].name, name, len) == 0)
            return &docs->pages[i];
    return NULL;
}
