/*
 * ingest.c - `chatkitd ingest PATH...`: walk files and directories, chunk
 * every .md/.markdown/.txt/.html/.htm file (src/corpus/chunker.h) and store it
 * with chatkit.corpus_put_document (sql/functions/corpus.sql), which skips
 * files whose SHA-256 is unchanged and replaces changed ones atomically.
 * After a directory was walked completely, the documents stored under it
 * whose files are gone are removed (chatkit.corpus_delete_missing).
 *
 * Blocking libpq; runs from main() only.  The `source` of a file is its path
 * normalised (ck_corpus_source_name): "docs", "./docs" and "docs/" all give
 * "docs/a.md".  Progress: on a terminal one line rewritten in place (files
 * done / total, files per second); otherwise only the summary line.
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
#include <time.h>
#include <unistd.h>

#include "corpus/chunker.h"
#include "base/file.h"
#include "store/store.h"

#define CK_INGEST_MAX_FILE (32u << 20) /* larger files are refused */
#define CK_INGEST_MAX_DEPTH 32         /* directory recursion limit */

typedef struct ingest_stats {
    int added, replaced, unchanged, failed, removed;
} ingest_stats_t;

/* One file to ingest, found by the walk. */
typedef struct ingest_file {
    char *path;   /* as the walk reached it (for open) */
    char *source; /* normalised name stored in chatkit.documents */
    int kind;     /* ck_doc_kind_t */
} ingest_file_t;

/* A directory argument: its prefix ("docs/") and whether its walk was complete. */
typedef struct ingest_root {
    char *prefix;
    int complete;
    size_t first, count; /* its files: files[first .. first + count) */
} ingest_root_t;

typedef struct ingest_run {
    PGconn *db;
    ingest_file_t *files;
    size_t nfiles, cap;
    ingest_root_t *roots;
    size_t nroots;
    ingest_stats_t st;
    int tty;          /* stdout is a terminal: progress line */
    double started;   /* monotonic seconds */
    double last_draw; /* when the progress line was last drawn */
} ingest_run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads a whole file; the caller frees *data.  Returns 0 or -1 (errno-style
 * message in err). */
static int read_file(const char *path, char **data, size_t *len, const char **err)
{
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

/* Lower-case hex SHA-256 of CK_CHUNKER_VERSION followed by data into
 * out[65]: a file is "unchanged" only if its bytes and the chunker are.
 * Returns 0 or -1. */
static int sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, CK_CHUNKER_VERSION, strlen(CK_CHUNKER_VERSION)) &&
             EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The chunks as the JSON array corpus_put_document expects; caller frees. */
