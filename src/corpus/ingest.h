/*
 * ingest.h - `chatkitd ingest PATH...`: load .md, .txt and .html files
 * (directories recursively) into the search corpus in PostgreSQL.
 * Blocking; runs from main() only, never on an event loop.
 */
#ifndef CK_CORPUS_INGEST_H
#define CK_CORPUS_INGEST_H

/* Ingests every path; prints one line per file (added/replaced/unchanged) and
 * a summary.  Returns 0 on success, 1 if any path failed (others still done). */
int ck_corpus_ingest(const char *conninfo, int npaths, char **paths);

#endif
