/*
 * ops_record.h - the operator's records in PostgreSQL: the audit log of
 * state-changing actions and one usage row per streamed turn (tables:
 * sql/schema/060_ops.sql, functions: sql/functions/ops.sql).
 *
 * Writers (event-loop threads) are fire-and-forget: ck_store_audit() and
 * ck_store_usage() queue one pipelined statement on the worker's store and
 * return at once; nobody waits for the reply (a failure is logged), so a
 * record never adds a round trip to the answer it describes.  Call them
 * after the action succeeded (and, for a turn, after its stream ended).
 *
 * Readers and the pruning are blocking (one libpq connection each): the
 * `chatkitd audit` / `chatkitd stats` commands and the server's admin
 * thread only, never an event loop.
 *
 * Audit rows never hold message text (nor a remembered fact's text):
 * `detail` is a short description (a feedback kind, a tool outcome, how a
 * fact was added or removed, an auth failure reason), PII-masked.
 */
#ifndef CK_STORE_OPS_RECORD_H
#define CK_STORE_OPS_RECORD_H

#include <stdio.h>

#include <jansson.h>

#include "store/store.h"

/* Actions (the `action` column); other modules may add their own names. */
#define CK_AUDIT_THREAD_CREATED "thread.created"
#define CK_AUDIT_THREAD_RENAMED "thread.renamed"
#define CK_AUDIT_THREAD_DELETED "thread.deleted"
#define CK_AUDIT_FEEDBACK "feedback"
#define CK_AUDIT_ATTACHMENT_UPLOADED "attachment.uploaded"
#define CK_AUDIT_ATTACHMENT_DELETED "attachment.deleted"
#define CK_AUDIT_MEMORY_ADDED "memory.added"
#define CK_AUDIT_MEMORY_REMOVED "memory.removed"
#define CK_AUDIT_TOOL_CALL "tool.call"
#define CK_AUDIT_AUTH_FAILURE "auth.failure"

/* The user of a row whose caller is not known (an authentication failure). */
#define CK_AUDIT_NO_USER "-"

/* Records `action` by `user_id` (CK_AUDIT_NO_USER for an unknown caller) on the
 * objects `object_ids` (NULL-terminated array of ids, or NULL) with a short
 * `detail` (masked with ck_redact; may be NULL).  `request_id` may be NULL:
 * the thread's log scope is used.  No-op when `store` is NULL. */
void ck_store_audit(ck_store_t *store, const char *user_id, const char *request_id, const char *action,
                    const char *const *object_ids, const char *detail);

/* The params of that audit.add op, for an op that writes the row in its
 * own transaction instead (turn.create's `audit`).  New reference or NULL. */
json_t *ck_store_audit_params(const char *request_id, const char *action, const char *const *object_ids,
                              const char *detail);

/* One streamed turn's usage row (no message text). */
typedef struct ck_usage_row {
    const char *request_id;
    const char *user_id;
    const char *thread_id; /* may be NULL */
    const char *assistant;
    const char *model;
    const char *outcome; /* "ok", "error" or "cancelled" */
    long first_token_ms; /* < 0: no text was sent */
    long duration_ms;
    long prompt_tokens, completion_tokens;
    int tool_calls;
    const char *turn_key; /* the turn's random key, or NULL: the store keeps one row per key (a write
                             repeated after a lost reply adds none) */
} ck_usage_row_t;

/* Queues the row (fire-and-forget, see above).  No-op when `store` is NULL. */
void ck_store_usage(ck_store_t *store, const ck_usage_row_t *row);

/* The params of that usage.add op, for a turn that writes the row together
 * with its last writes (turn.write).  New reference or NULL. */
json_t *ck_store_usage_params(const ck_usage_row_t *row);

/* Blocking: deletes audit and usage rows older than `days` days.  Returns
 * the number of rows deleted, or -1 (logged). */
long ck_store_prune(const char *conninfo, int days);

/* Blocking: runs `SELECT chatkit.<function>($1::jsonb)` and returns its text
 * (malloc'd, caller frees), or NULL with a message in `err`. */
char *ck_store_report(const char *conninfo, const char *function, const char *params_json, char *err, size_t err_cap);

#endif
