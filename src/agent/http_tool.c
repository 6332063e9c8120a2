/*
 * http_tool.c - the registry tools of a turn (see assistants.h): which
 * tools the model is offered, HTTP tool calls and client tool calls.
 *
 * HTTP tool call: the arguments are checked against the tool's
 * `parameters`; then {"arguments","user","thread_id","assistant"} is POSTed
 * to its URL with its headers on the worker's curl multi handle (llm.c in
 * raw mode: no retries, the tool's timeout_ms for the whole call, the
 * answer capped at CK_TOOL_ANSWER_MAX bytes).  A 2xx JSON answer is the
 * tool output the model gets; invalid arguments, timeouts, non-2xx
 * answers, non-JSON and oversized bodies become {"error": "..."} outputs,
 * never a failed turn.  A progress_update is shown while it runs.  Every
 * call is logged with its duration and the size of its arguments (never
 * their content, which may hold personal data).
 *
 * Client tool call ("client": true): the turn ends with a pending
 * client_tool_call item; threads.add_client_tool_output completes it and
 * the continuation turn sends the output to the model (prompt.c).
 *
 * A tool the turn's assistant does not list is never run: the model gets
 * an "unknown tool" error output instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent_internal.h"
#include "base/log.h"
#include "protocol/events.h"

#define CK_TOOL_ANSWER_MAX (64 * 1024)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static char *error_json(const char *message)
{
    json_t *o = json_pack("{s:s}", "error", message);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s ? s : strdup("{\"error\":\"tool failed\"}");
}

/* --- what is offered -------------------------------------------------------- */

int ck_agent_search_allowed(const ck_agent_run_t *run, const char *name)
{
    if (name == NULL || strcmp(name, "search") != 0)
        return 0;
    return run->assistant == NULL || run->assistant->search;
}

const ck_tool_def_t *ck_agent_client_tool(const ck_agent_run_t *run, const char *name)
{
    const ck_tool_def_t *def = ck_assistant_tool(run->assistant, name);
    return def && def->client ? def : NULL;
}

json_t *ck_agent_tools_offered(ck_agent_run_t *run, json_t *(*search_tool)(void))
{
    json_t *tools = json_array();
    if (tools == NULL)
        return NULL;
    if (run->assistant == NULL || run->assistant->search)
        json_array_append_new(tools, search_tool());
    for (size_t i = 0; run->assistant && i < run->assistant->tool_count; i++) {
        const ck_tool_def_t *t = run->assistant->tools[i];
        /* the registry is shared by every worker thread: copy, never take a reference */
        json_array_append_new(tools,
                              json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function", "name", t->name,
                                        "description", t->description, "parameters", json_deep_copy(t->parameters)));
    }
    return tools;
}

/* --- HTTP calls ------------------------------------------------------------------ */

static void on_http_done(const ck_agent_llm_result_t *result, void *user)
{
    ck_agent_tool_run_t *tool = user;
    ck_agent_run_t *run = tool->run;
    tool->llm_call = NULL;
    long ms = (long)(now_ms() - tool->started_ms);
    char msg[600];
    if (!result->ok) {
        ck_agent_count_tool(run, tool->def->name, "error");
        snprintf(msg, sizeof msg, "the tool %s failed: %s", tool->def->name, result->error ? result->error : "error");
        ck_warn("agent: tool %s on thread %s failed after %ld ms: %s", tool->def->name, run->thread_id, ms,
                result->error ? result->error : "?");
        tool->output = error_json(msg);
    } else {
        json_t *body = json_loadb(result->raw, result->raw_len, JSON_DECODE_ANY, NULL);
        ck_agent_count_tool(run, tool->def->name, body != NULL ? "ok" : "error");
        if (body == NULL) {
            snprintf(msg, sizeof msg, "the tool %s answered with something that is not JSON", tool->def->name);
            tool->output = error_json(msg);
            ck_warn("agent: tool %s on thread %s answered HTTP %ld with %zu bytes of non-JSON after %ld ms",
                    tool->def->name, run->thread_id, result->http_status, result->raw_len, ms);
        } else {
            tool->output = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
            if (tool->output == NULL)
                tool->output = error_json("out of memory");
            ck_info("agent: tool %s on thread %s answered HTTP %ld, %zu bytes, in %ld ms", tool->def->name,
                    run->thread_id, result->http_status, result->raw_len, ms);
        }
        json_decref(body);
    }
    ck_agent_tool_finished(run);
}

