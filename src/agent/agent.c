/*
 * agent.c - ck_agent_t lifecycle, configuration from the environment, and
 * the parts of a run shared by the model loop (turn.c) and the no-model
 * mode (retrieval.c): loading history and attachments, emitting events,
 * streaming the assistant message, sources, cancellation and the end of a
 * run.  See agent.h for the contract and agent_internal.h for the states.
 */
#include "agent/agent_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/file.h"
#include "base/log.h"
#include "base/metrics.h"
#include "protocol/events.h"
#include "agent/prompt.h"

static const char DEFAULT_SYSTEM_PROMPT[] =
    "You are a helpful assistant embedded in a website. Answer concisely in Markdown. "
    "When a question may be answered by the documentation, call the `search` tool first and base "
    "your answer on what it returns; say plainly when the documentation does not cover something. "
    "Never invent links or sources.";

/* --- configuration ------------------------------------------------------- */

/* The contents of the system prompt file (blocking; start-up only; at most
 * 1 MiB), or NULL with errno set when it cannot be read or is empty.
 * Caller frees. */
static char *read_prompt_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t len = 0;
    char *text = ck_file_read_all(f, 1u << 20, &len);
    fclose(f);
    if (text != NULL && len == 0) {
        free(text);
        text = NULL;
        errno = ENODATA; /* an empty file */
    }
    return text;
}

/* The index of `name`'s value in `values` (NULL-terminated; the table has
 * already refused any other value), or `fallback` when it is unset. */
static int env_choice(const char *name, const char *const *values, int fallback)
{
    const char *v = ck_env_str(name);
    for (int i = 0; v != NULL && values[i]; i++)
        if (strcmp(v, values[i]) == 0)
            return i;
    return fallback;
}

int ck_agent_config_from_env(ck_agent_config_t *config)
{
    static char *prompt_file_text; /* read once; lives for the process */
    memset(config, 0, sizeof(*config));
    config->api_key = ck_env_str("OPENAI_API_KEY");
    config->retrieval_only = !ck_env_is_set("OPENAI_BASE_URL") && config->api_key == NULL;
    config->base_url = ck_env_str("OPENAI_BASE_URL");
    config->model = ck_env_str("CHATKITD_MODEL");
    const char *prompt_path = ck_env_str("CHATKITD_SYSTEM_PROMPT_FILE");
    if (prompt_path && prompt_file_text == NULL) {
        prompt_file_text = read_prompt_file(prompt_path);
        if (prompt_file_text == NULL) {
            ck_error("config: cannot read CHATKITD_SYSTEM_PROMPT_FILE=%s: %s", prompt_path, strerror(errno));
            return -1;
        }
    }
    config->system_prompt = prompt_file_text ? prompt_file_text : DEFAULT_SYSTEM_PROMPT;
    config->allow_model_override = ck_env_bool("CHATKITD_ALLOW_MODEL_OVERRIDE");
    config->assistants = ck_assistants_get();
    config->max_turns = (int)ck_env_int("CHATKITD_MAX_TURNS");
    config->connect_timeout_ms = (int)ck_env_int("CHATKITD_UPSTREAM_CONNECT_TIMEOUT_MS");
    config->first_token_timeout_ms = (int)ck_env_int("CHATKITD_UPSTREAM_FIRST_TOKEN_TIMEOUT_MS");
    config->stall_timeout_ms = (int)ck_env_int("CHATKITD_UPSTREAM_STALL_TIMEOUT_MS");
    config->max_retries = (int)ck_env_int("CHATKITD_UPSTREAM_RETRIES");
    static const char *const http_versions[] = {"auto", "http1.1", NULL}; /* ck_agent_http_t order */
    config->upstream_http = env_choice("CHATKITD_UPSTREAM_HTTP", http_versions, CK_AGENT_HTTP_AUTO);
    config->upstream_max_streams = (int)ck_env_int("CHATKITD_UPSTREAM_MAX_STREAMS");
    config->upstream_ca_file = ck_env_str("CHATKITD_UPSTREAM_CA_FILE");
    config->transcribe_model = ck_env_str("CHATKITD_TRANSCRIBE_MODEL");
    static const char *const on_off[] = {"off", "on", NULL};
    static const char *const modes[] = {"off", "tool", "auto", NULL};
    int with_model = !config->retrieval_only;
    config->summary = env_choice("CHATKITD_SUMMARY", on_off, with_model) > 0;
    int memory = env_choice("CHATKITD_MEMORY", modes, with_model ? CK_MEMORY_TOOL : CK_MEMORY_OFF);
    config->memory = memory > 0 ? (ck_agent_memory_mode_t)memory : CK_MEMORY_OFF;
    config->redact_pii = strcmp(ck_env_str("CHATKITD_REDACT_PII"), "on") == 0;
    config->context_tokens = (int)ck_env_int("CHATKITD_CONTEXT_TOKENS");
    config->memory_max_facts = (int)ck_env_int("CHATKITD_MEMORY_MAX_FACTS");
    return 0;
}

