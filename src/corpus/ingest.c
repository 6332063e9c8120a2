/*
 * ingest.c - `chatkitd ingest PATH...`: walk files and directories, chunk
 * every .md/.markdown/.txt/.html/.htm file (src/corpus/chunker.h) and store it
 * with chatkit.corpus_put_document (sql/functions/corpus.sql), which skips files
 * whose SHA-256 is unchanged and replaces changed ones atomically.
 *
 * Blocking libpq; runs from main() only.  `source` of a file is its path as
 * given, or for a directory argument the directory as given joined with the
 * file's path below it ("docs" -> "docs/a.md", "./docs/" -> "./docs/a.md").
 */
#include "corpus/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus/chunker.h"
#include "base/file.h"
#include "store/store.h"

#define CK_INGEST_MAX_FILE (32u << 20) /* larger files are refused */
#define CK_INGEST_MAX_DEPTH 32         /* directory recursion limit */

typedef struct ingest_stats {
    int added, replaced, unchanged, failed;
} ingest_stats_t;

/* Reads a whole file; the caller frees *data.  Returns 0 or -1 (errno-style
 * message in err). */
static int read_file(const char *path, char **data, size_t *len, const char **err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = strerror(errno);
        return -1;
    }
    *data = ck_file_read_all(f, CK_INGEST_MAX_FILE, len);
    int error = errno;
    fclose(f);
    if (*data == NULL) {
        *err = error == EFBIG ? "too large or not a regular file" : error == ENOMEM ? "out of memory" : "read error";
        return -1;
    }
    return 0;
}

/* Lower-case hex SHA-256 of data into out[65].  Returns 0 or -1. */
static int sha256_hex(const char *data, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The chunks as the JSON array corpus_put_document expects; caller frees. */
static char *chunks_json(const ck_doc_t *doc) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < doc->nchunks; i++) {
        json_t *c = json_pack("{s:s, s:s}", "title", doc->chunks[i].title, "text", doc->chunks[i].text);
        if (!c || json_array_append_new(arr, c) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return s;
}

/* Calls corpus_put_document; returns its status text (static) or NULL with
 * the server's message printed. */
static const char *put_document(PGconn *db, const char *source, const char *sha, const ck_doc_t *doc) {
    static char status[16];
    char *json = chunks_json(doc);
    if (!json) {
        fprintf(stderr, "ingest: %s: out of memory\n", source);
        return NULL;
    }
    const char *vals[4] = {source, sha, doc->title, json};
    PGresult *r = PQexecParams(db, "SELECT chatkit.corpus_put_document($1, $2, $3, $4::jsonb)", 4, NULL, vals,
                               NULL, NULL, 0);
    free(json);
    const char *out = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        snprintf(status, sizeof status, "%s", PQgetvalue(r, 0, 0));
        out = status;
    } else {
        fprintf(stderr, "ingest: %s: %s", source, PQerrorMessage(db));
    }
    PQclear(r);
    return out;
}

/* Ingests one file under the name `source`. */
static void ingest_file(PGconn *db, const char *path, const char *source, ck_doc_kind_t kind, ingest_stats_t *st) {
    char *data = NULL;
    size_t len = 0;
    const char *err = NULL;
    char sha[65];
    if (read_file(path, &data, &len, &err) != 0 || sha256_hex(data, len, sha) != 0) {
        fprintf(stderr, "ingest: %s: %s\n", source, err ? err : "cannot hash");
        free(data);
        st->failed++;
        return;
    }
    size_t nbad = 0;
    free(ck_chunk_utf8_sanitize(data, len, &nbad));
    if (nbad)
        fprintf(stderr, "ingest: warning: %s: %zu invalid UTF-8 byte(s) replaced by U+FFFD\n", source, nbad);
    const char *base = strrchr(source, '/');
    ck_doc_t doc;
    if (ck_chunk_document(data, len, kind, base ? base + 1 : source, &doc) != 0) {
        fprintf(stderr, "ingest: %s: out of memory\n", source);
        free(data);
        st->failed++;
        return;
    }
    free(data);
    const char *status = put_document(db, source, sha, &doc);
    if (!status)
        st->failed++;
    else if (strcmp(status, "added") == 0)
        st->added++;
    else if (strcmp(status, "replaced") == 0)
        st->replaced++;
    else
        st->unchanged++;
    if (status)
        printf("%-9s %s (%zu chunks)\n", status, source, doc.nchunks);
    ck_chunk_doc_free(&doc);
}

/* "dir" + "/" + "name" without doubling the slash; caller frees. */
static char *path_join(const char *dir, const char *name) {
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    size_t n = dl + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ingest_path(PGconn *db, const char *path, int depth, ingest_stats_t *st);

/* Every entry of a directory, sorted, hidden ones (".x") skipped. */
static void ingest_dir(PGconn *db, const char *dir, int depth, ingest_stats_t *st) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ingest: %s: %s\n", dir, strerror(errno));
        st->failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = realloc(names, cap * sizeof *v);
            if (!v)
                break;
            names = v;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        if (p)
            ingest_path(db, p, depth + 1, st);
        else
            st->failed++;
        free(p);
        free(names[i]);
    }
    free(names);
}

static void ingest_path(PGconn *db, const char *path, int depth, ingest_stats_t *st) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "ingest: %s: %s\n", path, strerror(errno));
        st->failed++;
    } else if (S_ISDIR(sb.st_mode)) {
        if (depth < CK_INGEST_MAX_DEPTH)
            ingest_dir(db, path, depth, st);
        else
            fprintf(stderr, "ingest: warning: %s: too deep, skipped\n", path);
    } else if (!S_ISREG(sb.st_mode)) {
        if (depth == 0)
            fprintf(stderr, "ingest: warning: %s: not a regular file, skipped\n", path);
    } else {
        int kind = ck_chunk_kind_from_path(path);
        if (kind >= 0)
            ingest_file(db, path, path, (ck_doc_kind_t)kind, st);
        else if (depth == 0)
            fprintf(stderr, "ingest: warning: %s: not .md, .txt or .html, skipped\n", path);
    }
}

/* VACUUM ANALYZE the posting table after a change, so searches use an
 * index-only scan and fresh planner statistics at once (autovacuum would get
 * there later).  A failure (e.g. not the table owner) is only a warning. */
static void refresh_visibility(PGconn *db) {
    PGresult *r = PQexec(db, "VACUUM (ANALYZE) chatkit.corpus_postings, chatkit.chunks");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "ingest: warning: vacuum: %s", PQerrorMessage(db));
    PQclear(r);
}

int ck_corpus_ingest(const char *conninfo, int npaths, char **paths) {
    if (ck_store_migrate(conninfo) != 0) {
        fprintf(stderr, "ingest: cannot migrate the database schema\n");
        return 1;
    }
    PGconn *db = PQconnectdb(conninfo ? conninfo : "");
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "ingest: cannot connect: %s", PQerrorMessage(db));
        PQfinish(db);
        return 1;
    }
    ingest_stats_t st = {0};
    for (int i = 0; i < npaths; i++)
        ingest_path(db, paths[i], 0, &st);
    if (st.added || st.replaced)
        refresh_visibility(db);
    PQfinish(db);
    printf("ingest: %d added, %d replaced, %d unchanged, %d failed\n", st.added, st.replaced, st.unchanged,
           st.failed);
    return st.failed ? 1 : 0;
}