/* POSTs the call; the output is set (error) when it cannot start. */
static void http_call(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const ck_tool_def_t *def, json_t *args)
{
    json_t *body = json_pack("{s:O,s:s,s:s,s:s}", "arguments", args, "user", run->user_id, "thread_id", run->thread_id,
                             "assistant", run->assistant ? run->assistant->id : "");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    ck_agent_llm_opts_t opts = {
        .url = def->url,
        .stream = 0,
        .connect_timeout_ms = def->timeout_ms,
        .first_token_timeout_ms = def->timeout_ms,
        .stall_timeout_ms = def->timeout_ms,
        .max_retries = 0,
        .raw_answer = 1,
        .max_body = CK_TOOL_ANSWER_MAX,
        .total_timeout_ms = def->timeout_ms,
        .headers = (const char *const *)def->headers,
        .request_id = run->request_id,
    };
    static const ck_agent_llm_callbacks_t cb = {NULL, on_http_done};
    tool->def = def;
    tool->started_ms = now_ms();
    tool->llm_call = text ? ck_agent_llm_post(run->agent->llm, &opts, text, &cb, tool) : NULL;
    if (tool->llm_call == NULL) {
        ck_warn("agent: tool %s on thread %s could not be started", def->name, run->thread_id);
        tool->output = error_json("the tool could not be called");
    }
    free(text);
}

int ck_agent_http_tool_start(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const char *name, const char *arguments)
{
    char msg[400], why[300];
    const ck_tool_def_t *def = ck_assistant_tool(run->assistant, name);
    if (def == NULL) {
        ck_agent_count_tool(run, "unknown", "error");
        ck_warn("agent: the model called tool %.64s, which assistant %s does not offer; not run", name ? name : "?",
                run->assistant ? run->assistant->id : "-");
        snprintf(msg, sizeof msg, "unknown tool %.64s: use only the tools you were given", name ? name : "");
        tool->output = error_json(msg);
        ck_agent_tool_finished(run);
        return run->cancelled ? -1 : 0;
    }
    json_t *args = json_loads(arguments && *arguments ? arguments : "{}", 0, NULL);
    if (args == NULL || ck_tool_args_check(def->parameters, args, why, sizeof why) < 0) {
        ck_agent_count_tool(run, def->name, "invalid_arguments");
        ck_info("agent: tool %s on thread %s: invalid arguments (%zu bytes): %s", def->name, run->thread_id,
                arguments ? strlen(arguments) : 0, args ? why : "not a JSON object");
        snprintf(msg, sizeof msg, "invalid arguments for %s: %s", def->name, args ? why : "not a JSON object");
        tool->output = error_json(msg);
        json_decref(args);
        ck_agent_tool_finished(run);
        return run->cancelled ? -1 : 0;
    }
    if (def->client) { /* valid client calls end the turn before this; an extra one in the round is refused */
        tool->output = error_json("call one client tool at a time");
        json_decref(args);
        ck_agent_tool_finished(run);
        return run->cancelled ? -1 : 0;
    }
    snprintf(msg, sizeof msg, "Calling %s", def->name);
    int rc = ck_agent_emit(run, ck_proto_ev_progress("bolt", msg));
    if (rc == 0)
        http_call(run, tool, def, args);
    json_decref(args);
    if (rc == 0 && tool->llm_call == NULL)
        ck_agent_tool_finished(run);
    return rc < 0 || run->cancelled ? -1 : 0;
}

/* --- client tools ------------------------------------------------------------------ */

int ck_agent_client_tool_args_ok(const ck_tool_def_t *def, const char *arguments)
{
    char why[300];
    json_t *args = json_loads(arguments && *arguments ? arguments : "{}", 0, NULL);
    int ok = args != NULL && ck_tool_args_check(def->parameters, args, why, sizeof why) == 0;
    json_decref(args);
    return ok;
}

int ck_agent_client_tool_call(ck_agent_run_t *run, const ck_tool_def_t *def, const char *call_id, const char *arguments)
{
    char id[CK_ID_MAX], now[CK_TIME_MAX];
    ck_proto_new_id("ctc", id);
    ck_proto_now(now);
    json_t *args = json_loads(arguments && *arguments ? arguments : "{}", 0, NULL);
    json_t *item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "id", id, "thread_id", run->thread_id, "created_at",
                             now, "type", "client_tool_call", "status", "pending", "call_id", call_id, "name",
                             def->name, "arguments", args ? args : json_object());
    ck_info("agent: thread %s ends its turn with client tool call %s (%zu bytes of arguments)", run->thread_id,
            def->name, arguments ? strlen(arguments) : 0);
    int rc = ck_agent_emit(run, item ? ck_proto_ev_item_done(item) : NULL);
    json_decref(item);
    return item == NULL ? 0 : rc;
}