/* --- agent ------------------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* `base` without trailing slashes, then `path`.  Caller frees; NULL on OOM. */
static char *endpoint_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    size_t size = n + strlen(path) + 1;
    char *url = malloc(size);
    if (url)
        snprintf(url, size, "%.*s%s", (int)n, base, path);
    return url;
}

ck_agent_t *ck_agent_create(ck_loop_t *loop, ck_store_t *store, const ck_agent_config_t *config)
{
    ck_agent_t *agent = calloc(1, sizeof(*agent));
    if (agent == NULL)
        return NULL;
    agent->loop = loop;
    agent->store = store;
    agent->config = *config;
    agent->config.base_url = dup_or_null(config->base_url ? config->base_url : "https://api.openai.com/v1");
    agent->config.api_key = dup_or_null(config->api_key);
    agent->config.model = dup_or_null(config->model ? config->model : "gpt-4o-mini");
    agent->config.system_prompt = dup_or_null(config->system_prompt ? config->system_prompt : DEFAULT_SYSTEM_PROMPT);
    agent->config.transcribe_model = dup_or_null(config->transcribe_model ? config->transcribe_model : "whisper-1");
    agent->config.upstream_ca_file = dup_or_null(config->upstream_ca_file);
    if (agent->config.max_turns < 1)
        agent->config.max_turns = 10;
    if (agent->config.context_tokens < 1)
        agent->config.context_tokens = 6000;
    if (agent->config.memory_max_facts < 1)
        agent->config.memory_max_facts = 50;
    if (agent->config.base_url) {
        agent->completions_url = endpoint_url(agent->config.base_url, "/chat/completions");
        agent->transcriptions_url = endpoint_url(agent->config.base_url, "/audio/transcriptions");
    }
    agent->llm = ck_agent_llm_new(loop);
    if (agent->llm != NULL)
        ck_agent_llm_set_max_streams(agent->llm, agent->config.upstream_max_streams);
    if (agent->llm == NULL || agent->completions_url == NULL || agent->transcriptions_url == NULL ||
        agent->config.transcribe_model == NULL || (config->upstream_ca_file && !agent->config.upstream_ca_file)) {
        ck_agent_destroy(agent);
        return NULL;
    }
    return agent;
}

void ck_agent_destroy(ck_agent_t *agent)
{
    if (agent == NULL)
        return;
    while (agent->jobs)
        ck_agent_job_end(agent->jobs);
    ck_agent_llm_free(agent->llm);
    free((char *)agent->config.base_url);
    free((char *)agent->config.api_key);
    free((char *)agent->config.model);
    free((char *)agent->config.system_prompt);
    free((char *)agent->config.transcribe_model);
    free((char *)agent->config.upstream_ca_file);
    free(agent->completions_url);
    free(agent->transcriptions_url);
    free(agent);
}

/* --- background jobs ---------------------------------------------------------- */

static void on_job_answer(const ck_agent_llm_result_t *result, void *user)
{
    ck_agent_job_t *job = user;
    job->llm_call = NULL;
    const json_t *msg = json_object_get(json_array_get(json_object_get(result->body, "choices"), 0), "message");
    const char *content = result->ok ? json_string_value(json_object_get(msg, "content")) : NULL;
    if (!result->ok)
        ck_warn("agent: background call for thread %s failed: %s", job->thread_id, result->error ? result->error : "?");
    job->on_answer(job, content);
}

