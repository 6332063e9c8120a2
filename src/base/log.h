/*
 * log.h - one line per message on stderr: "<UTC time> <level> [<thread>] message".
 * Thread-safe (a single fputs per line). Level threshold from CHATKITD_LOG_LEVEL
 * (debug|info|warn|error, default info).  The message part is always
 * PII-masked (src/base/redact.h): [EMAIL] [PHONE] [CARD] [IBAN] [SSN].
 */
#ifndef CK_BASE_LOG_H
#define CK_BASE_LOG_H

enum ck_log_level { CK_LOG_DEBUG, CK_LOG_INFO, CK_LOG_WARN, CK_LOG_ERROR };

void ck_log_init(void);
void ck_log(enum ck_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ck_debug(...) ck_log(CK_LOG_DEBUG, __VA_ARGS__)
#define ck_info(...) ck_log(CK_LOG_INFO, __VA_ARGS__)
#define ck_warn(...) ck_log(CK_LOG_WARN, __VA_ARGS__)
#define ck_error(...) ck_log(CK_LOG_ERROR, __VA_ARGS__)

#endif
