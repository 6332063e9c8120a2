/*
 * ingest.h - `chatkitd ingest PATH...`: load .md, .txt and .html files
 * (directories recursively) into the search corpus in PostgreSQL.
 * Blocking; runs from main() only, never on an event loop.
 */
#ifndef CK_CORPUS_INGEST_H
#define CK_CORPUS_INGEST_H

/* Ingests every path: files are added or replaced (unchanged ones skipped);
 * for a directory, documents stored under it whose files are gone are
 * removed.  Prints a progress line on a terminal and one summary line.
 * Returns 0 on success, 1 if any path failed (others still done). */
int ck_corpus_ingest(const char *conninfo, int npaths, char **paths);

/* The source name of a path: "." and empty components dropped, slashes
 * collapsed, no trailing slash ("./docs//a.md" -> "docs/a.md", "./" -> "").
 * Malloc'd (caller frees); NULL on allocation failure. */
char *ck_corpus_source_name(const char *path);

#endif
