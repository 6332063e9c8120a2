/*
 * chunker.h - split one Markdown, plain-text or HTML document into search
 * chunks for the corpus (see docs/ingest.md).
 *
 * Pure C, no I/O: the caller (src/corpus/ingest.c) reads the file and stores
 * the chunks.  A document becomes a title plus a list of chunks; each chunk
 * carries the heading path it sits under ("Doc title > Section > Sub") and a
 * body of roughly CK_CHUNK_TARGET characters cut on heading, paragraph and,
 * for long paragraphs, sentence boundaries.  A chunk that continues a section
 * starts with the last sentence of the previous chunk (a small overlap).
 *
 * HTML: tags are removed, <script>/<style>/<head> and navigation boilerplate
 * (<nav>, role="navigation", class names starting with "nav") are dropped,
 * common entities are decoded, <h1>..<h6> start sections and block elements
 * (<p>, <div>, <li>, <pre>, <tr>, ...) end paragraphs.  Markdown: ATX (#) and
 * setext headings outside fenced code; blank lines end paragraphs.  Text:
 * blank lines end paragraphs.
 *
 * Output is always valid UTF-8 without NUL bytes: invalid sequences become
 * U+FFFD, NUL becomes a space.
 */
#ifndef CK_CORPUS_CHUNKER_H
#define CK_CORPUS_CHUNKER_H

#include <stddef.h>

#define CK_CHUNK_TARGET 1000 /* a chunk is closed once it reaches this size */
#define CK_CHUNK_MAX 1200    /* a chunk never exceeds this (unless one word does) */
#define CK_CHUNK_MIN 200     /* a section shorter than this merges into the next */
#define CK_CHUNK_OVERLAP 240 /* the carried-over sentence is at most this long */

typedef enum ck_doc_kind { CK_DOC_TEXT, CK_DOC_MARKDOWN, CK_DOC_HTML } ck_doc_kind_t;

typedef struct ck_chunk {
    char *title; /* heading path, e.g. "Guide > Install > Linux" */
    char *text;  /* body text, whitespace-normalized (kept inside code) */
} ck_chunk_t;

typedef struct ck_doc {
    char *title;        /* first heading (HTML: <title>), else the file name */
    ck_chunk_t *chunks; /* nchunks entries, in document order */
    size_t nchunks;
} ck_doc_t;

/* Kind of a file from its name: .md/.markdown -> MARKDOWN, .txt -> TEXT,
 * .html/.htm -> HTML (case-insensitive).  Returns -1 for anything else. */
int ck_chunk_kind_from_path(const char *path);

/* Splits `len` bytes of `data` (any bytes; need not be NUL-terminated) of the
 * given kind.  `name` (e.g. the file's base name) is the title when the
 * document has no heading.  Fills `doc`; the caller frees it with
 * ck_chunk_doc_free().  A document with no text yields zero chunks.
 * Returns 0, or -1 on allocation failure (doc then holds nothing to free). */
int ck_chunk_document(const char *data, size_t len, ck_doc_kind_t kind, const char *name, ck_doc_t *doc);

/* Frees everything ck_chunk_document() allocated in `doc` (not `doc` itself). */
void ck_chunk_doc_free(ck_doc_t *doc);

/* Returns a newly allocated NUL-terminated copy of `len` bytes of `data` that
 * is valid UTF-8: each invalid byte becomes U+FFFD, NUL becomes a space.
 * `*nbad` (if not NULL) receives the number of replaced invalid bytes.  The
 * caller frees the result; NULL on allocation failure. */
char *ck_chunk_utf8_sanitize(const char *data, size_t len, size_t *nbad);

#endif