static char *chunks_json(const ck_doc_t *doc)
{
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
static const char *put_document(PGconn *db, const char *source, const char *sha, const ck_doc_t *doc)
{
    static char status[16];
    char *json = chunks_json(doc);
    if (!json) {
        fprintf(stderr, "ingest: %s: out of memory\n", source);
        return NULL;
    }
    const char *vals[4] = {source, sha, doc->title, json};
    PGresult *r =
        PQexecParams(db, "SELECT chatkit.corpus_put_document($1, $2, $3, $4::jsonb)", 4, NULL, vals, NULL, NULL, 0);
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

/* Ingests one file and counts the outcome in run->st. */
static void ingest_file(ingest_run_t *run, const ingest_file_t *f)
{
    ingest_stats_t *st = &run->st;
    char *data = NULL;
    size_t len = 0;
    const char *err = NULL;
    char sha[65];
    if (read_file(f->path, &data, &len, &err) != 0 || sha256_hex(data, len, sha) != 0) {
        fprintf(stderr, "%singest: %s: %s\n", run->tty ? "\r\033[K" : "", f->source, err ? err : "cannot hash");
        free(data);
        st->failed++;
        return;
    }
    size_t nbad = 0;
    free(ck_chunk_utf8_sanitize(data, len, &nbad));
    if (nbad)
        fprintf(stderr, "%singest: warning: %s: %zu invalid UTF-8 byte(s) replaced by U+FFFD\n",
                run->tty ? "\r\033[K" : "", f->source, nbad);
    const char *base = strrchr(f->source, '/');
    ck_doc_t doc;
    if (ck_chunk_document(data, len, (ck_doc_kind_t)f->kind, base ? base + 1 : f->source, &doc) != 0) {
        fprintf(stderr, "ingest: %s: out of memory\n", f->source);
        free(data);
        st->failed++;
        return;
    }
    free(data);
    const char *status = put_document(run->db, f->source, sha, &doc);
    if (!status)
        st->failed++;
    else if (strcmp(status, "added") == 0)
        st->added++;
    else if (strcmp(status, "replaced") == 0)
        st->replaced++;
    else
        st->unchanged++;
    ck_chunk_doc_free(&doc);
}

char *ck_corpus_source_name(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = path;
    if (*p == '/')
        out[o++] = *p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* empty or "." component: dropped */
        } else {
            if (o > 0 && out[o - 1] != '/')
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    out[o] = '\0';
    return out;
}

/* "dir" + "/" + "name" without doubling the slash; caller frees. */
static char *path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int slash = dl == 0 || dir[dl - 1] == '/';
    size_t n = dl + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds a file to the run (takes neither string). Returns 0 or -1. */
static int add_file(ingest_run_t *run, const char *path, int kind)
{
    if (run->nfiles == run->cap) {
        size_t cap = run->cap ? run->cap * 2 : 256;
        ingest_file_t *v = realloc(run->files, cap * sizeof *v);
        if (!v)
            return -1;
        run->files = v;
        run->cap = cap;
    }
    char *p = strdup(path), *s = ck_corpus_source_name(path);
    if (!p || !s) {
        free(p);
        free(s);
        return -1;
    }
    run->files[run->nfiles++] = (ingest_file_t){p, s, kind};
    return 0;
}

/* Walks `path`; returns 0, or -1 when part of it could not be read (the
 * failure is printed and counted). */
static int walk(ingest_run_t *run, const char *path, int depth);

/* Every entry of a directory, sorted, hidden ones (".x") skipped. */
static int walk_dir(ingest_run_t *run, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ingest: %s: %s\n", dir, strerror(errno));
        run->st.failed++;
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = realloc(names, cap * sizeof *v);
            if (!v) {
                rc = -1;
                break;
            }
            names = v;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
        else
            rc = -1;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        if (!p || walk(run, p, depth + 1) != 0)
            rc = -1;
        free(p);
        free(names[i]);
    }
    free(names);
    if (rc != 0 && !n) {
        fprintf(stderr, "ingest: %s: out of memory\n", dir);
        run->st.failed++;
    }
    return rc;
}

static int walk(ingest_run_t *run, const char *path, int depth)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "ingest: %s: %s\n", path, strerror(errno));
        run->st.failed++;
        return -1;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (depth < CK_INGEST_MAX_DEPTH)
            return walk_dir(run, path, depth);
        fprintf(stderr, "ingest: warning: %s: too deep, skipped\n", path);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        if (depth == 0)
            fprintf(stderr, "ingest: warning: %s: not a regular file, skipped\n", path);
        return 0;
    }
    int kind = ck_chunk_kind_from_path(path);
    if (kind >= 0) {
        if (add_file(run, path, kind) != 0) {
            fprintf(stderr, "ingest: %s: out of memory\n", path);
            run->st.failed++;
            return -1;
        }
    } else if (depth == 0) {
        fprintf(stderr, "ingest: warning: %s: not .md, .txt or .html, skipped\n", path);
    }
    return 0;
}

/* Removes the documents stored under a completely walked directory whose
 * files the walk did not find. */
static void remove_missing(ingest_run_t *run, const ingest_root_t *root)
{
    json_t *keep = json_array();
    for (size_t i = root->first; keep && i < root->first + root->count; i++)
        json_array_append_new(keep, json_string(run->files[i].source));
    char *keep_s = keep ? json_dumps(keep, JSON_COMPACT) : NULL;
    json_decref(keep);
    if (!keep_s) {
        fprintf(stderr, "ingest: %s: out of memory\n", root->prefix);
        run->st.failed++;
        return;
    }
    const char *vals[2] = {root->prefix, keep_s};
    PGresult *r = PQexecParams(
        run->db, "SELECT chatkit.corpus_delete_missing($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))", 2,
        NULL, vals, NULL, NULL, 0);
    free(keep_s);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            run->st.removed++;
            if (run->tty)
                printf("\r\033[Kremoved   %s (file gone)\n", PQgetvalue(r, i, 0));
        }
    } else {
        fprintf(stderr, "ingest: %s: removing documents of missing files: %s", root->prefix, PQerrorMessage(run->db));
        run->st.failed++;
    }
    PQclear(r);
}

