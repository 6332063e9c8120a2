/*
 * memory.c - user memory (CHATKITD_MEMORY=off|tool|auto): the `remember`
 * and `forget` tools of the model loop, the extraction job of auto mode,
 * and the pure helpers of memory.h (normalisation, SHA-256, parsing).
 *
 * Facts live in PostgreSQL (store ops memory.*, sql/functions/context.sql),
 * at most CHATKITD_MEMORY_MAX_FACTS per user, unique per user by the
 * SHA-256 of the normalised text.  With CHATKITD_REDACT_PII=on a fact is
 * redacted before it is stored.
 *
 * Every fact added or removed here gets an audit row (memory.added /
 * memory.removed, src/store/ops_record.h) naming the fact's id and how it
 * happened, never its text; the tools also count as tool calls
 * (chatkitd_tool_calls_total and a tool.call row, like `search`).
 */
#include "agent/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/agent_internal.h"
#include "agent/context.h"
#include "agent/prompt.h"
#include "base/log.h"
#include "base/redact.h"
#include "base/strbuf.h"
#include "store/ops_record.h"

static const char EXTRACT_PROMPT[] =
    "You extract durable facts about the user from one exchange of a conversation. A durable fact is something "
    "that will still be true and useful in later conversations: the user's name, role, preferences, long-lived "
    "circumstances, standing requests. Ignore questions, temporary states, anything about the assistant, and "
    "anything already listed as known. Reply with a JSON array of at most 3 short strings in the third person "
    "(for example [\"The user is vegetarian\"]), or [] when there is none. Reply with the JSON array only.";

/* --- pure helpers ------------------------------------------------------------ */

static unsigned fold(unsigned cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp < 0x80)
        return cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 0x20;
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
        return cp % 2 == 0 ? cp + 1 : cp;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
        return cp % 2 == 1 ? cp + 1 : cp;
    if (cp == 0x178)
        return 0xFF;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 0x20;
    if (cp == 0x3C2)
        return 0x3C3; /* final sigma */
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 0x50;
    return cp;
}

static void put_utf8(ck_strbuf_t *b, unsigned cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    ck_strbuf_add(b, out, n);
}

/* Decodes one UTF-8 character of `s` into *cp; returns its length (an
 * invalid byte is taken as itself, length 1). */
