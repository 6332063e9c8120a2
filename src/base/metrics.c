/*
 * metrics.c - the metric table and its lock-free series storage (see
 * metrics.h).
 *
 * Each metric owns a fixed open-addressing table of CK_METRICS_SLOTS slots.
 * A slot holds a pointer to a series (label values + atomic values) or
 * NULL; a slot, once filled, never changes, so readers need no lock: a
 * lookup hashes the label values (FNV-1a), probes from hash & mask, and
 * compares the label strings of the series it finds.  A new combination is
 * published with one compare-and-swap; the loser of a race frees its copy
 * and uses the winner's.  Series live until the process exits.
 *
 * Values: counters and gauges are one atomic 64-bit integer; a histogram
 * has one atomic counter per bucket (not cumulative; the renderer adds them
 * up) plus the +Inf bucket, and its sum in nanoseconds.  All updates are
 * relaxed atomic adds: a scrape may see one observation's bucket without
 * its sum, never a torn or lost value.
 *
 * Built with -DCK_METRICS_OFF the updates return at once (the exposition
 * then shows no series): only for measuring what the updates cost
 * (bench/reads/metrics_cost.sh), never shipped.
 */
#include "base/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CK_METRICS_OFF
#define METRICS_OFF 1
#else
#define METRICS_OFF 0
#endif

#define CK_METRICS_SLOTS 1024 /* power of two, about twice CK_METRICS_MAX_SERIES */
#define MAX_BUCKETS 20

enum { COUNTER, GAUGE, HISTOGRAM };

typedef struct series {
    uint64_t hash;
    char *labels[CK_METRICS_MAX_LABELS];
    _Atomic uint64_t value;     /* counter, or gauge as two's complement */
    _Atomic uint64_t sum_ns;    /* histogram: sum of observations, nanoseconds */
    _Atomic uint64_t buckets[]; /* histogram: nbuckets + 1 (+Inf) */
} series_t;

typedef struct family {
    const char *name;
    const char *help;
    int type;
    int nlabels;
    const char *label_names[CK_METRICS_MAX_LABELS];
    const double *bounds; /* histogram bucket upper bounds, ascending */
    int nbounds;
    _Atomic int count;
    _Atomic(series_t *) slots[CK_METRICS_SLOTS];
} family_t;