void ck_agent_job_start(const ck_agent_run_t *run, json_t *body,
                        void (*on_answer)(ck_agent_job_t *job, const char *content), ck_agent_job_t **out)
{
    ck_agent_t *agent = run->agent;
    const char *thread_id = run->thread_id;
    static const ck_agent_llm_callbacks_t cb = {NULL, on_job_answer};
    if (out)
        *out = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    ck_agent_job_t *job = text ? calloc(1, sizeof *job) : NULL;
    if (job == NULL) {
        free(text);
        ck_warn("agent: cannot start a background call for thread %s", thread_id);
        return;
    }
    job->agent = agent;
    job->user_id = strdup(run->user_id);
    job->thread_id = strdup(thread_id);
    job->request_id = strdup(run->request_id ? run->request_id : "");
    job->on_answer = on_answer;
    const ck_agent_config_t *c = &agent->config;
    ck_agent_llm_opts_t opts = {
        .url = agent->completions_url,
        .api_key = c->api_key,
        .stream = 0,
        .connect_timeout_ms = c->connect_timeout_ms,
        .first_token_timeout_ms = c->first_token_timeout_ms,
        .stall_timeout_ms = c->stall_timeout_ms,
        .max_retries = 1,
        .request_id = job->request_id,
        .http = (ck_agent_http_t)c->upstream_http,
        .ca_file = c->upstream_ca_file,
    };
    job->llm_call = ck_agent_llm_post(agent->llm, &opts, text, &cb, job);
    free(text);
    job->next = 0;
    job->prev = NULL;
    job->next_job = agent->jobs;
    if (agent->jobs)
        agent->jobs->prev = job;
    agent->jobs = job;
    if (job->llm_call == NULL || job->user_id == NULL || job->thread_id == NULL || job->request_id == NULL) {
        ck_warn("agent: cannot start a background call for thread %s", thread_id);
        ck_agent_job_end(job);
        return;
    }
    if (out)
        *out = job;
}

void ck_agent_job_end(ck_agent_job_t *job)
{
    ck_agent_t *agent = job->agent;
    if (job->prev)
        job->prev->next_job = job->next_job;
    else
        agent->jobs = job->next_job;
    if (job->next_job)
        job->next_job->prev = job->prev;
    ck_agent_llm_cancel(job->llm_call);
    if (job->store_call)
        ck_store_cancel(job->store_call);
    free(job->user_id);
    free(job->thread_id);
    free(job->request_id);
    free(job->item_id);
    json_decref(job->pending);
    free(job);
}

/* --- run lifetime ----------------------------------------------------------- */

static void run_free(ck_agent_run_t *run)
{
    for (size_t i = 0; i < run->tool_count; i++) {
        free(run->tools[i].call_id);
        free(run->tools[i].name);
        free(run->tools[i].output);
        free(run->tools[i].fact_id);
    }
    free(run->tools);
    free(run->summary);
    free(run->summary_item_id);
    json_decref(run->facts);
    json_decref(run->turn_messages);
    free(run->user_id);
    free(run->request_id);
    free(run->thread_id);
    free(run->model);
    free(run->text.p);
    json_decref(run->user_message);
    json_decref(run->metadata);
    json_decref(run->action);
    json_decref(run->sender_item);
    json_decref(run->context);
    json_decref(run->history);
    json_decref(run->attachments);
    free(run->item);
    json_decref(run->annotations);
    json_decref(run->seen_sources);
    json_decref(run->thread_metadata);
    if (run->reaper)
        ck_timer_free(run->reaper);
    if (run->starter)
        ck_timer_free(run->starter);
    if (run->read.retry)
        ck_timer_free(run->read.retry);
    free(run->read.params);
    free(run);
}

static void on_reaper(ck_timer_t *timer, void *user)
{
    (void)timer;
    run_free(user);
}

/* Cancels every pending store and model call of the run. */
static void abort_calls(ck_agent_run_t *run)
{
    if (run->store_call) {
        ck_store_cancel(run->store_call);
        run->store_call = NULL;
    }
    if (run->read.retry)
        ck_timer_cancel(run->read.retry);
    for (size_t i = 0; i < run->tool_count; i++) {
        if (run->tools[i].store_call) {
            ck_store_cancel(run->tools[i].store_call);
            run->tools[i].store_call = NULL;
        }
        ck_agent_llm_cancel(run->tools[i].llm_call);
        run->tools[i].llm_call = NULL;
    }
    ck_agent_llm_cancel(run->llm_call);
    run->llm_call = NULL;
}

