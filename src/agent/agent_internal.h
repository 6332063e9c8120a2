/*
 * agent_internal.h - the state shared by the files of src/agent that
 * implement ck_agent_respond(): agent.c (lifecycle, loading, emitting),
 * turn.c (model rounds, tools, title) and retrieval.c (no-model mode).
 * Not for use outside src/agent.
 *
 * Run states:
 *
 *   LOADING (store: context.load = history + summary + facts, unless the
 *            caller's pre-flight op answered it (ck_turn_t.context); then attachments.load)
 *      |-- retrieval only --> SEARCHING (store: search) --> FINISHED
 *      v
 *   MODEL (streamed call) --tool calls--> TOOLS (store: search, in parallel)
 *      |   ^------------------------------------'
 *      v final answer / max_turns
 *   TITLING (optional non-streamed call) --> FINISHED
 *      then, detached from the run (the stream is already done): background
 *      jobs (summary.c: the rolling summary; memory.c: fact extraction)
 *
 * Cancellation may come at any time, even from inside a sink callback:
 * `cancelled` is set, pending calls are cancelled, and the run is freed by
 * its 0 ms reaper timer, so code that just emitted an event may still read
 * the run but must stop (ck_agent_emit() returns -1).
 */
#ifndef CK_AGENT_AGENT_INTERNAL_H
#define CK_AGENT_AGENT_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/assistants.h"
#include "agent/llm.h"
#include "base/strbuf.h"
#include "protocol/protocol.h"

#define CK_AGENT_HISTORY_LIMIT 10
#define CK_AGENT_SEARCH_LIMIT_DEFAULT 5
#define CK_AGENT_SEARCH_LIMIT_MAX 10
#define CK_AGENT_RETRIEVAL_LIMIT 3
#define CK_AGENT_MAX_ANNOTATIONS 8

typedef struct ck_agent_job ck_agent_job_t;

struct ck_agent {
    ck_agent_job_t *jobs; /* background jobs still running (summary.c, memory.c) */
    ck_loop_t *loop;
    ck_store_t *store;
    ck_agent_llm_t *llm;
    ck_agent_config_t config; /* strings owned by the agent */
    char *completions_url;    /* base_url + "/chat/completions" */
    char *transcriptions_url; /* base_url + "/audio/transcriptions" */
};

typedef enum ck_agent_run_state {
    CK_RUN_LOADING,
    CK_RUN_SEARCHING,
    CK_RUN_MODEL,
    CK_RUN_TOOLS,
    CK_RUN_TITLING,
    CK_RUN_FINISHED
} ck_agent_run_state_t;

/* One tool call of the current model round. */
typedef struct ck_agent_tool_run {
    ck_agent_run_t *run;
    char *call_id; /* owned */
    char *name;    /* owned: the tool's name */
    char *output;  /* owned: content of the `tool` message, set when done */
    ck_store_call_t *store_call;
    ck_agent_llm_call_t *llm_call; /* an HTTP tool's call (http_tool.c) */
    const ck_tool_def_t *def;      /* the HTTP tool being called */
    double started_ms;             /* when the HTTP call started (monotonic) */
    double started;                /* ck_metrics_now() when the tool started */
    char *fact_id;                 /* owned: the `forget` tool's fact id (for its audit row), or NULL */
} ck_agent_tool_run_t;

struct ck_agent_run {
    ck_agent_t *agent;
    ck_agent_sink_t sink;
    void *user;
    ck_agent_run_state_t state;
    int cancelled, finished, paused, failed;
    char *user_id, *thread_id;
    char *request_id;       /* owned; the HTTP request's id ("" when none): send it as X-Request-Id */
    ck_turn_stats_t *stats; /* the caller's figures, or own_stats */
    ck_turn_stats_t own_stats;
    size_t prompt_estimate; /* estimated tokens of the last model request (agent/tokens.h) */
    size_t round_estimate;  /* estimated tokens of the text the current model round produced */
    int has_title;
    json_t *user_message;  /* owned copy, or NULL */
    json_t *metadata;      /* owned copy, or NULL */
    json_t *action;        /* custom_action: owned copy of the action, or NULL */
    json_t *sender_item;   /* custom_action: owned copy of the widget item, or NULL */
    json_t *context;       /* owned: the context.load answer the caller already has (ck_turn_t.context), or NULL */
    json_t *history;       /* owned: items before the new message (at most CK_AGENT_HISTORY_LIMIT) */
    int history_more;      /* older items than `history` exist */
    size_t history_first;  /* index in `history` of the oldest item the first request carried */
    json_t *facts;         /* owned: the user's facts [{"id","fact",...}] (memory on), or NULL */
    char *summary;         /* owned: the thread's summary, or NULL */
    char *summary_item_id; /* owned: the newest item it covers, or NULL */
    int notice_sent;       /* the thread's "no longer in context" notice was sent before */
    json_t *turn_messages; /* owned: this turn's assistant tool_calls and tool results */
    json_t *attachments;   /* owned: attachments.load result array */
    char *model;           /* owned */
    int force_search;      /* composer tool "search" chose the tool */
    double search_started; /* retrieval-only mode: when its search was sent */
    int rounds;            /* model round trips done */
    ck_store_call_t *store_call;
    struct { /* the read in store_call (ck_agent_store_start), kept to make it again */
        const char *op, *what;
        char *params; /* owned */
        ck_store_cb cb;
        uint64_t since;    /* loop ms of its first 503, or 0 */
        ck_timer_t *retry; /* the next attempt, or NULL */
    } read;
    ck_agent_llm_call_t *llm_call;
    char *item;       /* owned: the id of the streaming assistant_message, or NULL */
    char item_created_at[CK_TIME_MAX]; /* ... and its created_at */
    ck_strbuf_t text; /* its text so far */
    ck_agent_tool_run_t *tools;
    size_t tool_count, tools_pending;
    json_t *annotations; /* sources found this turn (Annotation objects) */
    json_t *seen_sources;
    const ck_assistant_t *assistant; /* with a registry: the assistant of this turn (routing.c) */
    json_t *thread_metadata;         /* owned copy of the thread's stored metadata, or NULL */
    ck_timer_t *reaper;              /* frees a cancelled run outside our callbacks */
    ck_timer_t *starter;             /* first step, on the next tick */
};