static const double REQUEST_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,    5,     10,   30,    60,   120, 300};
static const double FIRST_TOKEN_BOUNDS[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
static const double TURN_BOUNDS[] = {0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300};
static const double SEARCH_BOUNDS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

#define BOUNDS(b) b, (int)(sizeof(b) / sizeof(b[0]))

/* The metrics; the names and label names are an interface (docs/operations.md). */
/* One metric per line, kept out of clang-format: one field per line would hide the table. */
/* clang-format off */
static family_t families[CK_M__COUNT] = {
    [CK_M_REQUESTS] = {"chatkitd_requests_total", "Answered HTTP requests by operation (protocol type or route) and status",
                       COUNTER, 2, {"op", "status"}},
    [CK_M_REQUEST_DURATION] = {"chatkitd_request_duration_seconds",
                               "Request received to response complete (streams: to the end of the stream)", HISTOGRAM,
                               1, {"op"}, BOUNDS(REQUEST_BOUNDS)},
    [CK_M_TURN_FIRST_TOKEN] = {"chatkitd_turn_first_token_seconds",
                               "Streamed turn: request received to the first text delta sent", HISTOGRAM, 2,
                               {"assistant", "model"}, BOUNDS(FIRST_TOKEN_BOUNDS)},
    [CK_M_TURN_DURATION] = {"chatkitd_turn_duration_seconds", "Streamed turn: request received to the end of the turn",
                            HISTOGRAM, 2, {"assistant", "model"}, BOUNDS(TURN_BOUNDS)},
    [CK_M_MODEL_REQUESTS] = {"chatkitd_model_requests_total", "Calls to the model endpoint by outcome", COUNTER, 2,
                             {"model", "outcome"}},
    [CK_M_MODEL_TOKENS] = {"chatkitd_model_tokens_total",
                           "Model tokens (the endpoint's usage when reported, else estimated) by kind", COUNTER, 2,
                           {"model", "kind"}},
    [CK_M_TOOL_CALLS] = {"chatkitd_tool_calls_total", "Tool calls made for the model by tool and outcome", COUNTER, 2,
                         {"tool", "outcome"}},
    [CK_M_SEARCH_DURATION] = {"chatkitd_search_duration_seconds", "Corpus searches: query sent to rows received",
                              HISTOGRAM, 0, {NULL}, BOUNDS(SEARCH_BOUNDS)},
    [CK_M_RATE_LIMITED] = {"chatkitd_rate_limited_total", "Requests refused by a per-user limit", COUNTER, 1, {"limit"}},
    [CK_M_AUTH_FAILURES] = {"chatkitd_auth_failures_total", "Requests refused by authentication by reason", COUNTER, 1,
                            {"reason"}},
    [CK_M_OPEN_STREAMS] = {"chatkitd_open_streams", "Streamed turns currently open", GAUGE, 0, {NULL}},
    [CK_M_DB_UP] = {"chatkitd_db_up", "1 when the database is reachable and migrated", GAUGE, 0, {NULL}},
    [CK_M_BUILD_INFO] = {"chatkitd_build_info", "Always 1; the version label names the build", GAUGE, 1, {"version"}},
};
/* clang-format on */

static const char *const OTHER[CK_METRICS_MAX_LABELS] = {"other", "other", "other"};

static uint64_t hash_labels(const family_t *f, const char *const *labels)
{
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < f->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)(labels[i] ? labels[i] : ""); *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static int same_labels(const family_t *f, const series_t *s, const char *const *labels)
{
    for (int i = 0; i < f->nlabels; i++)
        if (strcmp(s->labels[i], labels[i] ? labels[i] : "") != 0)
            return 0;
    return 1;
}

static void series_free(const family_t *f, series_t *s)
{
    for (int i = 0; i < f->nlabels; i++)
        free(s->labels[i]);
    free(s);
}

static series_t *series_new(const family_t *f, uint64_t h, const char *const *labels)
{
    size_t nb = f->type == HISTOGRAM ? (size_t)f->nbounds + 1 : 0;
    series_t *s = calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
    if (s == NULL)
        return NULL;
    s->hash = h;
    for (int i = 0; i < f->nlabels; i++)
        if ((s->labels[i] = strdup(labels[i] ? labels[i] : "")) == NULL) {
            series_free(f, s);
            return NULL;
        }
    return s;
}

/* The series of `labels` in `f`, created on first use; NULL when out of memory. */
static series_t *series_of(family_t *f, const char *const *labels, int capped)
{
    if (f->nlabels == 0)
        labels = OTHER; /* not read: hash and comparison cover no label */
    uint64_t h = hash_labels(f, labels);
    size_t mask = CK_METRICS_SLOTS - 1;
    for (size_t n = 0, i = (size_t)h & mask; n < CK_METRICS_SLOTS; n++, i = (i + 1) & mask) {
        series_t *s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
        if (s == NULL) {
            if (capped && atomic_load_explicit(&f->count, memory_order_relaxed) >= CK_METRICS_MAX_SERIES)
                return series_of(f, OTHER, 0);
            series_t *fresh = series_new(f, h, labels);
            if (fresh == NULL)
                return NULL;
            if (atomic_compare_exchange_strong_explicit(&f->slots[i], &s, fresh, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed);
                return fresh;
            }
            series_free(f, fresh); /* another thread filled the slot: s is its series */
        }
        if (s->hash == h && same_labels(f, s, labels))
            return s;
    }
    return NULL;
}

static family_t *family(ck_metric_id_t id, int type)
{
    return (unsigned)id < CK_M__COUNT && families[id].type == type ? &families[id] : NULL;
}

void ck_metrics_add(ck_metric_id_t id, const char *const *labels, uint64_t n)
{
    if (METRICS_OFF)
        return;
    family_t *f = family(id, COUNTER);
    series_t *s = f ? series_of(f, labels, 1) : NULL;
    if (s != NULL)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void ck_metrics_gauge_add(ck_metric_id_t id, const char *const *labels, int64_t delta)
{
    if (METRICS_OFF)
        return;
    family_t *f = family(id, GAUGE);
    series_t *s = f ? series_of(f, labels, 1) : NULL;
    if (s != NULL)
        atomic_fetch_add_explicit(&s->value, (uint64_t)delta, memory_order_relaxed);
}

void ck_metrics_gauge_set(ck_metric_id_t id, const char *const *labels, int64_t value)
{
    if (METRICS_OFF)
        return;
    family_t *f = family(id, GAUGE);
    series_t *s = f ? series_of(f, labels, 1) : NULL;
    if (s != NULL)
        atomic_store_explicit(&s->value, (uint64_t)value, memory_order_relaxed);
}

void ck_metrics_observe(ck_metric_id_t id, const char *const *labels, double seconds)
{
    if (METRICS_OFF)
        return;
    family_t *f = family(id, HISTOGRAM);
    series_t *s = f ? series_of(f, labels, 1) : NULL;
    if (s == NULL)
        return;
    if (!(seconds > 0))
        seconds = 0;
    int b = 0;
    while (b < f->nbounds && seconds > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    double ns = seconds * 1e9;
    atomic_fetch_add_explicit(&s->sum_ns, ns < 1.8e19 ? (uint64_t)ns : UINT64_C(18000000000000000000),
                              memory_order_relaxed);
}

double ck_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *ck_metrics_name(ck_metric_id_t id) { return (unsigned)id < CK_M__COUNT ? families[id].name : NULL; }

/* --- exposition ------------------------------------------------------------ */

/* Appends a label value with \\, \" and \n escaped (text format 0.0.4). */
static void add_escaped(ck_strbuf_t *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            ck_strbuf_add(out, "\\\\", 2);
        else if (*v == '"')
            ck_strbuf_add(out, "\\\"", 2);
        else if (*v == '\n')
            ck_strbuf_add(out, "\\n", 2);
        else
            ck_strbuf_addc(out, *v);
    }
}

/* Appends "{a="x",b="y"" plus `extra` (e.g. `le="0.5"`), then "}" - or
 * nothing when there is no label at all. */
static void add_labels(ck_strbuf_t *out, const family_t *f, const series_t *s, const char *extra)
{
    if (f->nlabels == 0 && extra == NULL)
        return;
    ck_strbuf_addc(out, '{');
    for (int i = 0; i < f->nlabels; i++) {
        if (i > 0)
            ck_strbuf_addc(out, ',');
        ck_strbuf_adds(out, f->label_names[i]);
        ck_strbuf_add(out, "=\"", 2);
        add_escaped(out, s->labels[i]);
        ck_strbuf_addc(out, '"');
    }
    if (extra != NULL) {
        if (f->nlabels > 0)
            ck_strbuf_addc(out, ',');
        ck_strbuf_adds(out, extra);
    }
    ck_strbuf_addc(out, '}');
}

static void add_line(ck_strbuf_t *out, const family_t *f, const char *suffix, const series_t *s, const char *extra,
                     const char *value)
{
    ck_strbuf_adds(out, f->name);
    ck_strbuf_adds(out, suffix);
    add_labels(out, f, s, extra);
    ck_strbuf_addc(out, ' ');
    ck_strbuf_adds(out, value);
    ck_strbuf_addc(out, '\n');
}

static void render_series(ck_strbuf_t *out, const family_t *f, series_t *s)
{
    char num[64], le[64];
    if (f->type == COUNTER) {
        snprintf(num, sizeof num, "%" PRIu64, atomic_load_explicit(&s->value, memory_order_relaxed));
        add_line(out, f, "", s, NULL, num);
        return;
    }
    if (f->type == GAUGE) {
        snprintf(num, sizeof num, "%" PRId64, (int64_t)atomic_load_explicit(&s->value, memory_order_relaxed));
        add_line(out, f, "", s, NULL, num);
        return;
    }
    uint64_t cumulative = 0;
    for (int b = 0; b <= f->nbounds; b++) {
        cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        if (b < f->nbounds)
            snprintf(le, sizeof le, "le=\"%g\"", f->bounds[b]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        snprintf(num, sizeof num, "%" PRIu64, cumulative);
        add_line(out, f, "_bucket", s, le, num);
    }
    snprintf(num, sizeof num, "%.9f", (double)atomic_load_explicit(&s->sum_ns, memory_order_relaxed) / 1e9);
    add_line(out, f, "_sum", s, NULL, num);
    snprintf(num, sizeof num, "%" PRIu64, cumulative);
    add_line(out, f, "_count", s, NULL, num);
}

int ck_metrics_render(ck_strbuf_t *out)
{
    for (int id = 0; id < CK_M__COUNT; id++) {
        family_t *f = &families[id];
        ck_strbuf_adds(out, "# HELP ");
        ck_strbuf_adds(out, f->name);
        ck_strbuf_addc(out, ' ');
        ck_strbuf_adds(out, f->help);
        ck_strbuf_adds(out, "\n# TYPE ");
        ck_strbuf_adds(out, f->name);
        ck_strbuf_adds(out, f->type == COUNTER ? " counter\n" : f->type == GAUGE ? " gauge\n" : " histogram\n");
        if (f->nlabels == 0)
            series_of(f, NULL, 0); /* a metric without labels always has its one series */
        for (size_t i = 0; i < CK_METRICS_SLOTS; i++) {
            series_t *s = atomic_load_explicit(&f->slots[i], memory_order_acquire);
            if (s != NULL)
                render_series(out, f, s);
        }
    }
    return out->failed ? -1 : 0;
}