void ck_agent_cancel(ck_agent_run_t *run)
{
    if (run == NULL || run->cancelled || run->finished)
        return;
    run->cancelled = 1;
    abort_calls(run);
    ck_timer_arm(run->reaper, 0); /* we may be inside one of our own callbacks */
}

void ck_agent_pause(ck_agent_run_t *run, int paused)
{
    if (run == NULL || run->cancelled || run->finished)
        return;
    run->paused = !!paused;
    ck_agent_llm_pause(run->llm_call, run->paused);
}

int ck_agent_emit(ck_agent_run_t *run, json_t *event)
{
    if (run->cancelled || event == NULL) {
        json_decref(event);
        return -1;
    }
    run->sink.on_event(event, run->user);
    return run->cancelled ? -1 : 0;
}

void ck_agent_finish(ck_agent_run_t *run)
{
    if (run->cancelled)
        return;
    run->finished = 1;
    run->state = CK_RUN_FINISHED;
    abort_calls(run);
    run->sink.on_finish(run->user);
    ck_timer_cancel(run->reaper);
    ck_agent_after_turn(run); /* background jobs: the stream is done already */
    run_free(run);
}

void ck_agent_fail(ck_agent_run_t *run, const char *why)
{
    const char *scope = ck_log_scope_enter(run->request_id);
    ck_warn("agent: turn on thread %s failed: %s", run->thread_id, why);
    run->failed = 1;
    ck_log_scope_leave(scope);
    if (ck_agent_emit(run, ck_proto_ev_error("stream.error", CK_AGENT_FAIL_MESSAGE, 1)) < 0)
        return;
    ck_agent_finish(run);
}

static void on_read_reply(const ck_store_reply_t *reply, void *user);

/* Sends the read kept in run->read (again).  Tail call. */
static void read_send(ck_agent_run_t *run)
{
    run->store_call = ck_store_op(run->agent->store, run->read.op, run->user_id, run->read.params,
                                  strlen(run->read.params), on_read_reply, run);
    if (run->store_call == NULL) {
        char why[128];
        snprintf(why, sizeof why, "cannot start %s", run->read.what);
        ck_agent_fail(run, why);
    }
}

static void on_read_retry(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_run_t *run = user;
    if (!run->cancelled && !run->finished)
        read_send(run);
}

/* The reads of a run (history, attachments, search) change nothing, so one
 * that lost its connection (503) is simply made again on the next one, for
 * up to CK_AGENT_READ_RETRY_MS, before the turn fails. */
static void on_read_reply(const ck_store_reply_t *reply, void *user)
{
    ck_agent_run_t *run = user;
    uint64_t now = ck_loop_now_ms(run->agent->loop);
    if (!reply->ok && reply->http_status == 503) {
        if (run->read.since == 0)
            run->read.since = now;
        if (now - run->read.since < CK_AGENT_READ_RETRY_MS &&
            (run->read.retry != NULL ||
             (run->read.retry = ck_timer_new(run->agent->loop, on_read_retry, run)) != NULL)) {
            run->store_call = NULL;
            ck_debug("agent: retrying %s on thread %s", run->read.what, run->thread_id);
            ck_timer_arm(run->read.retry, 100);
            return;
        }
    }
    run->read.cb(reply, run);
}

void ck_agent_store_start(ck_agent_run_t *run, const char *op, json_t *params, ck_store_cb cb, const char *what)
{
    free(run->read.params);
    run->read.params = params ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    run->read.op = op;
    run->read.cb = cb;
    run->read.what = what;
    run->read.since = 0;
    if (run->read.params == NULL) {
        char why[128];
        snprintf(why, sizeof why, "cannot start %s", what);
        ck_agent_fail(run, why);
        return;
    }
    read_send(run);
}

json_t *ck_agent_reply_doc(ck_agent_run_t *run, const ck_store_reply_t *reply, const char *op)
{
    run->store_call = NULL;
    json_t *doc = reply->ok ? json_loads(reply->json, 0, NULL) : NULL;
    if (doc == NULL) {
        char why[128];
        snprintf(why, sizeof why, "%s returned bad JSON", op);
        ck_agent_fail(run, reply->ok ? why : reply->message);
    }
    return doc;
}

/* --- the streamed assistant message --------------------------------------- */

/* Starts the streamed assistant message (added + content_part.added).  The
 * run keeps only its id and creation time while it streams (the pipeline
 * keeps the pending item); message_close builds the done item again. */
