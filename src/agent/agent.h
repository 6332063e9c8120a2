/*
 * agent.h - respond(): the agent loop behind every streamed turn.
 *
 * One ck_agent_t per worker thread.  It owns that worker's libcurl multi
 * handle (driven by the loop, src/base/loop.h) and talks to any
 * OpenAI-compatible Chat Completions endpoint, streamed.  It runs tools (the
 * `search` tool over the ingested corpus, via src/store) and reports what the
 * user should see as ChatKit ThreadStreamEvents to a sink; the caller
 * (src/http/stream_turn.c with the pure pipeline of src/protocol) persists and
 * forwards them.  Never blocks, never includes h2o, never writes to the store
 * except through ck_store_op().
 *
 * It also transcribes dictated audio (input.transcribe) through the same
 * endpoint's /audio/transcriptions, on the same curl multi handle.
 *
 * Both follow the callback convention of src/base/loop.h.
 * ck_agent_respond() returns a run handle (NULL: nothing will be called);
 * the sink's on_event is called zero or more times and then on_finish
 * exactly once, all on later loop ticks (never inside ck_agent_respond()),
 * unless ck_agent_cancel() is called first (then nothing more is called).
 * ck_agent_transcribe()'s callback runs exactly once, never inside
 * ck_agent_transcribe(), unless ck_agent_transcribe_cancel() came first.
 */
#ifndef CK_AGENT_AGENT_H
#define CK_AGENT_AGENT_H

#include <jansson.h>

#include "base/loop.h"
#include "store/store.h"

typedef struct ck_agent ck_agent_t;

typedef enum { CK_MEMORY_OFF, CK_MEMORY_TOOL, CK_MEMORY_AUTO } ck_agent_memory_mode_t;
typedef struct ck_agent_run ck_agent_run_t;

typedef struct ck_agent_config {
    const char *base_url;      /* OPENAI_BASE_URL, default https://api.openai.com/v1 */
    const char *api_key;       /* OPENAI_API_KEY */
    const char *model;         /* CHATKITD_MODEL */
    const char *system_prompt; /* text of CHATKITD_SYSTEM_PROMPT_FILE (or the built-in prompt) */
    int retrieval_only;        /* 1 when OPENAI_API_KEY and OPENAI_BASE_URL are both unset */
    int allow_model_override;  /* honour inference_options.model from the request */
    int max_turns;             /* model round trips per user turn (default 10) */
    int connect_timeout_ms, first_token_timeout_ms, stall_timeout_ms;
    int max_retries;              /* before the first token reached the client */
    int upstream_http;            /* CHATKITD_UPSTREAM_HTTP: a ck_agent_http_t (agent/llm.h) for every model call */
    int upstream_max_streams;     /* CHATKITD_UPSTREAM_MAX_STREAMS: calls per HTTP/2 connection (<= 0: libcurl's 100) */
    const char *upstream_ca_file; /* CHATKITD_UPSTREAM_CA_FILE: CAs trusted for the model endpoint, or NULL */
    const char *transcribe_model; /* CHATKITD_TRANSCRIBE_MODEL, default whisper-1 */
    const struct ck_assistants *assistants; /* CHATKITD_ASSISTANTS registry (process-wide, read-only), or NULL */
    int context_tokens;                     /* CHATKITD_CONTEXT_TOKENS: budget of every model request (default 6000) */
    int summary;                   /* CHATKITD_SUMMARY=on|off: rolling thread summaries (default on with a model) */
    ck_agent_memory_mode_t memory; /* CHATKITD_MEMORY=off|tool|auto (default tool with a model) */
    int memory_max_facts;          /* CHATKITD_MEMORY_MAX_FACTS: facts kept per user (default 50) */
    int redact_pii;                /* CHATKITD_REDACT_PII=on: facts are redacted before they are stored */
} ck_agent_config_t;

/* Fills `config` from the environment (see README "Configuration").
 * Returns 0, or -1 (logged, naming the variable) when CHATKITD_SYSTEM_PROMPT_FILE
 * is set but cannot be read (rather than answer with a prompt the operator did
 * not choose), or when a context setting has a value the server does not know:
 * the server then refuses to start. */
int ck_agent_config_from_env(ck_agent_config_t *config);

/* The estimated tokens of the fixed part of every model request (system
 * prompt and tool definitions) plus those of the user's new message
 * `input` (a UserMessageInput: its text parts, tags and quoted text); the
 * budget in *limit.  The caller refuses the message (4xx, before the
 * stream) when the result exceeds *limit. */
size_t ck_agent_message_tokens(const ck_agent_t *agent, const json_t *input, size_t *limit);

/* The `context` parameter ({"limit","facts"}) that makes the pre-flight ops
 * (turn.create, turn.add_message, turn.retry, turn.tool_output,
 * turn.load_item) answer this agent's context.load in the same
 * statement (src/store/README.md); the answer goes to ck_turn_t.context.
 * NULL (nothing to ask) without an agent or when turns read no history
 * (retrieval-only).  New reference. */
json_t *ck_agent_context_request(const ck_agent_t *agent);

