/*
 * transcribe.c - ck_agent_transcribe(): dictated audio (input.transcribe,
 * docs/protocol.md, "input.transcribe") sent to the model endpoint's /audio/transcriptions as
 * multipart/form-data (OpenAI's format: `file` + `model`), on the worker's
 * curl multi handle (llm.c), answer {"text": "..."}.
 *
 * The file part is named "audio.<ext>" because OpenAI-compatible servers
 * pick the decoder from the filename's extension; the extension comes from
 * the media type (the MIME type before ';').  The media type is also the
 * part's Content-Type, but only when it is a plain `type/subtype` token, so
 * client-supplied text never reaches a header unchecked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"

#define MEDIA_TYPE_MAX 100
#define EXT_MAX 10

struct ck_agent_transcription {
    ck_agent_llm_call_t *call;
    ck_agent_transcribe_cb cb;
    void *user;
};

/* Known media types whose subtype is not the usual file extension. */
static const char *const EXTENSIONS[][2] = {
    {"audio/mpeg", "mp3"},  {"audio/mp3", "mp3"},   {"audio/x-m4a", "m4a"},    {"audio/m4a", "m4a"},
    {"audio/x-wav", "wav"}, {"audio/wave", "wav"},  {"audio/vnd.wave", "wav"}, {"audio/x-flac", "flac"},
    {"audio/opus", "ogg"},  {"audio/x-ogg", "ogg"}, {"audio/mpga", "mpga"},
};

/* Copies the media type of `mime_type` (before ';', trimmed, lower-cased)
 * into `out`; returns 0, or -1 when it is not a plain type/subtype token. */
static int media_type(const char *mime_type, char out[MEDIA_TYPE_MAX + 1])
{
    const char *p = mime_type ? mime_type : "";
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    int slashes = 0;
    for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
        unsigned char c = (unsigned char)*p;
        if (n == MEDIA_TYPE_MAX || !(isalnum(c) || strchr("/.+-_!#$&^", c)))
            return -1;
        slashes += c == '/';
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    const char *slash = strchr(out, '/');
    return slashes == 1 && slash != out && slash[1] != '\0' ? 0 : -1;
}

/* The file extension for `media` (a valid media type): the table above,
 * else its subtype without an "x-" prefix when that is short and
 * alphanumeric, else "bin". */
static const char *extension(const char *media)
{
    for (size_t i = 0; i < sizeof(EXTENSIONS) / sizeof(EXTENSIONS[0]); i++)
        if (strcmp(media, EXTENSIONS[i][0]) == 0)
            return EXTENSIONS[i][1];
    const char *sub = strchr(media, '/') + 1;
    if (strncmp(sub, "x-", 2) == 0)
        sub += 2;
    size_t n = strlen(sub);
    if (n == 0 || n > EXT_MAX)
        return "bin";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)sub[i]))
            return "bin";
    return sub;
}

static void on_done(const ck_agent_llm_result_t *result, void *user)
{
    ck_agent_transcription_t *t = user;
    const json_t *text = json_object_get(result->body, "text");
    ck_agent_transcript_t out = {.http_status = result->http_status};
    if (result->ok && json_is_string(text)) {
        out.ok = 1;
        out.text = json_string_value(text);
    } else {
        out.error = result->ok ? "the transcription answer has no string \"text\"" : result->error;
    }
    t->cb(&out, t->user);
    free(t);
}

ck_agent_transcription_t *ck_agent_transcribe(ck_agent_t *agent, const void *audio, size_t len, const char *mime_type,
                                              ck_agent_transcribe_cb cb, void *user)
{
    static const ck_agent_llm_callbacks_t callbacks = {NULL, on_done};
    if (agent == NULL || agent->config.retrieval_only || cb == NULL)
        return NULL;
    char media[MEDIA_TYPE_MAX + 1];
    int valid = media_type(mime_type, media) == 0;
    char filename[sizeof("audio.") + EXT_MAX];
    snprintf(filename, sizeof(filename), "audio.%s", valid ? extension(media) : "bin");
    const char *const fields[] = {"model", agent->config.transcribe_model, NULL};
    ck_agent_llm_form_t form = {"file", audio, len, filename, valid ? media : NULL, fields};
    const ck_agent_config_t *c = &agent->config;
    ck_agent_llm_opts_t opts = {
        .url = agent->transcriptions_url,
        .api_key = c->api_key,
        .stream = 0,
        .connect_timeout_ms = c->connect_timeout_ms,
        .first_token_timeout_ms = c->first_token_timeout_ms,
        .stall_timeout_ms = c->stall_timeout_ms,
        .max_retries = c->max_retries,
        .http = (ck_agent_http_t)c->upstream_http,
        .ca_file = c->upstream_ca_file,
    };
    ck_agent_transcription_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->cb = cb;
    t->user = user;
    t->call = ck_agent_llm_post_form(agent->llm, &opts, &form, &callbacks, t);
    if (t->call == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void ck_agent_transcribe_cancel(ck_agent_transcription_t *call)
{
    if (call == NULL)
        return;
    ck_agent_llm_cancel(call->call);
    free(call);
}