static int message_open(ck_agent_run_t *run)
{
    if (run->item)
        return 0;
    json_t *item = ck_proto_assistant_message_new(run->thread_id, NULL);
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *created = json_string_value(json_object_get(item, "created_at"));
    run->item = strdup(id ? id : "");
    snprintf(run->item_created_at, sizeof run->item_created_at, "%s", created ? created : "");
    run->text.len = 0;
    int rc = run->item != NULL ? ck_agent_emit(run, ck_proto_ev_item_added(item)) : -1;
    json_decref(item);
    if (rc < 0)
        return -1;
    return ck_agent_emit(run, ck_proto_ev_item_updated(run->item, ck_proto_upd_content_part_added(0, "")));
}

int ck_agent_message_text(ck_agent_run_t *run, const char *delta, size_t len)
{
    if (message_open(run) < 0)
        return -1;
    ck_strbuf_add(&run->text, delta, len);
    if (run->text.failed)
        return -1;
    json_t *d = json_stringn(delta, len);
    int rc = d ? ck_agent_emit(run, ck_proto_ev_item_updated(run->item, ck_proto_upd_text_delta(0, json_string_value(d))))
               : 0;
    json_decref(d);
    return rc;
}

int ck_agent_message_close(ck_agent_run_t *run, const json_t *annotations)
{
    if (message_open(run) < 0)
        return -1;
    const char *text = run->text.len ? run->text.p : "";
    char *id = run->item;
    run->item = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(annotations); i++)
        rc = ck_agent_emit(run, ck_proto_ev_item_updated(
                                    id, ck_proto_upd_annotation_added(0, (int)i, json_array_get(annotations, i))));
    if (rc == 0)
        rc = ck_agent_emit(run, ck_proto_ev_item_updated(id, ck_proto_upd_content_part_done(0, text, annotations)));
    if (rc == 0) {
        json_t *item = ck_proto_assistant_message_new(run->thread_id, id);
        json_object_set_new(item, "created_at", json_string(run->item_created_at));
        json_object_set_new(item, "content", json_pack("[o]", ck_proto_output_text(text, annotations)));
        rc = ck_agent_emit(run, ck_proto_ev_item_done(item));
        json_decref(item);
    }
    free(id);
    run->text.len = 0;
    return rc;
}

/* --- sources ------------------------------------------------------------------ */

static json_t *annotation_for(const char *source, const char *title)
{
    int is_url = strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0;
    json_t *src = is_url ? json_pack("{s:s,s:s,s:s}", "title", title, "type", "url", "url", source)
                         : json_pack("{s:s,s:s,s:s}", "title", title, "type", "file", "filename", source);
    return json_pack("{s:s,s:o}", "type", "annotation", "source", src);
}

void ck_agent_search_done(double started, const json_t *doc)
{
    double secs = ck_metrics_now() - started;
    double ms = secs * 1000.0;
    ck_metrics_observe(CK_M_SEARCH_DURATION, NULL, secs);
    if (doc == NULL) {
        ck_warn("search: failed after %.1f ms", ms);
        return;
    }
    size_t n = json_array_size(json_object_get(doc, "results"));
    ck_info("search: %.1f ms, %zu result%s", ms, n, n == 1 ? "" : "s");
}

void ck_agent_collect_sources(ck_agent_run_t *run, const json_t *search_result)
{
    const json_t *results = json_object_get(search_result, "results");
    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *r = json_array_get(results, i);
        const char *source = json_string_value(json_object_get(r, "source"));
        const char *title = json_string_value(json_object_get(r, "title"));
        if (source == NULL || *source == '\0' || json_object_get(run->seen_sources, source) ||
            json_array_size(run->annotations) >= CK_AGENT_MAX_ANNOTATIONS)
            continue;
        json_object_set_new(run->seen_sources, source, json_true());
        json_array_append_new(run->annotations, annotation_for(source, title && *title ? title : source));
    }
}

/* --- title ---------------------------------------------------------------------- */

/* Copies the first `max_words` whitespace-separated words of `text`,
 * joined by single spaces, into `out` (cap bytes, NUL-terminated); a first
 * word longer than the buffer is cut on a UTF-8 boundary.  Returns the length. */
