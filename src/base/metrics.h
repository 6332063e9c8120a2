/*
 * metrics.h - process-wide Prometheus metrics: counters, gauges and
 * histograms with a fixed set of label names per metric.
 *
 * Every metric is declared once, in the table of metrics.c (name, help,
 * type, label names, histogram buckets), and named here by a CK_M_* id.
 * Any thread may update any metric at any time; the exposition
 * (ck_metrics_render, served as GET /metrics) adds up what all threads
 * recorded.  Updates cost a hash of the label values, a lock-free lookup
 * and one relaxed atomic add per value: no lock, no allocation after the
 * first use of a label combination.
 *
 *     ck_metrics_inc(CK_M_TOOL_CALLS, CK_LABELS("search", "ok"));
 *     ck_metrics_observe(CK_M_SEARCH_DURATION, NULL, seconds);
 *     ck_metrics_gauge_add(CK_M_OPEN_STREAMS, NULL, 1);
 *
 * `labels` is an array of exactly as many strings as the metric has label
 * names (NULL for a metric without labels); the strings are copied on first
 * use.  A metric keeps at most CK_METRICS_MAX_SERIES label combinations;
 * further combinations are counted under the value "other" for every label,
 * so a caller passing untrusted values cannot grow memory without bound.
 * Never include h2o here (src/base is below every layer).
 */
#ifndef CK_BASE_METRICS_H
#define CK_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

/* The metrics.  Adding one: a CK_M_* id here and its row in metrics.c. */
typedef enum ck_metric_id {
    CK_M_REQUESTS,         /* counter   chatkitd_requests_total{op,status} */
    CK_M_REQUEST_DURATION, /* histogram chatkitd_request_duration_seconds{op} */
    CK_M_TURN_FIRST_TOKEN, /* histogram chatkitd_turn_first_token_seconds{assistant,model} */
    CK_M_TURN_DURATION,    /* histogram chatkitd_turn_duration_seconds{assistant,model} */
    CK_M_MODEL_REQUESTS,   /* counter   chatkitd_model_requests_total{model,outcome} */
    CK_M_MODEL_TOKENS,     /* counter   chatkitd_model_tokens_total{model,kind} kind=prompt|completion */
    CK_M_TOOL_CALLS,       /* counter   chatkitd_tool_calls_total{tool,outcome} */
    CK_M_SEARCH_DURATION,  /* histogram chatkitd_search_duration_seconds */
    CK_M_RATE_LIMITED,     /* counter   chatkitd_rate_limited_total{limit} */
    CK_M_AUTH_FAILURES,    /* counter   chatkitd_auth_failures_total{reason} */
    CK_M_OPEN_STREAMS,     /* gauge     chatkitd_open_streams */
    CK_M_DB_UP,            /* gauge     chatkitd_db_up */
    CK_M_BUILD_INFO,       /* gauge     chatkitd_build_info{version} (always 1) */
    CK_M__COUNT
} ck_metric_id_t;

#define CK_METRICS_MAX_LABELS 3
#define CK_METRICS_MAX_SERIES 500

/* A compound literal of label values: CK_LABELS("search", "ok"). */
#define CK_LABELS(...) ((const char *const[]){__VA_ARGS__})

/* Counters: add `n` (ck_metrics_inc adds 1). */
void ck_metrics_add(ck_metric_id_t id, const char *const *labels, uint64_t n);
#define ck_metrics_inc(id, labels) ck_metrics_add((id), (labels), 1)

/* Gauges: add `delta` (may be negative) or set the value. */
void ck_metrics_gauge_add(ck_metric_id_t id, const char *const *labels, int64_t delta);
void ck_metrics_gauge_set(ck_metric_id_t id, const char *const *labels, int64_t value);

/* Histograms: one observation of `seconds` (negative counts as 0). */
void ck_metrics_observe(ck_metric_id_t id, const char *const *labels, double seconds);

/* Seconds on a monotonic clock, for durations: ck_metrics_now() - start. */
double ck_metrics_now(void);

/* Appends the whole exposition (Prometheus text format 0.0.4) to `out`:
 * every metric's HELP and TYPE lines, then its series.  Thread-safe.
 * Returns 0, or -1 when out of memory. */
int ck_metrics_render(ck_strbuf_t *out);

/* The metric's exposition name (e.g. "chatkitd_requests_total"); a
 * histogram's base name without _bucket/_sum/_count. */
const char *ck_metrics_name(ck_metric_id_t id);

#endif
