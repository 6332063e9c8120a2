/*
 * docs.h - the user documentation served at GET / and GET /docs/<page>:
 * every Markdown file of the docs directory rendered to a complete HTML page with libcmark, once
 * at start-up.  The loaded set is read-only afterwards and shared by all
 * workers without locking.
 */
#ifndef CK_HTTP_DOCS_H
#define CK_HTTP_DOCS_H

#include <stddef.h>

typedef struct ck_http_doc {
    char *name;  /* file name without ".md", e.g. "index", "agent" */
    char *title; /* text of the first "# " heading, or the name */
    char *html;  /* the whole HTML page */
    size_t html_len;
} ck_http_doc_t;

typedef struct ck_http_docs {
    ck_http_doc_t *pages; /* sorted by name */
    size_t count;
} ck_http_docs_t;

/* Loads and renders every regular Markdown (.md) file of `dir` whose name is made of
 * [A-Za-z0-9_-] (other files are skipped).  A missing or unreadable
 * directory gives an empty set (logged).  Returns NULL only when out of
 * memory.  Free with ck_http_docs_free(). */
ck_http_docs_t *ck_http_docs_load(const char *dir);
void ck_http_docs_free(ck_http_docs_t *docs);

/* Replaces the GitHub-style pipe tables of Markdown `md` (`len` bytes) with
 * raw HTML <table> blocks (libcmark has no tables) and copies every other
 * line.  Returns a malloc'd NUL-terminated text (caller frees) with its
 * length in *out_len, or NULL when out of memory.  The result must be
 * rendered with CMARK_OPT_UNSAFE: use it on trusted documents only. */
char *ck_http_docs_tables_to_html(const char *md, size_t len, size_t *out_len);

/* The page called `name` (`len` bytes, with or without ".md"), or NULL. */
const ck_http_doc_t *ck_http_docs_find(const ck_http_docs_t *docs, const char *name, size_t len);

#endif
