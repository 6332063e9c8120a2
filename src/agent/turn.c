/*
 * turn.c - the model loop of a run (see agent_internal.h for the states):
 * streamed model rounds, the `search` tool (parallel calls, results fed
 * back as `tool` messages), the max_turns stop, the final message with its
 * source annotations, and the thread title.
 *
 * Every request is assembled by the context builder (context.h) within
 * CHATKITD_CONTEXT_TOKENS; the first one logs the estimated tokens of each
 * part and, when it leaves earlier items out that no summary covers, the
 * stream carries the thread's one `notice` (store op context.notice).
 * With memory on, the tools `remember` and `forget` (memory.c) join `search`.
 *
 * The `search` tool is a fixed interface: function `search`, parameters
 * {"query": string, "limit"?: integer}; its output is exactly the JSON the
 * store op `search` returns: {"results":[{"id","title","source","score","text"}]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/metrics.h"
#include "protocol/events.h"
#include "agent/agent_internal.h"
#include "agent/context.h"
#include "agent/prompt.h"
#include "agent/tokens.h"
#include "store/ops_record.h"

static const char TITLE_PROMPT[] =
    "Write a title of 3 to 6 words for a conversation that starts with the user message below. "
    "Reply with the title only: no quotes, no trailing punctuation.";
static const char EMPTY_ANSWER[] = "The model returned an empty answer. Please try again.";
static const char TRIMMED_NOTICE[] = "Older messages of this conversation are no longer in the assistant's context.";

static void start_round(ck_agent_run_t *run);
static void maybe_title(ck_agent_run_t *run);

/* --- model calls ---------------------------------------------------------- */

static ck_agent_llm_opts_t llm_opts(const ck_agent_t *agent, int stream)
{
    const ck_agent_config_t *c = &agent->config;
    ck_agent_llm_opts_t opts = {
        .url = agent->completions_url,
        .api_key = c->api_key,
        .stream = stream,
        .connect_timeout_ms = c->connect_timeout_ms,
        .first_token_timeout_ms = c->first_token_timeout_ms,
        .stall_timeout_ms = c->stall_timeout_ms,
        .max_retries = stream ? c->max_retries : 0,
        .http = (ck_agent_http_t)c->upstream_http,
        .ca_file = c->upstream_ca_file,
    };
    return opts;
}

/* Posts `body` (consumed) to the model; 0 or -1 (nothing started). */
static int post(ck_agent_run_t *run, json_t *body, int stream, const ck_agent_llm_callbacks_t *cb)
{
    run->prompt_estimate =
        ck_tokens_messages(json_object_get(body, "messages")) + ck_tokens_tools(json_object_get(body, "tools"));
    run->round_estimate = 0;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    ck_agent_llm_opts_t opts = llm_opts(run->agent, stream);
    opts.request_id = run->request_id;
    run->llm_call = text ? ck_agent_llm_post(run->agent->llm, &opts, text, cb, run) : NULL;
    free(text);
    if (run->llm_call && run->paused)
        ck_agent_llm_pause(run->llm_call, 1);
    return run->llm_call ? 0 : -1;
}

static json_t *search_tool(void)
{
    return json_pack("{s:s,s:{s:s,s:s,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:s,s:i,s:i}},s:[s]}}}", "type", "function",
                     "function", "name", "search", "description",
                     "Search the documentation corpus. Returns the most relevant passages as JSON "
                     "{\"results\":[{\"id\",\"title\",\"source\",\"score\",\"text\"}]}.",
                     "parameters", "type", "object", "properties", "query", "type", "string", "description",
                     "What to look for, in a few words", "limit", "type", "integer", "description",
                     "How many passages to return (default 5)", "minimum", 1, "maximum", CK_AGENT_SEARCH_LIMIT_MAX,
                     "required", "query");
}

/* Counts one model call: chatkitd_model_requests_total, and for a success
 * chatkitd_model_tokens_total and the turn's figures, from the endpoint's
 * usage when `usage` is not NULL, else estimated (agent/tokens.h). */
