/*
 * log.c - see log.h.  A line is assembled in a stack buffer (text) or a
 * jansson object (json) and written with one fputs, so lines of different
 * threads never interleave.  Messages longer than LINE_MAX bytes are cut.
 * The message and every string field go through ck_redact_inplace()
 * (src/base/redact.h: e-mails, phones, cards, IBANs, SSNs masked) first,
 * whatever CHATKITD_REDACT_PII says.
 */
#include "base/log.h"

#include "base/env.h"
#include "base/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
/* Numbers with a fraction are written with 15 significant digits: enough
 * for any figure we log (a duration rounded to microseconds stays exact up
 * to 31 years in ms), and no binary noise (1.234, not 1.2339999999999999). */
#define REAL_FORMAT JSON_REAL_PRECISION(15)

static enum ck_log_level threshold = CK_LOG_INFO;
static int json_format;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static __thread const char *scope_id;

int ck_log_init(void)
{
    const char *level = ck_env_str("CHATKITD_LOG_LEVEL");
    const char *format = ck_env_str("CHATKITD_LOG_FORMAT");
    json_format = !isatty(STDERR_FILENO);
    if (format != NULL && *format != '\0') {
        if (strcmp(format, "json") == 0)
            json_format = 1;
        else if (strcmp(format, "text") == 0)
            json_format = 0;
        else {
            ck_error("CHATKITD_LOG_FORMAT=%s must be json or text", format);
            return -1;
        }
    }
    if (level == NULL || *level == '\0')
        return 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, level_names[i]) == 0) {
            threshold = (enum ck_log_level)i;
            return 0;
        }
    ck_error("CHATKITD_LOG_LEVEL=%s must be debug, info, warn or error", level);
    return -1;
}

int ck_log_is_json(void) { return json_format; }

int ck_log_enabled(enum ck_log_level level) { return level >= threshold; }

const char *ck_log_scope_enter(const char *id)
{
    const char *previous = scope_id;
    scope_id = id != NULL && *id != '\0' ? id : NULL;
    return previous;
}

void ck_log_scope_leave(const char *previous) { scope_id = previous; }

const char *ck_log_scope_current(void) { return scope_id; }

/* --- PII masking ----------------------------------------------------------- */

int ck_log_mask(char *buf, size_t cap) { return ck_redact_inplace(buf, cap) != 0; }

/* --- lines ------------------------------------------------------------------ */

static void timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Masks the string values of `fields` in place (replacing them). */
static void mask_fields(json_t *fields)
{
    const char *key;
    json_t *value;
    char buf[1024];
    json_object_foreach(fields, key, value)
    {
        const char *s = json_string_value(value);
        if (s == NULL || strlen(s) >= sizeof buf)
            continue;
        strcpy(buf, s);
        if (ck_log_mask(buf, sizeof buf) > 0)
            json_string_set(value, buf);
    }
}

static void write_json(enum ck_log_level level, const char *time, const char *msg, json_t *fields)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "time", time, "level", level_names[level], "msg", msg, "thread",
                          (json_int_t)syscall(SYS_gettid));
    if (o == NULL) {
        json_decref(fields);
        return;
    }
    if (scope_id != NULL)
        json_object_set_new(o, "request_id", json_string(scope_id));
    if (fields != NULL) {
        mask_fields(fields);
        json_object_update_missing(o, fields);
        json_decref(fields);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | REAL_FORMAT);
    json_decref(o);
    if (text == NULL)
        return;
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (line != NULL) {
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        fputs(line, stderr);
        free(line);
    }
    free(text);
}

static void add_text(char *line, size_t cap, size_t *len, const char *s)
{
    int n = snprintf(line + *len, cap - *len, "%s", s);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

static void write_text(enum ck_log_level level, const char *time, const char *msg, json_t *fields)
{
    char line[LINE_MAX_BYTES], head[96];
    size_t len = 0;
    snprintf(head, sizeof head, "%s %-5s [%ld] ", time, level_names[level], (long)syscall(SYS_gettid));
    add_text(line, sizeof line - 1, &len, head);
    add_text(line, sizeof line - 1, &len, msg);
    const char *key;
    json_t *value;
    if (fields != NULL)
        mask_fields(fields);
    json_object_foreach(fields, key, value)
    {
        char *v = json_is_string(value) ? NULL : json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | REAL_FORMAT);
        add_text(line, sizeof line - 1, &len, " ");
        add_text(line, sizeof line - 1, &len, key);
        add_text(line, sizeof line - 1, &len, "=");
        add_text(line, sizeof line - 1, &len, v != NULL ? v : json_string_value(value));
        free(v);
    }
    if (scope_id != NULL && json_object_get(fields, "request_id") == NULL) {
        add_text(line, sizeof line - 1, &len, " request_id=");
        add_text(line, sizeof line - 1, &len, scope_id);
    }
    json_decref(fields);
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}

void ck_log_fields(enum ck_log_level level, const char *msg, json_t *fields)
{
    if (level < threshold) {
        json_decref(fields);
        return;
    }
    char time[80], masked[LINE_MAX_BYTES];
    timestamp(time, sizeof time);
    snprintf(masked, sizeof masked, "%s", msg);
    ck_log_mask(masked, sizeof masked);
    if (json_format)
        write_json(level, time, masked, fields);
    else
        write_text(level, time, masked, fields);
}

void ck_log(enum ck_log_level level, const char *fmt, ...)
{
    if (level < threshold)
        return;
    char msg[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ck_log_fields(level, msg, NULL);
}
