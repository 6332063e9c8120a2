/* log.c - see log.h.  Every message is passed through ck_redact_inplace()
 * (e-mails, phones, cards, IBANs, SSNs masked), whatever CHATKITD_REDACT_PII says. */
#include "base/log.h"

#include "base/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static enum ck_log_level threshold = CK_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ck_log_init(void)
{
    const char *env = getenv("CHATKITD_LOG_LEVEL");
    if (env == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp(env, level_names[i]) == 0)
            threshold = (enum ck_log_level)i;
}

void ck_log(enum ck_log_level level, const char *fmt, ...)
{
    if (level < threshold)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%ld] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_names[level], (long)syscall(SYS_gettid));
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) {
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        ck_redact_inplace(line + n, sizeof line - (size_t)n);
    }
    va_end(ap);
    size_t len = strlen(line);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