static void count_model_call(ck_agent_run_t *run, int ok, const long *usage, size_t completion_estimate)
{
    ck_turn_stats_t *st = run->stats;
    st->model_requests++;
    st->model_failures += !ok;
    ck_metrics_inc(CK_M_MODEL_REQUESTS, CK_LABELS(run->model, ok ? "ok" : "error"));
    if (!ok)
        return;
    long prompt = usage ? usage[0] : (long)run->prompt_estimate;
    long completion = usage ? usage[1] : (long)completion_estimate;
    prompt = prompt > 0 ? prompt : 0;
    completion = completion > 0 ? completion : 0;
    st->prompt_tokens += prompt;
    st->completion_tokens += completion;
    ck_metrics_add(CK_M_MODEL_TOKENS, CK_LABELS(run->model, "prompt"), (uint64_t)prompt);
    ck_metrics_add(CK_M_MODEL_TOKENS, CK_LABELS(run->model, "completion"), (uint64_t)completion);
}

/* Counts a finished tool call (chatkitd_tool_calls_total) and records it
 * in the audit log (tool name and outcome, never its arguments). */
void ck_agent_count_tool(ck_agent_run_t *run, const char *tool, const char *outcome)
{
    char detail[96];
    const char *ids[] = {run->thread_id, NULL};
    run->stats->tool_calls++;
    ck_metrics_inc(CK_M_TOOL_CALLS, CK_LABELS(tool, outcome));
    snprintf(detail, sizeof detail, "%s: %s", tool, outcome);
    ck_store_audit(run->agent->store, run->user_id, run->request_id, CK_AUDIT_TOOL_CALL, ids, detail);
}

/* --- tools ------------------------------------------------------------------ */

static void tools_done(ck_agent_run_t *run)
{
    for (size_t i = 0; i < run->tool_count; i++)
        json_array_append_new(run->turn_messages, json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id",
                                                            run->tools[i].call_id, "content", run->tools[i].output));
    start_round(run);
}

/* One tool finished (its output is set). */
void ck_agent_tool_finished(ck_agent_run_t *run)
{
    if (--run->tools_pending == 0 && run->state == CK_RUN_TOOLS && !run->cancelled)
        tools_done(run);
}

static char *error_output(const char *message)
{
    json_t *o = json_pack("{s:s}", "error", message);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s ? s : strdup("{\"error\":\"tool failed\"}");
}

static void on_search(const ck_store_reply_t *reply, void *user)
{
    ck_agent_tool_run_t *tool = user;
    ck_agent_run_t *run = tool->run;
    tool->store_call = NULL;
    ck_agent_count_tool(run, "search", reply->ok ? "ok" : "error");
    if (reply->ok) {
        tool->output = strdup(reply->json);
        json_t *doc = json_loads(reply->json, 0, NULL);
        ck_agent_search_done(tool->started, doc);
        ck_agent_collect_sources(run, doc);
        json_decref(doc);
    } else {
        ck_agent_search_done(tool->started, NULL);
        char msg[300];
        snprintf(msg, sizeof(msg), "search failed: %s", reply->message ? reply->message : "unknown error");
        tool->output = error_output(msg);
    }
    ck_agent_tool_finished(run);
}

/* Starts one tool call; completes it at once (tool_finished) when it
 * cannot run.  Returns -1 when the run was cancelled meanwhile. */