/* One background job: a non-streamed model call and the store writes that
 * follow it, after the turn's stream ended.  Owned by the agent (a list),
 * cancelled by ck_agent_destroy().  Failures are only logged. */
struct ck_agent_job {
    ck_agent_t *agent;
    ck_agent_job_t *prev, *next_job;
    ck_agent_llm_call_t *llm_call;
    ck_store_call_t *store_call;
    char *user_id, *thread_id, *request_id;
    char *item_id;                                               /* summary: the newest item it covers */
    json_t *pending;                                             /* extraction: facts still to store */
    size_t next;                                                 /* extraction: index of the next of them */
    void (*on_answer)(ck_agent_job_t *job, const char *content); /* the model answered (content may be NULL) */
};

/* agent.c --------------------------------------------------------------- */

/* Hands `event` (owned) to the sink unless cancelled; returns -1 when the
 * run is cancelled (before or during the call): the caller must return. */
int ck_agent_emit(ck_agent_run_t *run, json_t *event);
/* Ends the turn: on_finish, then frees the run.  Must be a tail call. */
void ck_agent_finish(ck_agent_run_t *run);
/* The human message of the error event of a failed run (`why` goes to the
 * log only: it may name upstream internals). */
#define CK_AGENT_FAIL_MESSAGE "The assistant could not finish this answer. Please try again."
/* Logs `why`, emits {"type":"error","code":"stream.error","message":
 * CK_AGENT_FAIL_MESSAGE,"allow_retry":true} and finishes.  Must be a tail call. */
void ck_agent_fail(ck_agent_run_t *run, const char *why);
/* How long a read of a run is made again after it lost its database
 * connection (503) before the turn fails. */
#define CK_AGENT_READ_RETRY_MS 5000
/* Starts the read-only store op `op` for `run` with `params` (stolen; NULL
 * counts as a failure) into run->store_call, the reply going to `cb` with
 * `run`; a 503 reply is retried for CK_AGENT_READ_RETRY_MS first.  `op`
 * and `what` must outlive the run (literals).  When it cannot start, fails
 * the run ("cannot start <what>").  Must be a tail call. */
void ck_agent_store_start(ck_agent_run_t *run, const char *op, json_t *params, ck_store_cb cb, const char *what);
/* Takes the reply to run->store_call (clearing it) and returns its JSON
 * document (caller decrefs).  When the op failed or returned bad JSON it
 * fails the run instead (ck_agent_fail, "<op> returned bad JSON" or the
 * store's message) and returns NULL: the caller must then return at once. */
json_t *ck_agent_reply_doc(ck_agent_run_t *run, const ck_store_reply_t *reply, const char *op);
/* Appends `delta` to the open message (opening it first) and emits it. */
int ck_agent_message_text(ck_agent_run_t *run, const char *delta, size_t len);
/* Closes the open message: annotation_added for each of `annotations`
 * (may be NULL), content_part.done, thread.item.done. */
int ck_agent_message_close(ck_agent_run_t *run, const json_t *annotations);
/* One finished `search` op: records its duration since `started`
 * (ck_metrics_now()) in chatkitd_search_duration_seconds and logs it with
 * the number of results in `doc` (its parsed reply, NULL when it failed). */
void ck_agent_search_done(double started, const json_t *doc);

/* Records the sources of a `search` result object as annotations. */
void ck_agent_collect_sources(ck_agent_run_t *run, const json_t *search_result);
/* Sets a title from the first words of the user's message (no model). */
void ck_agent_title_from_words(ck_agent_run_t *run);

