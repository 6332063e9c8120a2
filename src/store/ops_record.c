/*
 * ops_record.c - audit and usage rows (see ops_record.h).
 *
 * The writers start an ordinary store op ('audit.add', 'usage.add', see
 * sql/functions/dispatch.sql) whose reply goes to a static callback that
 * only logs a failure: the caller keeps no handle, so there is nothing to
 * cancel when the request that caused the record goes away.  Only the
 * public store API is used (store.h), so unit tests that fake ck_store_op()
 * link this file without the real store.
 */
#include "store/ops_record.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/log.h"
#include "base/redact.h"

static void on_recorded(const ck_store_reply_t *reply, void *user)
{
    const char *what = user;
    if (!reply->ok)
        ck_warn("store: %s failed: %s", what, reply->message ? reply->message : "?");
}

/* Starts op `op` with `params` (stolen) for `user_id`, not waiting for it. */
static void fire(ck_store_t *store, const char *op, const char *user_id, json_t *params)
{
    char *text = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    if (text == NULL) {
        ck_warn("store: %s: out of memory", op);
        return;
    }
    ck_store_op(store, op, user_id != NULL ? user_id : "", text, strlen(text), on_recorded, (void *)op);
    free(text);
}

static void set_request_id(json_t *params, const char *request_id)
{
    const char *id = request_id != NULL && *request_id ? request_id : ck_log_scope_current();
    if (id != NULL && *id)
        json_object_set_new(params, "request_id", json_string(id));
}

json_t *ck_store_audit_params(const char *request_id, const char *action, const char *const *object_ids,
                              const char *detail)
{
    json_t *params = action != NULL ? json_pack("{s:s,s:[]}", "action", action, "object_ids") : NULL;
    if (params == NULL)
        return NULL;
    set_request_id(params, request_id);
    json_t *ids = json_object_get(params, "object_ids");
    for (size_t i = 0; object_ids != NULL && object_ids[i] != NULL; i++)
        json_array_append_new(ids, json_string(object_ids[i]));
    if (detail != NULL && *detail) {
        char *masked = ck_redact(detail, strlen(detail), NULL, NULL);
        json_object_set_new(params, "detail", json_string(masked != NULL ? masked : "(detail dropped)"));
        free(masked);
    }
    return params;
}

void ck_store_audit(ck_store_t *store, const char *user_id, const char *request_id, const char *action,
                    const char *const *object_ids, const char *detail)
{
    if (store == NULL || action == NULL)
        return;
    json_t *params = ck_store_audit_params(request_id, action, object_ids, detail);
    if (params != NULL)
        fire(store, "audit.add", user_id, params);
}

json_t *ck_store_usage_params(const ck_usage_row_t *row)
{
    json_t *params = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:i}", "assistant", row->assistant, "model", row->model,
                               "outcome", row->outcome, "duration_ms", (json_int_t)row->duration_ms, "prompt_tokens",
                               (json_int_t)row->prompt_tokens, "completion_tokens", (json_int_t)row->completion_tokens,
                               "tool_calls", row->tool_calls);
    if (params == NULL)
        return NULL;
    set_request_id(params, row->request_id);
    if (row->thread_id != NULL && *row->thread_id)
        json_object_set_new(params, "thread_id", json_string(row->thread_id));
    if (row->first_token_ms >= 0)
        json_object_set_new(params, "first_token_ms", json_integer(row->first_token_ms));
    if (row->turn_key != NULL && *row->turn_key)
        json_object_set_new(params, "turn_key", json_string(row->turn_key));
    return params;
}

void ck_store_usage(ck_store_t *store, const ck_usage_row_t *row)
{
    json_t *params = store != NULL ? ck_store_usage_params(row) : NULL;
    if (params != NULL)
        fire(store, "usage.add", row->user_id, params);
}

/* --- blocking side ----------------------------------------------------------- */

static PGconn *connect_blocking(const char *conninfo, char *err, size_t cap)
{
    PGconn *pg = PQconnectdb(conninfo != NULL ? conninfo : "");
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, cap, "cannot connect: %s", pg != NULL ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

long ck_store_prune(const char *conninfo, int days)
{
    char err[512], arg[16];
    PGconn *pg = connect_blocking(conninfo, err, sizeof err);
    if (pg == NULL) {
        ck_warn("store: prune: %s", err);
        return -1;
    }
    snprintf(arg, sizeof arg, "%d", days);
    const char *values[1] = {arg};
    PGresult *res = PQexecParams(pg, "SELECT chatkit.ops_prune($1::integer)", 1, NULL, values, NULL, NULL, 0);
    long n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    else
        ck_warn("store: prune: %s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
    return n;
}

char *ck_store_report(const char *conninfo, const char *function, const char *params_json, char *err, size_t err_cap)
{
    char sql[128];
    PGconn *pg = connect_blocking(conninfo, err, err_cap);
    if (pg == NULL)
        return NULL;
    snprintf(sql, sizeof sql, "SELECT chatkit.%s($1::jsonb)", function);
    const char *values[1] = {params_json};
    PGresult *res = PQexecParams(pg, sql, 1, NULL, values, NULL, NULL, 0);
    char *out = NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        out = strdup(PQgetvalue(res, 0, 0));
    else
        snprintf(err, err_cap, "%s", PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
    return out;
}