static int start_tool(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const char *name, const char *arguments)
{
    json_t *args = arguments ? json_loads(arguments, 0, NULL) : json_object();
    const char *query = json_string_value(json_object_get(args, "query"));
    json_t *limit = json_object_get(args, "limit");
    json_int_t n = json_is_integer(limit) ? json_integer_value(limit) : CK_AGENT_SEARCH_LIMIT_DEFAULT;
    n = n < 1 ? 1 : n > CK_AGENT_SEARCH_LIMIT_MAX ? CK_AGENT_SEARCH_LIMIT_MAX : n;
    int rc = 0;
    tool->started = ck_metrics_now();
    if (name && run->agent->config.memory != CK_MEMORY_OFF && ck_agent_memory_is_tool(name)) {
        rc = ck_agent_memory_run_tool(run, tool, name, args);
        json_decref(args);
        return rc;
    }
    if (run->assistant != NULL && !ck_agent_search_allowed(run, name)) {
        json_decref(args);
        return ck_agent_http_tool_start(run, tool, name, arguments);
    }
    if (name == NULL || strcmp(name, "search") != 0) {
        tool->output = error_output(run->agent->config.memory != CK_MEMORY_OFF
                                        ? "unknown tool; the tools are `search`, `remember` and `forget`"
                                        : "unknown tool; the only tool is `search`");
        ck_agent_count_tool(run, "unknown", "error");
    } else if (query == NULL || *query == '\0') {
        tool->output = error_output("`search` needs a non-empty string argument `query`");
        ck_agent_count_tool(run, "search", "invalid_arguments");
    } else {
        json_t *text = json_sprintf("Searching: %s", query);
        rc = ck_agent_emit(run, ck_proto_ev_progress("search", json_string_value(text)));
        json_decref(text);
        json_t *params = json_pack("{s:s,s:I}", "query", query, "limit", n);
        if (params && run->assistant && run->assistant->sources)
            json_object_set_new(params, "sources", json_deep_copy(run->assistant->sources)); /* shared: copy */
        char *p = rc == 0 && params ? json_dumps(params, JSON_COMPACT) : NULL;
        json_decref(params);
        tool->store_call =
            p ? ck_store_op(run->agent->store, "search", run->user_id, p, strlen(p), on_search, tool) : NULL;
        free(p);
        if (rc == 0 && tool->store_call == NULL) {
            tool->output = error_output("search could not be started");
            ck_agent_count_tool(run, "search", "error");
        }
    }
    json_decref(args);
    if (rc == 0 && tool->output && tool->store_call == NULL)
        ck_agent_tool_finished(run);
    return rc;
}

static void run_tools(ck_agent_run_t *run, const ck_agent_sse_t *s, json_t *calls)
{
    run->state = CK_RUN_TOOLS;
    run->tools = calloc(s->tool_call_count, sizeof(*run->tools));
    if (run->tools == NULL) {
        ck_agent_fail(run, "out of memory");
        return;
    }
    run->tool_count = s->tool_call_count;
    run->tools_pending = s->tool_call_count + 1; /* +1: no completion counts as the last while launching */
    for (size_t i = 0; i < s->tool_call_count; i++) {
        const json_t *call = json_array_get(calls, i);
        run->tools[i].run = run;
        run->tools[i].call_id = strdup(json_string_value(json_object_get(call, "id")));
        run->tools[i].name = strdup(s->tool_calls[i].name ? s->tool_calls[i].name : "");
    }
    for (size_t i = 0; i < s->tool_call_count; i++)
        if (start_tool(run, &run->tools[i], s->tool_calls[i].name, s->tool_calls[i].arguments) < 0)
            return;
    ck_agent_tool_finished(run);
}

/* Frees the previous round's tool bookkeeping. */
static void clear_tools(ck_agent_run_t *run)
{
    for (size_t i = 0; i < run->tool_count; i++) {
        free(run->tools[i].call_id);
        free(run->tools[i].name);
        free(run->tools[i].output);
        free(run->tools[i].fact_id);
    }
    free(run->tools);
    run->tools = NULL;
    run->tool_count = run->tools_pending = 0;
}

/* The assistant message with `tool_calls` that goes back to the model. */
static json_t *assistant_tool_message(ck_agent_run_t *run, const ck_agent_sse_t *s)
{
    json_t *calls = json_array();
    for (size_t i = 0; i < s->tool_call_count; i++) {
        const ck_agent_tool_call_t *c = &s->tool_calls[i];
        json_t *id = c->id ? json_string(c->id) : json_sprintf("call_%zu_%d", i, run->rounds);
        json_array_append_new(calls,
                              json_pack("{s:o,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function", "name",
                                        c->name ? c->name : "", "arguments", c->arguments ? c->arguments : "{}"));
    }
    json_t *content = run->text.len ? json_stringn(run->text.p, run->text.len) : json_null();
    return json_pack("{s:s,s:o,s:o}", "role", "assistant", "content", content ? content : json_null(), "tool_calls",
                     calls);
}