static size_t first_words(const char *text, int max_words, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = text;
    for (int words = 0; words < max_words; words++) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0)
            break;
        if (len + n + 1 >= cap) {
            if (len == 0) {
                for (n = cap - 1; n > 0 && ((unsigned char)start[n] & 0xC0) == 0x80; n--)
                    ;
                memcpy(out, start, n);
                len = n;
            }
            break;
        }
        if (len)
            out[len++] = ' ';
        memcpy(out + len, start, n);
        len += n;
    }
    out[len] = '\0';
    return len;
}

void ck_agent_title_from_words(ck_agent_run_t *run)
{
    char *text = ck_agent_user_text(run->user_message);
    char title[100];
    size_t len = text ? first_words(text, 6, title, sizeof(title)) : 0;
    free(text);
    if (len == 0)
        return;
    json_t *changes = json_pack("{s:s}", "title", title);
    if (changes)
        run->sink.on_thread_changed(changes, run->user);
    json_decref(changes);
    run->has_title = 1;
}

/* --- loading -------------------------------------------------------------------- */

static void on_attachments(const ck_store_reply_t *reply, void *user)
{
    ck_agent_run_t *run = user;
    json_t *doc = ck_agent_reply_doc(run, reply, "attachments.load");
    if (doc == NULL)
        return;
    run->attachments = json_incref(json_object_get(doc, "attachments"));
    json_decref(doc);
    ck_agent_turn_start(run);
}

static void load_attachments(ck_agent_run_t *run)
{
    const json_t *atts = json_object_get(run->user_message, "attachments");
    if (json_array_size(atts) == 0) {
        ck_agent_turn_start(run);
        return;
    }
    json_t *ids = json_array();
    for (size_t i = 0; i < json_array_size(atts); i++) {
        json_t *id = json_object_get(json_array_get(atts, i), "id");
        if (json_is_string(id))
            json_array_append(ids, id);
    }
    json_t *params = json_pack("{s:o}", "attachment_ids", ids);
    ck_agent_store_start(run, "attachments.load", params, on_attachments, "attachments.load");
}

static char *dup_str(const json_t *v) { return json_is_string(v) ? strdup(json_string_value(v)) : NULL; }

/* context.load's answer: the history window (one more item than the
 * window, to know whether older ones exist), the summary, the notice flag,
 * the facts.  Then the attachments. */
static void use_context(ck_agent_run_t *run, json_t *doc)
{
    json_t *items = json_object_get(doc, "items");
    json_decref(run->history);
    run->history = json_is_array(items) ? json_incref(items) : json_array();
    run->history_more = json_array_size(run->history) > CK_AGENT_HISTORY_LIMIT;
    while (json_array_size(run->history) > CK_AGENT_HISTORY_LIMIT)
        json_array_remove(run->history, 0);
    const json_t *summary = json_object_get(doc, "summary");
    run->summary = dup_str(json_object_get(summary, "text"));
    run->summary_item_id = dup_str(json_object_get(summary, "item_id"));
    run->notice_sent = json_is_true(json_object_get(doc, "notice_sent"));
    json_t *facts = json_object_get(doc, "facts");
    run->facts = json_is_array(facts) ? json_incref(facts) : NULL;
    json_decref(doc);
    load_attachments(run);
}

static void on_context(const ck_store_reply_t *reply, void *user)
{
    ck_agent_run_t *run = user;
    json_t *doc = ck_agent_reply_doc(run, reply, "context.load");
    if (doc != NULL)
        use_context(run, doc);
}

json_t *ck_agent_context_request(const ck_agent_t *agent)
{
    if (agent == NULL || agent->config.retrieval_only)
        return NULL;
    return json_pack("{s:i,s:b}", "limit", CK_AGENT_HISTORY_LIMIT + 1, "facts", agent->config.memory != CK_MEMORY_OFF);
}

/* The history and the rest of the context: from the caller's pre-flight
 * answer when it has one (no round trip), else one context.load. */
static void load_history(ck_agent_run_t *run)
{
    if (run->context != NULL) {
        json_t *doc = run->context;
        run->context = NULL;
        use_context(run, doc);
        return;
    }
    json_t *params = json_pack("{s:s,s:i,s:b}", "thread_id", run->thread_id, "limit", CK_AGENT_HISTORY_LIMIT + 1,
                               "facts", run->agent->config.memory != CK_MEMORY_OFF);
    const char *before = json_string_value(json_object_get(run->user_message, "id"));
    if (before)
        json_object_set_new(params, "before_item_id", json_string(before));
    ck_agent_store_start(run, "context.load", params, on_context, "the history query");
}

