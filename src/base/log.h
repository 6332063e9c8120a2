/*
 * log.h - one line per message on stderr, in one of two formats
 * (CHATKITD_LOG_FORMAT, default json when stderr is not a terminal, text
 * when it is):
 *
 *   json: {"time":"2026-12-01T23:19:03.123Z","level":"info","msg":"...",
 *          "thread":1234,"request_id":"...", <fields>}
 *   text: 2026-12-01T23:19:03.123Z info  [1234] msg key=value ... request_id=...
 *
 * Thread-safe (a single fputs per line).  Level threshold from
 * CHATKITD_LOG_LEVEL (debug|info|warn|error, default info).
 *
 * PII: the message and every string field are masked before they are
 * written, always (src/base/redact.h: [EMAIL] [PHONE] [CARD] [IBAN] [SSN]).
 *
 * Request ids: a thread may declare the request it is working for with
 * ck_log_scope_enter(); every line it writes until ck_log_scope_leave()
 * carries that request_id.  Code driven by callbacks enters the scope of
 * its request at the top of each callback.
 */
#ifndef CK_BASE_LOG_H
#define CK_BASE_LOG_H

#include <stddef.h>

#include <jansson.h>

enum ck_log_level { CK_LOG_DEBUG, CK_LOG_INFO, CK_LOG_WARN, CK_LOG_ERROR };

/* Reads CHATKITD_LOG_LEVEL and CHATKITD_LOG_FORMAT.  Returns 0, or -1 after
 * logging a bad value.  Call once before any thread starts. */
int ck_log_init(void);

/* 1 when lines are JSON objects. */
int ck_log_is_json(void);

/* 1 when a line of `level` would be written (build costly fields only then). */
int ck_log_enabled(enum ck_log_level level);

void ck_log(enum ck_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line with structured fields: `fields` (a JSON object, stolen; may be
 * NULL) is merged into the JSON object, or appended as key=value in text. */
void ck_log_fields(enum ck_log_level level, const char *msg, json_t *fields);

#define ck_debug(...) ck_log(CK_LOG_DEBUG, __VA_ARGS__)
#define ck_info(...) ck_log(CK_LOG_INFO, __VA_ARGS__)
#define ck_warn(...) ck_log(CK_LOG_WARN, __VA_ARGS__)
#define ck_error(...) ck_log(CK_LOG_ERROR, __VA_ARGS__)

/* Sets this thread's current request id (NULL or "" = none) and returns the
 * previous one, to give back to ck_log_scope_leave().  `id` must stay valid
 * until the scope is left. */
const char *ck_log_scope_enter(const char *id);
void ck_log_scope_leave(const char *previous);
/* This thread's current request id, or NULL. */
const char *ck_log_scope_current(void);

/* Masks PII in the NUL-terminated `buf` (capacity `cap`) in place, as every
 * log line is (ck_redact_inplace).  Returns 1 when something was replaced. */
int ck_log_mask(char *buf, size_t cap);

#endif