static void on_tool_calls(ck_agent_run_t *run, const ck_agent_sse_t *s)
{
    json_t *msg = assistant_tool_message(run, s);
    json_array_append_new(run->turn_messages, msg);
    if (run->item && ck_agent_message_close(run, NULL) < 0)
        return;
    if (run->rounds >= run->agent->config.max_turns) {
        char text[200];
        snprintf(text, sizeof(text),
                 "I stopped after %d model round trips without reaching a final answer. "
                 "Please try a more specific question.",
                 run->rounds);
        if (ck_agent_message_text(run, text, strlen(text)) < 0 || ck_agent_message_close(run, run->annotations) < 0)
            return;
        maybe_title(run);
        return;
    }
    clear_tools(run);
    for (size_t i = 0; run->assistant && i < s->tool_call_count; i++) {
        const ck_tool_def_t *client = ck_agent_client_tool(run, s->tool_calls[i].name);
        if (client && ck_agent_client_tool_args_ok(client, s->tool_calls[i].arguments)) {
            /* the browser runs it: the turn ends here (other calls of the round are dropped) */
            const char *call_id =
                json_string_value(json_object_get(json_array_get(json_object_get(msg, "tool_calls"), i), "id"));
            if (ck_agent_client_tool_call(run, client, call_id ? call_id : "call", s->tool_calls[i].arguments) < 0)
                return;
            maybe_title(run);
            return;
        }
    }
    run_tools(run, s, json_object_get(msg, "tool_calls"));
}

/* --- model rounds ---------------------------------------------------------- */

static void on_model_text(const char *delta, size_t len, void *user)
{
    ck_agent_run_t *run = user;
    run->round_estimate += ck_tokens_text(delta, len);
    ck_agent_message_text(run, delta, len);
}

static void on_model_done(const ck_agent_llm_result_t *result, void *user)
{
    ck_agent_run_t *run = user;
    run->llm_call = NULL;
    const ck_agent_sse_t *s = result->stream;
    long usage[2] = {s->prompt_tokens, s->completion_tokens};
    size_t estimate = run->round_estimate;
    for (size_t i = 0; i < s->tool_call_count; i++)
        estimate += ck_tokens_str(s->tool_calls[i].name) +
                    ck_tokens_text(s->tool_calls[i].arguments ? s->tool_calls[i].arguments : "",
                                   s->tool_calls[i].arguments_len);
    count_model_call(run, result->ok, s->usage_seen ? usage : NULL, estimate);
    if (!result->ok) {
        ck_agent_fail(run, result->error);
        return;
    }
    run->rounds++;
    if (result->stream->tool_call_count > 0) {
        on_tool_calls(run, result->stream);
        return;
    }
    if (run->item == NULL && ck_agent_message_text(run, EMPTY_ANSWER, strlen(EMPTY_ANSWER)) < 0)
        return;
    maybe_title(run); /* closes the answer */
}

/* The request's tools: those the turn's assistant offers (ck_agent_tools_offered:
 * `search` without a registry), and the memory tools when memory is on and
 * the turn has tools at all (an assistant configured without tools stays
 * without; its facts still reach the system message). */
static json_t *request_tools(ck_agent_run_t *run)
{
    json_t *tools = ck_agent_tools_offered(run, search_tool);
    if (json_array_size(tools) > 0 && run->agent->config.memory != CK_MEMORY_OFF)
        ck_agent_memory_tools(tools);
    return tools;
}

/* 1 when the items the first request leaves out are covered by the summary. */
static int summary_covers(const ck_agent_run_t *run)
{
    if (run->summary == NULL || run->summary_item_id == NULL)
        return 0;
    for (size_t i = 0; i < json_array_size(run->history); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(run->history, i), "id"));
        if (id && strcmp(id, run->summary_item_id) == 0)
            return i + 1 >= run->history_first;
    }
    return run->history_first == 0; /* it covers older items than the window */
}

static void on_notice_saved(const ck_store_reply_t *reply, void *user)
{
    (void)user;
    if (!reply->ok)
        ck_warn("context: recording the notice failed: %s", reply->message ? reply->message : "?");
}

/* The first request: log its parts; the thread's one notice when earlier
 * items are left out without a summary.  Returns -1 when cancelled. */
