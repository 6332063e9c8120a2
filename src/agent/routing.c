/*
 * routing.c - which assistant answers a turn (with a CHATKITD_ASSISTANTS
 * registry; see assistants.h and docs/assistants.md).  In order:
 *
 *   1. inference_options.model of the new message names an assistant id;
 *   2. the assistant recorded on the thread (metadata "assistant");
 *   3. a new message on a thread without one: routing by similarity of the
 *      message to each assistant's description and examples (store op
 *      `assistants.route`: PostgreSQL's English full-text lexemes scored
 *      with BM25 like the `search` op, normalised to 0..1), the best one
 *      when its score reaches ROUTE_THRESHOLD;
 *   4. the default assistant (also when routing fails: never a failed turn).
 *
 * The choice is written to the thread metadata through the sink's
 * on_thread_changed (the pipeline persists it with thread.save), so later
 * turns stay with it until the user picks another.  The routing call is an
 * ordinary asynchronous store op: nothing blocks the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "agent/prompt.h"
#include "base/log.h"

/* Measured on tests/acceptance/assistants (48 held-out questions, 4
 * assistants): accuracy is 47/48 for any threshold in (0, 0.045] and falls
 * from 0.05 on (46 at 0.05, 40 at 0.08, 36 at 0.10); 0.03 keeps a margin
 * on both sides.  See docs/assistants.md. */
#define ROUTE_THRESHOLD 0.03
#define ROUTE_TEXT_MAX 2000

static const char *requested_model(const ck_agent_run_t *run)
{
    const json_t *options = json_object_get(run->user_message, "inference_options");
    const char *model = json_string_value(json_object_get(options, "model"));
    return model && *model ? model : NULL;
}

/* Records `a` as the run's assistant, on the thread when it changed, picks
 * the model, and goes on with the turn.  Must be a tail call. */
static void chosen(ck_agent_run_t *run, const ck_assistant_t *a, const char *how)
{
    const ck_agent_config_t *c = &run->agent->config;
    run->assistant = a;
    const char *requested = requested_model(run);
    int override = requested && !ck_assistants_find(c->assistants, requested) && c->allow_model_override &&
                   strlen(requested) < 128;
    char *model = strdup(override ? requested : a->model ? a->model : c->model);
    if (model) {
        free(run->model);
        run->model = model;
    }
    snprintf(run->stats->assistant, sizeof run->stats->assistant, "%s", a->id);
    if (!c->retrieval_only)
        snprintf(run->stats->model, sizeof run->stats->model, "%s", run->model);
    const char *recorded = json_string_value(json_object_get(run->thread_metadata, "assistant"));
    if (recorded == NULL || strcmp(recorded, a->id) != 0) {
        json_t *metadata = run->thread_metadata ? json_deep_copy(run->thread_metadata) : json_object();
        json_object_set_new(metadata, "assistant", json_string(a->id));
        json_t *changes = json_pack("{s:o}", "metadata", metadata);
        if (changes)
            run->sink.on_thread_changed(changes, run->user);
        json_decref(changes);
        if (run->cancelled)
            return;
    }
    ck_info("agent: thread %s answered by assistant %s (%s), model %s", run->thread_id, a->id, how, run->model);
    ck_agent_begin(run);
}

static void on_route(const ck_store_reply_t *reply, void *user)
{
    ck_agent_run_t *run = user;
    run->store_call = NULL;
    const ck_assistants_t *reg = run->agent->config.assistants;
    json_t *doc = reply->ok ? json_loads(reply->json, 0, NULL) : NULL;
    const json_t *best = json_array_get(json_object_get(doc, "scores"), 0);
    const ck_assistant_t *a = ck_assistants_find(reg, json_string_value(json_object_get(best, "id")));
    double score = json_number_value(json_object_get(best, "score"));
    if (!reply->ok)
        ck_warn("agent: routing failed (%s); using the default assistant", reply->message ? reply->message : "?");
    char how[64];
    snprintf(how, sizeof how, "routed, score %.3f", score);
    if (a == NULL || score < ROUTE_THRESHOLD) {
        a = ck_assistants_default(reg);
        snprintf(how, sizeof how, "default, best score %.3f", score);
    }
    json_decref(doc);
    chosen(run, a, how);
}

/* Starts the routing op for the new message; falls back to the default
 * when it cannot start.  Must be a tail call. */
static void route(ck_agent_run_t *run)
{
    const ck_assistants_t *reg = run->agent->config.assistants;
    char *text = ck_agent_user_text(run->user_message);
    if (text && strlen(text) > ROUTE_TEXT_MAX) {
        size_t cut = ROUTE_TEXT_MAX;
        while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
            cut--;
        text[cut] = '\0';
    }
    json_t *jtext = text && *text ? json_string(text) : NULL;
    free(text);
    char *quoted = jtext ? json_dumps(jtext, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(jtext);
    /* {"text":<message>,"candidates":<the registry's documents>} */
    char *p = NULL;
    if (quoted && asprintf(&p, "{\"text\":%s,\"candidates\":%s}", quoted, reg->route_candidates) < 0)
        p = NULL;
    free(quoted);
    run->store_call =
        p ? ck_store_op(run->agent->store, "assistants.route", run->user_id, p, strlen(p), on_route, run) : NULL;
    free(p);
    if (run->store_call == NULL)
        chosen(run, ck_assistants_default(reg), "default");
}

void ck_agent_choose(ck_agent_run_t *run)
{
    const ck_assistants_t *reg = run->agent->config.assistants;
    const ck_assistant_t *a = ck_assistants_find(reg, requested_model(run));
    if (a != NULL) {
        chosen(run, a, "chosen by the user");
        return;
    }
    a = ck_assistants_find(reg, json_string_value(json_object_get(run->thread_metadata, "assistant")));
    if (a != NULL) {
        chosen(run, a, "recorded on the thread");
        return;
    }
    if (run->user_message != NULL && reg->count > 1 && run->agent->store != NULL) {
        route(run);
        return;
    }
    chosen(run, ck_assistants_default(reg), "default");
}