/* On a terminal: "ingest: 512/1169 files (43%), 85 files/s", at most 10 times a second. */
static void progress(ingest_run_t *run, size_t done, int force)
{
    if (!run->tty)
        return;
    double t = now_s();
    if (!force && t - run->last_draw < 0.1)
        return;
    run->last_draw = t;
    double rate = t > run->started ? done / (t - run->started) : 0;
    printf("\r\033[Kingest: %zu/%zu files (%d%%), %.0f files/s", done, run->nfiles,
           run->nfiles ? (int)(100 * done / run->nfiles) : 100, rate);
    fflush(stdout);
}

/* VACUUM ANALYZE the posting table after a change, so searches use an
 * index-only scan and fresh planner statistics at once (autovacuum would get
 * there later).  A failure (e.g. not the table owner) is only a warning. */
static void refresh_visibility(PGconn *db)
{
    PGresult *r = PQexec(db, "VACUUM (ANALYZE) chatkit.corpus_postings, chatkit.chunks, chatkit.corpus_lexemes");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "ingest: warning: vacuum: %s", PQerrorMessage(db));
    PQclear(r);
}

int ck_corpus_ingest(const char *conninfo, int npaths, char **paths)
{
    if (ck_store_migrate(conninfo) != 0) {
        fprintf(stderr, "ingest: cannot migrate the database schema\n");
        return 1;
    }
    ingest_run_t run = {.tty = isatty(STDOUT_FILENO)};
    run.db = PQconnectdb(conninfo ? conninfo : "");
    if (PQstatus(run.db) != CONNECTION_OK) {
        fprintf(stderr, "ingest: cannot connect: %s", PQerrorMessage(run.db));
        PQfinish(run.db);
        return 1;
    }
    run.roots = calloc((size_t)npaths, sizeof *run.roots);
    if (!run.roots && npaths > 0) {
        fprintf(stderr, "ingest: out of memory\n");
        PQfinish(run.db);
        return 1;
    }
    for (int i = 0; i < npaths; i++) {
        struct stat sb;
        int is_dir = stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode);
        size_t first = run.nfiles;
        int rc = walk(&run, paths[i], 0);
        if (is_dir) {
            char *name = ck_corpus_source_name(paths[i]);
            char *prefix = name ? path_join(name, "") : NULL;
            free(name);
            run.roots[run.nroots++] = (ingest_root_t){prefix, rc == 0 && prefix != NULL, first, run.nfiles - first};
        }
    }
    run.started = now_s();
    for (size_t i = 0; i < run.nfiles; i++) {
        progress(&run, i, i == 0);
        ingest_file(&run, &run.files[i]);
    }
    progress(&run, run.nfiles, 1);
    for (size_t i = 0; i < run.nroots; i++)
        if (run.roots[i].complete)
            remove_missing(&run, &run.roots[i]);
    if (run.st.added || run.st.replaced || run.st.removed)
        refresh_visibility(run.db);
    PQfinish(run.db);
    double secs = now_s() - run.started;
    printf("%singest: %zu files in %.1f s (%.0f files/s): %d added, %d replaced, %d unchanged, %d removed, %d failed\n",
           run.tty ? "\r\033[K" : "", run.nfiles, secs, secs > 0 ? run.nfiles / secs : 0.0, run.st.added,
           run.st.replaced, run.st.unchanged, run.st.removed, run.st.failed);
    for (size_t i = 0; i < run.nfiles; i++) {
        free(run.files[i].path);
        free(run.files[i].source);
    }
    free(run.files);
    for (size_t i = 0; i < run.nroots; i++)
        free(run.roots[i].prefix);
    free(run.roots);
    return run.st.failed ? 1 : 0;
}