static int first_request(ck_agent_run_t *run, const ck_agent_context_out_t *ctx)
{
    run->history_first = json_array_size(run->history) - ctx->history_sent;
    ck_info(
        "context: thread %s: %zu of %d tokens: system %zu, facts %zu, summary %zu, history %zu (%zu of %zu items%s), "
        "message %zu, tools %zu%s%s",
        run->thread_id, ctx->total, run->agent->config.context_tokens, ctx->system, ctx->facts, ctx->summary,
        ctx->history, ctx->history_sent, json_array_size(run->history), run->history_more ? ", older ones exist" : "",
        ctx->message, ctx->tools, ctx->summary_dropped ? ", summary left out" : "",
        ctx->facts_dropped ? ", facts left out" : "");
    int left_out = run->history_first > 0 || run->history_more;
    if (!left_out || run->notice_sent || summary_covers(run))
        return 0;
    run->notice_sent = 1;
    json_t *params = json_pack("{s:s}", "thread_id", run->thread_id);
    if (params != NULL && run->sink.on_record != NULL) {
        run->sink.on_record("context.notice", params, run->user);
        json_decref(params);
        return ck_agent_emit(run, ck_proto_ev_notice("info", TRIMMED_NOTICE, NULL));
    }
    char *p = params ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    if (p == NULL ||
        ck_store_op(run->agent->store, "context.notice", run->user_id, p, strlen(p), on_notice_saved, NULL) == NULL)
        ck_warn("context: cannot record the notice of thread %s", run->thread_id);
    free(p);
    return ck_agent_emit(run, ck_proto_ev_notice("info", TRIMMED_NOTICE, NULL));
}

static void start_round(ck_agent_run_t *run)
{
    static const ck_agent_llm_callbacks_t cb = {on_model_text, on_model_done};
    run->state = CK_RUN_MODEL;
    json_t *tools = request_tools(run);
    ck_agent_context_in_t in = {
        .system_prompt = run->assistant && run->assistant->instructions ? run->assistant->instructions
                                                                        : run->agent->config.system_prompt,
        .request_metadata = run->metadata,
        .facts = run->facts,
        .summary = run->summary,
        .history = run->history,
        .user_message = run->user_message,
        .attachments = run->attachments,
        .action = run->action,
        .sender_item = run->sender_item,
        .turn_messages = run->turn_messages,
        .tools_tokens = ck_tokens_tools(tools),
        .budget = (size_t)run->agent->config.context_tokens,
    };
    ck_agent_context_out_t ctx;
    if (tools == NULL || ck_agent_context_build(&in, &ctx) != 0) {
        json_decref(tools);
        ck_agent_fail(run, "cannot assemble the prompt");
        return;
    }
    if (ctx.over) {
        json_decref(tools);
        json_decref(ctx.messages);
        ck_warn("context: thread %s: the request needs about %zu tokens, more than CHATKITD_CONTEXT_TOKENS=%d",
                run->thread_id, ctx.total, run->agent->config.context_tokens);
        ck_agent_fail(run, "the request does not fit the context budget");
        return;
    }
    if (run->rounds == 0 && first_request(run, &ctx) < 0) {
        json_decref(tools);
        json_decref(ctx.messages);
        return;
    }
    if (ctx.shortened)
        ck_info("context: thread %s: %zu tool results or files shortened to fit the budget", run->thread_id,
                ctx.shortened);
    /* the messages go into the body (each round builds them again): a run
     * waiting for its answer keeps only the call's body text */
    json_t *body = json_pack("{s:s,s:o,s:b,s:{s:b}}", "model", run->model, "messages", ctx.messages, "stream", 1,
                             "stream_options", "include_usage", 1);
    if (body && json_array_size(tools) > 0)
        json_object_set(body, "tools", tools);
    json_decref(tools);
    if (body && run->rounds == 0 && run->force_search && ck_agent_search_allowed(run, "search"))
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", "search"));
    if (post(run, body, 1, &cb) < 0)
        ck_agent_fail(run, "cannot start the model call");
}

size_t ck_agent_message_tokens(const ck_agent_t *agent, const json_t *input, size_t *limit)
{
    *limit = (size_t)agent->config.context_tokens;
    json_t *tools = json_pack("[o]", search_tool());
    if (tools && agent->config.memory != CK_MEMORY_OFF)
        ck_agent_memory_tools(tools);
    json_t *system = json_pack("{s:s,s:s}", "role", "system", "content",
                               agent->config.system_prompt ? agent->config.system_prompt : "");
    size_t n = CK_TOKENS_PER_REQUEST + ck_tokens_tools(tools) + ck_tokens_message(system) + CK_TOKENS_PER_MESSAGE;
    size_t i;
    const json_t *part;
    json_array_foreach(json_object_get(input, "content"), i, part)
    {
        const json_t *text = json_object_get(part, "text");
        n += json_is_string(text) ? ck_tokens_text(json_string_value(text), json_string_length(text)) : 0;
    }
    const json_t *quoted = json_object_get(input, "quoted_text");
    if (json_is_string(quoted))
        n += ck_tokens_text(json_string_value(quoted), json_string_length(quoted));
    json_decref(tools);
    json_decref(system);
    return n;
}