/* Loads the history and runs the model, or answers from the corpus
 * (retrieval only): what a run does once its assistant is chosen. */
void ck_agent_begin(ck_agent_run_t *run);

/* routing.c ------------------------------------------------------------- */

/* With a registry: chooses the turn's assistant (explicit choice, the one
 * recorded on the thread, routing of the first message, the default),
 * records it in the thread metadata, sets run->model, then ck_agent_begin(). */
void ck_agent_choose(ck_agent_run_t *run);

/* http_tool.c ----------------------------------------------------------- */

/* The `tools` array offered to the model this round: `search` (built by
 * `search_tool`, when the assistant lists it or without a registry) and the
 * assistant's registry tools.  New reference; an empty array = no tools. */
json_t *ck_agent_tools_offered(ck_agent_run_t *run, json_t *(*search_tool)(void));
/* 1 when `name` is the built-in search and the turn may use it. */
int ck_agent_search_allowed(const ck_agent_run_t *run, const char *name);
/* The client tool `name` when the turn's assistant lists it, else NULL. */
const ck_tool_def_t *ck_agent_client_tool(const ck_agent_run_t *run, const char *name);
/* Runs a registry tool call (anything but `search`): checks the arguments,
 * POSTs them to the tool's URL, or sets an error output the model sees (a
 * tool the assistant does not list is never run).  Completes `tool` with
 * ck_agent_tool_finished() (at once or from a loop callback).  Returns -1
 * when the run was cancelled meanwhile. */
int ck_agent_http_tool_start(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const char *name, const char *arguments);
/* 1 when `arguments` (JSON text) fit the client tool's parameters. */
int ck_agent_client_tool_args_ok(const ck_tool_def_t *def, const char *arguments);
/* Emits a pending client_tool_call item for `def` (the browser runs it;
 * threads.add_client_tool_output resumes the thread); the caller then ends
 * the turn.  Returns -1 when the run was cancelled. */
int ck_agent_client_tool_call(ck_agent_run_t *run, const ck_tool_def_t *def, const char *call_id,
                              const char *arguments);

/* turn.c ---------------------------------------------------------------- */

/* Counts a finished tool call: chatkitd_tool_calls_total{tool,outcome}, its audit row
 * (outcome "ok", "error", "invalid_arguments") and the turn's figures. */
void ck_agent_count_tool(ck_agent_run_t *run, const char *tool, const char *outcome);

/* One tool call of the round has its output: the round goes on with the
 * model once every call has one. */
void ck_agent_tool_finished(ck_agent_run_t *run);
/* Runs the first model round (the prompt is assembled from run->history,
 * run->user_message, run->attachments and, for a custom action,
 * run->action and run->sender_item). */
void ck_agent_turn_start(ck_agent_run_t *run);

/* jobs (agent.c) ---------------------------------------------------------- */

/* Starts a job for the user, thread and request id of `run` (copied): posts
 * `body` (consumed; non-streamed) and calls `on_answer` with the answer's content.  The job is freed by
 * ck_agent_job_end(). */
void ck_agent_job_start(const ck_agent_run_t *run, json_t *body,
                        void (*on_answer)(ck_agent_job_t *job, const char *content), ck_agent_job_t **out);
/* Frees the job (cancels what it still has in flight). */
void ck_agent_job_end(ck_agent_job_t *job);

/* context (turn.c) --------------------------------------------------------- */

/* Starts the background jobs a finished turn leaves (summary, facts),
 * copying what they need from `run`.  Called by ck_agent_finish(). */
void ck_agent_after_turn(ck_agent_run_t *run);

/* summary.c ------------------------------------------------------------------ */

/* When items fell (or are about to fall) out of the history window and the
 * summary does not cover them: a job that rewrites the summary (<= 150
 * words) to cover them and stores it (context.summary). */
void ck_agent_summary_after_turn(ck_agent_run_t *run);

/* memory.c ------------------------------------------------------------------- */

/* The memory tools for the request's `tools` (appended to `tools`). */
void ck_agent_memory_tools(json_t *tools);
/* 1 when `name` is a memory tool. */
int ck_agent_memory_is_tool(const char *name);
/* Runs the memory tool `name` with `arguments` for `tool` (store op; sets
 * tool->output and calls ck_agent_tool_finished() when done).  Returns -1
 * when the run was cancelled meanwhile. */
int ck_agent_memory_run_tool(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const char *name, const json_t *args);
/* auto mode: a job that extracts at most 3 durable facts from the turn. */
void ck_agent_memory_after_turn(ck_agent_run_t *run);

/* turn.c ----------------------------------------------------------------- */

/* One tool of the current round finished (its output is set). */
void ck_agent_tool_finished(ck_agent_run_t *run);

/* retrieval.c ----------------------------------------------------------- */

/* Answers from the corpus without a model. */
void ck_agent_retrieval_start(ck_agent_run_t *run);

#endif
