/*
 * ops_report.h - the operator's report commands over a blocking connection
 * (main() only, never an event loop):
 *
 *   chatkitd audit [--user U] [--since 24h] [--action A] [--json]
 *   chatkitd stats [--since 24h|7d] [--json]
 *
 * `audit` prints the audit log (oldest first), one line per row, or one JSON
 * object per line with --json.  `stats` prints per assistant and model:
 * turns, success rate, p50/p95 first-token and turn latency, tokens in and
 * out, tool calls; --json prints the document GET /admin/stats answers.
 */
#ifndef CK_STORE_OPS_REPORT_H
#define CK_STORE_OPS_REPORT_H

/* `argv` holds the `argc` arguments after the command name.  Return the
 * process exit status: 0, 1 (database error), 2 (bad option, named on
 * stderr). */
int ck_store_cli_audit(const char *conninfo, int argc, char **argv);
int ck_store_cli_stats(const char *conninfo, int argc, char **argv);

#endif
