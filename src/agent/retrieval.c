/*
 * retrieval.c - retrieval-only mode: no model is configured
 * (OPENAI_API_KEY and OPENAI_BASE_URL both unset), so the answer is the
 * best passages of the corpus for the user's message (store op `search`,
 * limit 3) with their sources as annotations, introduced by a plain
 * statement that no model is configured.  When no passage clears the
 * search's relevance floor (or the corpus is empty) the answer says that
 * the documentation does not cover the question instead of quoting
 * unrelated text; an empty question gets a sentence of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "base/metrics.h"
#include "agent/prompt.h"
#include "base/metrics.h"

#define PASSAGE_MAX 4000 /* chunks are at most 4000 bytes (CK_CHUNK_BLOCK_MAX): quoted whole */

static const char INTRO[] =
    "No language model is configured, so here are the most relevant passages from the documentation:\n\n";
static const char NOTHING_FOUND[] =
    "No language model is configured, and the documentation does not cover this question: no passage is "
    "relevant enough to quote. Try other words, or ask the site operator to ingest documentation or configure a model.";
static const char NO_QUESTION[] =
    "No language model is configured on this server, so I can only search the documentation for the text of your "
    "messages.";

/* Appends `s` to the answer being streamed. */
static int say(ck_agent_run_t *run, const char *s, size_t len) { return ck_agent_message_text(run, s, len); }

/* `text` cut to PASSAGE_MAX bytes (on a UTF-8 boundary, "..." appended
 * when cut) as the body of a Markdown quote: every LF continues with "> ".
 * Returns a malloc'd string (caller frees). */
static char *quote(const char *text)
{
    size_t len = text ? strlen(text) : 0, cut = len > PASSAGE_MAX ? PASSAGE_MAX : len;
    while (cut < len && cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    char *out = malloc(cut * 3 + 8);
    size_t o = 0;
    for (size_t k = 0; out && k < cut; k++) {
        out[o++] = text[k];
        if (text[k] == '\n') {
            out[o++] = '>';
            out[o++] = ' ';
        }
    }
    if (out && cut < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (out)
        out[o] = '\0';
    return out;
}

/* Appends one passage as a numbered Markdown quote under its title and source. */
static int say_passage(ck_agent_run_t *run, const json_t *r, size_t i)
{
    const char *title = json_string_value(json_object_get(r, "title"));
    const char *source = json_string_value(json_object_get(r, "source"));
    char *body = quote(json_string_value(json_object_get(r, "text")));
    json_t *s = json_sprintf("%zu. **%s** (%s)\n\n> %s\n\n", i + 1, title && *title ? title : "Untitled",
                             source ? source : "unknown source", body ? body : "");
    free(body);
    int rc = s ? say(run, json_string_value(s), json_string_length(s)) : 0;
    json_decref(s);
    return rc;
}

static void on_results(const ck_store_reply_t *reply, void *user)
{
    ck_agent_run_t *run = user;
    json_t *doc = ck_agent_reply_doc(run, reply, "search");
    ck_agent_search_done(run->search_started, doc);
    if (doc == NULL)
        return;
    const json_t *results = json_object_get(doc, "results");
    int rc;
    if (json_array_size(results) == 0)
        rc = say(run, NOTHING_FOUND, strlen(NOTHING_FOUND));
    else {
        rc = say(run, INTRO, strlen(INTRO));
        for (size_t i = 0; rc == 0 && i < json_array_size(results); i++)
            rc = say_passage(run, json_array_get(results, i), i);
        ck_agent_collect_sources(run, doc);
    }
    json_decref(doc);
    if (rc < 0 || ck_agent_message_close(run, run->annotations) < 0)
        return;
    if (!run->has_title)
        ck_agent_title_from_words(run);
    ck_agent_finish(run);
}

void ck_agent_retrieval_start(ck_agent_run_t *run)
{
    run->state = CK_RUN_SEARCHING;
    char *query = ck_agent_user_text(run->user_message);
    if (query == NULL || query[strspn(query, " \t\r\n")] == '\0') {
        free(query);
        if (say(run, NO_QUESTION, strlen(NO_QUESTION)) < 0 || ck_agent_message_close(run, NULL) < 0)
            return;
        ck_agent_finish(run);
        return;
    }
    json_t *params = json_pack("{s:s,s:i}", "query", query, "limit", CK_AGENT_RETRIEVAL_LIMIT);
    free(query);
    if (params && run->assistant && run->assistant->sources) /* the assistant's documents only */
        json_object_set_new(params, "sources", json_deep_copy(run->assistant->sources));
    run->search_started = ck_metrics_now();
    ck_agent_store_start(run, "search", params, on_results, "the corpus search");
}