void ck_agent_turn_start(ck_agent_run_t *run) { start_round(run); }

void ck_agent_after_turn(ck_agent_run_t *run)
{
    if (run->failed || run->rounds == 0)
        return; /* failed turns, retrieval-only turns, turns that never reached the model */
    ck_agent_summary_after_turn(run);
    ck_agent_memory_after_turn(run);
}

/* --- title ------------------------------------------------------------------ */

/* Cleans a model-written title in place: first line, no surrounding
 * quotes/asterisks/spaces, no trailing period, at most ~100 bytes. */
static void clean_title(char *t)
{
    static const char strip[] = " \t\r\n\"'*`#";
    t[strcspn(t, "\r\n")] = '\0';
    size_t start = strspn(t, strip);
    memmove(t, t + start, strlen(t + start) + 1);
    size_t len = strlen(t);
    if (len > 100) {
        for (len = 100; len > 0 && ((unsigned char)t[len] & 0xC0) == 0x80; len--)
            ;
    }
    while (len > 0 && (strchr(strip, t[len - 1]) || t[len - 1] == '.'))
        len--;
    t[len] = '\0';
}

static void on_title(const ck_agent_llm_result_t *result, void *user)
{
    ck_agent_run_t *run = user;
    run->llm_call = NULL;
    const json_t *msg = json_object_get(json_array_get(json_object_get(result->body, "choices"), 0), "message");
    const char *content = result->ok ? json_string_value(json_object_get(msg, "content")) : NULL;
    const json_t *u = json_object_get(result->body, "usage");
    long usage[2] = {(long)json_integer_value(json_object_get(u, "prompt_tokens")),
                     (long)json_integer_value(json_object_get(u, "completion_tokens"))};
    count_model_call(run, result->ok, json_is_object(u) ? usage : NULL, ck_tokens_str(content));
    char *title = content ? strdup(content) : NULL;
    if (title)
        clean_title(title);
    if (run->item != NULL && ck_agent_message_close(run, run->annotations) < 0) {
        free(title);
        return;
    }
    if (title && *title) {
        json_t *changes = json_pack("{s:s}", "title", title);
        if (changes)
            run->sink.on_thread_changed(changes, run->user);
        json_decref(changes);
    } else {
        ck_debug("agent: title call failed (%s); using the first words", result->error ? result->error : "empty");
        ck_agent_title_from_words(run);
    }
    free(title);
    ck_agent_finish(run);
}

/* Closes the answer still open (the final one), then ends the run. */
static void end_answer(ck_agent_run_t *run)
{
    if (run->item != NULL && ck_agent_message_close(run, run->annotations) < 0)
        return;
    ck_agent_finish(run);
}

/* The end of a turn: a thread without a title gets one (a non-streamed
 * model call, else the first words of the message).  An answer still open
 * is closed when the title is known, right before it, so that the caller
 * writes the answer and the title together (one write, src/http/stream_turn.c);
 * its text is on the client already. */
static void maybe_title(ck_agent_run_t *run)
{
    static const ck_agent_llm_callbacks_t cb = {NULL, on_title};
    if (run->has_title || run->user_message == NULL) {
        end_answer(run);
        return;
    }
    run->state = CK_RUN_TITLING;
    char *text = ck_agent_user_text(run->user_message);
    if (text && strlen(text) > 2000)
        text[2000] = '\0';
    json_t *user_text = text ? json_string(text) : NULL; /* NULL when the cut split a character */
    free(text);
    json_t *body = user_text ? json_pack("{s:s,s:[{s:s,s:s},{s:s,s:o}],s:b,s:i}", "model", run->model, "messages",
                                         "role", "system", "content", TITLE_PROMPT, "role", "user", "content",
                                         user_text, "stream", 0, "max_tokens", 24)
                             : NULL;
    if (post(run, body, 0, &cb) < 0) {
        if (run->item != NULL && ck_agent_message_close(run, run->annotations) < 0)
            return;
        ck_agent_title_from_words(run);
        ck_agent_finish(run);
    }
}
