/*
 * chunker.h - split one Markdown, plain-text or HTML document into search
 * chunks for the corpus (see docs/ingest.md).
 *
 * Pure C, no I/O: the caller (src/corpus/ingest.c) reads the file and stores
 * the chunks.  A document becomes a title plus a list of chunks; each chunk
 * carries the heading path it sits under ("Doc title > Section > Sub") and a
 * Markdown body built from whole blocks of that section: paragraphs, list
 * items ("- x", "1. x", nested ones indented), tables (pipe tables with a
 * header row) and fenced code blocks.  Blocks are packed until a chunk
 * reaches CK_CHUNK_TARGET characters; a chunk never crosses a heading
 * (except that a section shorter than CK_CHUNK_MIN merges into the next,
 * its heading written as a Markdown heading line).  Chunks do not overlap.
 * A table or code block longer than CK_CHUNK_BLOCK_MAX is cut between rows
 * (each piece repeats the header) or lines (each piece fenced); a paragraph
 * longer than CK_CHUNK_MAX after a sentence.
 *
 * HTML: tags are removed, <script>/<style>/<head> and navigation boilerplate
 * (<nav>, role="navigation", class names starting with "nav"), tables of
 * contents (class "toc") and back-of-book indexes (class "index") are dropped,
 * common entities are decoded, <h1>..<h6> start sections, <pre> becomes a
 * code block, <table> a pipe table, <li> a list item, <dt> a bold line,
 * inline <code> `code`, and the title of a note/tip/warning/caution/important
 * box a bold label ("**Tip:** ...") instead of a section.  Markdown: ATX (#)
 * and setext headings, fenced code (``` or ~~~, info string kept), pipe
 * tables, list items; blank lines end paragraphs.  Text: blank lines end
 * paragraphs.
 *
 * Output is always valid UTF-8 without NUL bytes: invalid sequences become
 * U+FFFD, NUL becomes a space.
 */
#ifndef CK_CORPUS_CHUNKER_H
#define CK_CORPUS_CHUNKER_H

#include <stddef.h>

/* Changes whenever the same bytes would chunk differently: ingest stores it
 * inside each document's digest, so a new chunker re-chunks every file. */
#define CK_CHUNKER_VERSION "chunker-3"
#define CK_CHUNK_TARGET 1000    /* a chunk is closed once it reaches this size */
#define CK_CHUNK_MAX 1400       /* prose never makes a chunk longer than this */
#define CK_CHUNK_BLOCK_MAX 4000 /* a table or code block up to this size stays whole */
#define CK_CHUNK_MIN 200        /* a section shorter than this merges into the next */

typedef enum ck_doc_kind { CK_DOC_TEXT, CK_DOC_MARKDOWN, CK_DOC_HTML } ck_doc_kind_t;

typedef struct ck_chunk {
    char *title; /* heading path, e.g. "Guide > Install > Linux" */
    char *text;  /* body: Markdown (paragraphs, items, tables, fenced code) */
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