/* Whether a turn may carry inference_options.model `model` (NULL or "" is
 * always fine): without a registry, any (today's rule: used only with
 * CHATKITD_ALLOW_MODEL_OVERRIDE); with one, an assistant id, or any name when
 * overrides are allowed.  Thread-safe. */
int ck_agent_model_allowed(const ck_agent_t *agent, const char *model);

/* Figures of one turn for metrics, the access log and the usage table.
 * Owned by the caller of ck_agent_respond(), which zeroes it; the agent
 * writes it as the turn goes (never after on_finish or ck_agent_cancel). */
typedef struct ck_turn_stats {
    char assistant[64]; /* the assistant that answered ("default") */
    char model[128];    /* the model asked, or "retrieval-only" */
    long prompt_tokens; /* summed over the turn's model calls: the endpoint's usage, else estimated */
    long completion_tokens;
    int tool_calls;     /* tool calls the model asked for */
    int model_requests; /* calls to the model endpoint (each counts once, retries included) */
    int model_failures; /* of which failed */
} ck_turn_stats_t;

typedef struct ck_turn {
    const char *request_id; /* the HTTP request's id, sent to the model endpoint and HTTP tools as
                                      X-Request-Id; may be NULL; copied */
    ck_turn_stats_t *stats; /* figures written by the agent, or NULL */
    const char *user_id;
    const json_t *thread;           /* the thread (ThreadMetadata wire shape); borrowed */
    const json_t *user_message;     /* the new user_message item, or NULL for continuations; the run keeps
                                       a reference (json_incref): nobody may change it afterwards */
    const json_t *request_metadata; /* the request's `metadata` object (pageContext, userInfo) or NULL */
    const json_t *action;           /* threads.custom_action: the action, else NULL */
    const json_t *sender_item;      /* threads.custom_action: the widget item, or NULL */
    const json_t *context;          /* what context.load answers for this turn (history before
                                      user_message, summary, notice flag, facts), when the caller got it
                                      with its pre-flight write (ck_agent_context_request); else NULL and
                                      the run queries it.  Borrowed */
} ck_turn_t;

typedef struct ck_agent_sink {
    /* One ThreadStreamEvent (thread.item.added/updated/done/replaced/removed,
     * progress_update, notice, client_effect, error).  Ownership of `event`
     * passes to the sink. */
    void (*on_event)(json_t *event, void *user);
    /* The agent changed thread fields (e.g. set `title`): `changes` is an
     * object of the changed ThreadMetadata fields; borrowed.  The pipeline
     * persists them and emits thread.updated. */
    void (*on_thread_changed)(const json_t *changes, void *user);
    /* The turn is over.  On failure the agent has already sent an `error`
     * event through on_event. */
    void (*on_finish)(void *user);
    /* Optional (NULL: the agent starts the op itself, fire-and-forget): a
     * record no event waits for (store op `op`, e.g. context.notice, with
     * `params`, borrowed) that the caller writes with its next write of
     * the turn, or after the turn. */
    void (*on_record)(const char *op, const json_t *params, void *user);
} ck_agent_sink_t;

ck_agent_t *ck_agent_create(ck_loop_t *loop, ck_store_t *store, const ck_agent_config_t *config);
void ck_agent_destroy(ck_agent_t *agent);

ck_agent_run_t *ck_agent_respond(ck_agent_t *agent, const ck_turn_t *turn, const ck_agent_sink_t *sink, void *user);

/* The client went away: abort the model call and tools; no sink call follows. */
void ck_agent_cancel(ck_agent_run_t *run);

/* Backpressure: a slow client's buffer is full (1) or drained again (0). */
void ck_agent_pause(ck_agent_run_t *run, int paused);

/* --- transcription (input.transcribe) ------------------------------------ */

typedef struct ck_agent_transcription ck_agent_transcription_t;

typedef struct ck_agent_transcript {
    int ok;            /* 1: `text` is the transcript */
    const char *text;  /* when ok: the transcribed text (valid during the callback) */
    const char *error; /* when !ok: what went wrong, for the log (valid during the callback) */
    long http_status;  /* the endpoint's last HTTP status, 0 when none */
} ck_agent_transcript_t;

typedef void (*ck_agent_transcribe_cb)(const ck_agent_transcript_t *result, void *user);

/* Sends `len` bytes of `audio` (copied) to {base_url}/audio/transcriptions
 * as multipart/form-data: a `file` part named "audio.<ext>", the extension
 * derived from the media type of `mime_type` (the part before ';', e.g.
 * audio/webm -> audio.webm), and `model` = config.transcribe_model.
 * Returns the call handle, or NULL (and `cb` is never called) when no model
 * endpoint is configured (retrieval_only) or the call cannot be set up. */
ck_agent_transcription_t *ck_agent_transcribe(ck_agent_t *agent, const void *audio, size_t len, const char *mime_type,
                                              ck_agent_transcribe_cb cb, void *user);

/* The caller lost interest (e.g. the client went away): the upload is
 * aborted and the callback will not run.  The handle is invalid afterwards;
 * calling it from inside the callback is not allowed. */
void ck_agent_transcribe_cancel(ck_agent_transcription_t *call);

#endif