static size_t next_cp(const unsigned char *s, unsigned *cp)
{
    unsigned c = s[0];
    size_t need = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
    *cp = c;
    if (need == 0 || need == 9)
        return 1;
    unsigned v = c & (0x3F >> need);
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 1;
        v = (v << 6) | (s[k] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

static int is_space(unsigned cp) { return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0xA0 || cp == 0x3000; }

char *ck_agent_memory_normalise(const char *text)
{
    ck_strbuf_t b = {0};
    ck_strbuf_reserve(&b, strlen(text ? text : ""));
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    int pending_space = 0;
    while (*p) {
        unsigned cp;
        size_t n = next_cp(p, &cp);
        if (is_space(cp)) {
            pending_space = b.len > 0;
        } else {
            if (pending_space)
                ck_strbuf_addc(&b, ' ');
            pending_space = 0;
            if (n == 1 && cp >= 0x80)
                ck_strbuf_addc(&b, (char)cp); /* an invalid byte stays as it is */
            else
                put_utf8(&b, fold(cp));
        }
        p += n;
    }
    return ck_strbuf_take(&b);
}

int ck_agent_memory_sha256(const char *text, char hex[65])
{
    char *norm = ck_agent_memory_normalise(text);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = norm && EVP_Digest(norm, strlen(norm), md, &len, EVP_sha256(), NULL) == 1 && len == 32;
    free(norm);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

size_t ck_agent_utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

json_t *ck_agent_memory_parse_facts(const char *answer)
{
    json_t *out = json_array();
    const char *open = answer ? strchr(answer, '[') : NULL;
    const char *close = answer ? strrchr(answer, ']') : NULL;
    json_t *list = open && close && close > open ? json_loadb(open, (size_t)(close - open + 1), 0, NULL) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_array_size(out) >= CK_MEMORY_EXTRACT_MAX)
            break;
        const char *s = json_string_value(v);
        if (s == NULL)
            continue;
        char *norm = ck_agent_memory_normalise(s); /* only to trim and test emptiness */
        int empty = norm == NULL || *norm == '\0';
        free(norm);
        if (empty || ck_agent_utf8_chars(s) > CK_MEMORY_FACT_MAX)
            continue;
        /* trim surrounding white space, keep the case */
        const char *a = s, *z = s + strlen(s);
        while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
            a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\n' || z[-1] == '\r'))
            z--;
        json_array_append_new(out, json_stringn(a, (size_t)(z - a)));
    }
    json_decref(list);
    return out;
}

/* --- the tools ------------------------------------------------------------------ */

void ck_agent_memory_tools(json_t *tools)
{
    json_array_append_new(
        tools, json_pack("{s:s,s:{s:s,s:s,s:{s:s,s:{s:{s:s,s:s,s:i}},s:[s]}}}", "type", "function", "function", "name",
                         "remember", "description",
                         "Store a durable fact about the user (a preference, their role, a standing request) so that "
                         "later conversations can use it. Only facts the user stated or clearly wants remembered.",
                         "parameters", "type", "object", "properties", "fact", "type", "string", "description",
                         "The fact, one short sentence in the third person", "maxLength", CK_MEMORY_FACT_MAX,
                         "required", "fact"));
    json_array_append_new(
        tools, json_pack("{s:s,s:{s:s,s:s,s:{s:s,s:{s:{s:s,s:s}},s:[s]}}}", "type", "function", "function", "name",
                         "forget", "description",
                         "Delete one remembered fact about the user, by the id shown with it in the user memory block.",
                         "parameters", "type", "object", "properties", "id", "type", "string", "description",
                         "The id of the fact, e.g. mem_...", "required", "id"));
}

int ck_agent_memory_is_tool(const char *name)
{
    return name && (strcmp(name, "remember") == 0 || strcmp(name, "forget") == 0);
}

static char *json_output(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s ? s : strdup("{\"error\":\"out of memory\"}");
}

/* The audit row of a fact added or removed: the fact's id, then the thread
 * it came from (when there is one). */
static void audit_fact(ck_agent_t *agent, const char *user_id, const char *request_id, const char *action,
                       const char *fact_id, const char *thread_id, const char *how)
{
    const char *ids[] = {fact_id, thread_id != NULL && *thread_id ? thread_id : NULL, NULL};
    if (fact_id != NULL)
        ck_store_audit(agent->store, user_id, request_id, action, ids, how);
}

static void on_memory_reply(const ck_store_reply_t *reply, void *user)
{
    ck_agent_tool_run_t *tool = user;
    ck_agent_run_t *run = tool->run;
    tool->store_call = NULL;
    int remember = strcmp(tool->name, "remember") == 0;
    const char *outcome = "ok";
    if (!reply->ok) {
        const char *why = reply->http_status == 404 ? "no remembered fact has this id"
                          : reply->message          ? reply->message
                                                    : "the store failed";
        tool->output = json_output(json_pack("{s:s}", "error", why));
        outcome = "error";
    } else if (!remember) {
        tool->output = json_output(json_pack("{s:s}", "status", "forgotten"));
        audit_fact(run->agent, run->user_id, run->request_id, CK_AUDIT_MEMORY_REMOVED, tool->fact_id, NULL,
                   "forget tool");
    } else {
        json_t *doc = json_loads(reply->json, 0, NULL);
        const char *status = json_string_value(json_object_get(doc, "status"));
        json_t *fact = json_object_get(doc, "fact");
        if (status && strcmp(status, "full") == 0) {
            tool->output = json_output(
                json_pack("{s:s}", "error", "memory is full: forget a fact the user no longer needs first"));
            outcome = "error";
        } else if (status && strcmp(status, "duplicate") == 0) {
            tool->output =
                json_output(json_pack("{s:s,s:O}", "status", "already remembered", "id", json_object_get(fact, "id")));
        } else if (fact) {
            tool->output =
                json_output(json_pack("{s:s,s:O}", "status", "remembered", "id", json_object_get(fact, "id")));
            audit_fact(run->agent, run->user_id, run->request_id, CK_AUDIT_MEMORY_ADDED,
                       json_string_value(json_object_get(fact, "id")), run->thread_id, "remember tool");
        } else {
            tool->output = json_output(json_pack("{s:s}", "error", "the store returned no fact"));
            outcome = "error";
        }
        json_decref(doc);
    }
    ck_agent_count_tool(run, tool->name, outcome);
    ck_agent_tool_finished(run);
}

/* Params of memory.add for `fact` (redacted when set); NULL on failure. */
static json_t *add_params(const ck_agent_t *agent, const char *fact, const char *thread_id)
{
    char *clean = NULL;
    if (agent->config.redact_pii)
        clean = ck_redact(fact, strlen(fact), NULL, NULL);
    const char *text = clean ? clean : fact;
    char hex[65];
    json_t *p = ck_agent_memory_sha256(text, hex) == 0
                    ? json_pack("{s:s,s:s,s:i}", "fact", text, "sha256", hex, "max", agent->config.memory_max_facts)
                    : NULL;
    if (p && thread_id && *thread_id)
        json_object_set_new(p, "thread_id", json_string(thread_id));
    free(clean);
    return p;
}

int ck_agent_memory_run_tool(ck_agent_run_t *run, ck_agent_tool_run_t *tool, const char *name, const json_t *args)
{
    const char *op;
    json_t *params = NULL;
    if (strcmp(name, "remember") == 0) {
        const char *fact = json_string_value(json_object_get(args, "fact"));
        char *norm = fact ? ck_agent_memory_normalise(fact) : NULL;
        int empty = norm == NULL || *norm == '\0';
        free(norm);
        if (fact == NULL || empty) {
            tool->output = json_output(json_pack("{s:s}", "error", "`remember` needs a non-empty string `fact`"));
        } else if (ck_agent_utf8_chars(fact) > CK_MEMORY_FACT_MAX) {
            char why[96];
            snprintf(why, sizeof why, "the fact is longer than %d characters: state it shorter", CK_MEMORY_FACT_MAX);
            tool->output = json_output(json_pack("{s:s}", "error", why));
        } else {
            params = add_params(run->agent, fact, run->thread_id);
        }
        op = "memory.add";
    } else {
        const char *id = json_string_value(json_object_get(args, "id"));
        if (id == NULL || *id == '\0')
            tool->output = json_output(json_pack("{s:s}", "error", "`forget` needs the string `id` of a fact"));
        else if ((tool->fact_id = strdup(id)) != NULL)
            params = json_pack("{s:s}", "id", id);
        op = "memory.forget";
    }
    int invalid = tool->output != NULL; /* refused before the store was asked */
    if (tool->output == NULL) {
        char *text = params ? json_dumps(params, JSON_COMPACT) : NULL;
        tool->store_call =
            text ? ck_store_op(run->agent->store, op, run->user_id, text, strlen(text), on_memory_reply, tool) : NULL;
        free(text);
        if (tool->store_call == NULL)
            tool->output = json_output(json_pack("{s:s}", "error", "memory is unavailable"));
    }
    json_decref(params);
    if (tool->output && tool->store_call == NULL) {
        ck_agent_count_tool(run, name, invalid ? "invalid_arguments" : "error");
        ck_agent_tool_finished(run);
    }
    return run->cancelled ? -1 : 0;
}

/* --- auto mode: extraction after the turn ------------------------------------- */

static void store_next_fact(ck_agent_job_t *job);

static void on_fact_stored(const ck_store_reply_t *reply, void *user)
{
    ck_agent_job_t *job = user;
    job->store_call = NULL;
    if (!reply->ok) {
        ck_warn("memory: storing an extracted fact failed: %s", reply->message ? reply->message : "?");
    } else {
        json_t *doc = json_loads(reply->json, 0, NULL);
        const char *status = json_string_value(json_object_get(doc, "status"));
        const char *id = json_string_value(json_object_get(json_object_get(doc, "fact"), "id"));
        ck_debug("memory: extracted fact for thread %s: %s %s", job->thread_id, status ? status : "?", id ? id : "");
        if (status && strcmp(status, "added") == 0)
            audit_fact(job->agent, job->user_id, job->request_id, CK_AUDIT_MEMORY_ADDED, id, job->thread_id,
                       "extracted after the turn");
        json_decref(doc);
    }
    store_next_fact(job);
}

static void store_next_fact(ck_agent_job_t *job)
{
    while (job->next < json_array_size(job->pending)) {
        const char *fact = json_string_value(json_array_get(job->pending, job->next++));
        json_t *params = add_params(job->agent, fact, job->thread_id);
        char *text = params ? json_dumps(params, JSON_COMPACT) : NULL;
        json_decref(params);
        job->store_call =
            text ? ck_store_op(job->agent->store, "memory.add", job->user_id, text, strlen(text), on_fact_stored, job)
                 : NULL;
        free(text);
        if (job->store_call)
            return;
    }
    ck_agent_job_end(job);
}

static void on_extracted(ck_agent_job_t *job, const char *content)
{
    job->pending = ck_agent_memory_parse_facts(content);
    if (content == NULL)
        ck_info("memory: fact extraction for thread %s failed", job->thread_id);
    store_next_fact(job);
}

void ck_agent_memory_after_turn(ck_agent_run_t *run)
{
    if (run->agent->config.memory != CK_MEMORY_AUTO || run->user_message == NULL || run->agent->config.retrieval_only)
        return;
    char *user_text = ck_agent_user_text(run->user_message);
    if (user_text == NULL || *user_text == '\0') {
        free(user_text);
        return;
    }
    size_t budget = (size_t)run->agent->config.context_tokens / 2;
    json_t *said = ck_agent_context_shorten(user_text, strlen(user_text), budget / 2);
    json_t *answer = ck_agent_context_shorten(run->text.len ? run->text.p : "", run->text.len, budget / 4);
    json_t *known = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(run->facts, i, f) json_array_append(known, json_object_get(f, "fact"));
    char *known_text = json_dumps(known, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_t *msg = json_sprintf("Already known: %s\n\n<user_message>\n%s\n</user_message>\n\n<assistant_answer>\n%s\n"
                               "</assistant_answer>",
                               known_text ? known_text : "[]", json_string_value(said), json_string_value(answer));
    json_t *body =
        msg ? json_pack("{s:s,s:[{s:s,s:s},{s:s,s:O}],s:b,s:i}", "model", run->model, "messages", "role", "system",
                        "content", EXTRACT_PROMPT, "role", "user", "content", msg, "stream", 0, "max_tokens", 200)
            : NULL;
    ck_agent_job_start(run, body, on_extracted, NULL);
    json_decref(msg);
    free(known_text);
    json_decref(known);
    json_decref(said);
    json_decref(answer);
    free(user_text);
}