/* Copies what the run needs from `turn` (borrowed only during respond). */
static int copy_turn(ck_agent_run_t *run, const ck_turn_t *turn)
{
    const char *thread_id = json_string_value(json_object_get(turn->thread, "id"));
    const char *title = json_string_value(json_object_get(turn->thread, "title"));
    run->user_id = strdup(turn->user_id ? turn->user_id : "");
    run->request_id = strdup(turn->request_id ? turn->request_id : "");
    run->stats = turn->stats != NULL ? turn->stats : &run->own_stats;
    run->thread_id = strdup(thread_id ? thread_id : "");
    run->has_title = title != NULL && *title != '\0';
    /* referenced, not copied: the run only reads it, and the caller lets go of
     * its own reference (an open stream then holds one user message, not two) */
    run->user_message = turn->user_message ? json_incref((json_t *)turn->user_message) : NULL;
    run->metadata = json_is_object(turn->request_metadata) ? json_deep_copy(turn->request_metadata) : NULL;
    run->action = json_is_object(turn->action) ? json_deep_copy(turn->action) : NULL;
    run->sender_item = json_is_object(turn->sender_item) ? json_deep_copy(turn->sender_item) : NULL;
    const json_t *metadata = json_object_get(turn->thread, "metadata");
    run->thread_metadata = json_is_object(metadata) ? json_deep_copy(metadata) : NULL;
    run->context = json_is_object(turn->context) ? json_deep_copy(turn->context) : NULL;
    run->history = json_array();
    run->turn_messages = json_array();
    run->annotations = json_array();
    run->seen_sources = json_object();
    const json_t *options = json_object_get(run->user_message, "inference_options");
    const char *override = json_string_value(json_object_get(options, "model"));
    int use_override = run->agent->config.allow_model_override && override && *override && strlen(override) < 128;
    run->model = strdup(use_override ? override : run->agent->config.model);
    snprintf(run->stats->assistant, sizeof run->stats->assistant, "default");
    snprintf(run->stats->model, sizeof run->stats->model, "%s",
             run->agent->config.retrieval_only ? "retrieval-only"
             : run->model                      ? run->model
                                               : "");
    const char *tool = json_string_value(json_object_get(json_object_get(options, "tool_choice"), "id"));
    run->force_search = tool != NULL && strcmp(tool, "search") == 0;
    return run->user_id && run->request_id && run->thread_id && run->model && run->history && run->turn_messages &&
                   run->annotations && run->seen_sources
               ? 0
               : -1;
}

/* The first step of a run, on the loop's next tick (never from inside
 * ck_agent_respond, so the caller holds the handle before any sink call). */
static void on_start(ck_timer_t *timer, void *user)
{
    (void)timer;
    ck_agent_run_t *run = user;
    if (run->cancelled)
        return;
    const char *scope = ck_log_scope_enter(run->request_id); /* inherited by the store and model calls */
    if (run->agent->config.assistants)
        ck_agent_choose(run);
    else
        ck_agent_begin(run);
    ck_log_scope_leave(scope);
}

void ck_agent_begin(ck_agent_run_t *run)
{
    if (run->agent->config.retrieval_only)
        ck_agent_retrieval_start(run);
    else
        load_history(run);
}

int ck_agent_model_allowed(const ck_agent_t *agent, const char *model)
{
    if (agent == NULL || agent->config.assistants == NULL)
        return 1;
    return ck_assistants_model_allowed(agent->config.assistants, model, agent->config.allow_model_override);
}

ck_agent_run_t *ck_agent_respond(ck_agent_t *agent, const ck_turn_t *turn, const ck_agent_sink_t *sink, void *user)
{
    ck_agent_run_t *run = calloc(1, sizeof(*run));
    if (run == NULL)
        return NULL;
    run->agent = agent;
    run->sink = *sink;
    run->user = user;
    run->state = CK_RUN_LOADING;
    run->reaper = ck_timer_new(agent->loop, on_reaper, run);
    run->starter = ck_timer_new(agent->loop, on_start, run);
    if (run->reaper == NULL || run->starter == NULL || copy_turn(run, turn) < 0) {
        run_free(run);
        return NULL;
    }
    ck_timer_arm(run->starter, 0);
    return run;
}
