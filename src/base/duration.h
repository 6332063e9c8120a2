/*
 * duration.h - "24h"-style durations of the command line and of query
 * strings (`chatkitd stats --since 7d`, GET /admin/stats?since=24h).
 */
#ifndef CK_BASE_DURATION_H
#define CK_BASE_DURATION_H

/* Parses a positive integer followed by s, m, h, d or w (seconds, minutes,
 * hours, days, weeks; a bare number is seconds) of at most `max_seconds`.
 * Returns 0 with *seconds set, or -1 when `text` is not such a duration. */
int ck_duration_parse(const char *text, long max_seconds, long *seconds);

#endif
