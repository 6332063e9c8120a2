/*
 * test_agent_loop.c - end-to-end Check tests of ck_agent_respond() on a real
 * loop (src/loop/loop_h2o.c over an h2o evloop) against the scriptable fake
 * OpenAI server (tests/acceptance/fake_openai.py, started per test case),
 * with the store replaced by an in-test fake (ck_store_op / ck_store_cancel
 * defined here answer canned JSON on the next loop tick).
 *
 * Covers: the canonical streamed message, the search tool round trip with
 * annotations, parallel tool calls, max_turns, retries before the first
 * token (500 / 429 + Retry-After), 500 / garbage / first-token timeout /
 * stall -> error event, cancel from inside the sink, pause, the prompt the
 * model receives (context.load op params, page context, image attachment), the
 * title, and retrieval-only mode (results and empty corpus).
 */
#include <check.h>
#include <curl/curl.h>
#include <h2o.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "loop/loop_h2o.h"
#include "check_main.h"

/* --- fake store ------------------------------------------------------------ */

struct ck_store_call {
    ck_store_cb cb;
    void *user;
    char *op;
    int cancelled;
    ck_timer_t *timer;
    struct ck_store_call *next;
};

static ck_loop_t *g_loop;
static json_t *g_store_ops;     /* [{"op","params"}] in call order */
static json_t *g_search_reply;  /* reply of `search` */
static json_t *g_history_reply; /* reply of `context.load` (the history window) */
static json_t *g_attach_reply;  /* reply of `attachments.load` */
static json_t *g_turn_context;  /* ck_turn_t.context of the next run_turn (the pre-flight's answer), or NULL */
static int g_pending_max, g_pending;
static struct ck_store_call *g_calls;

static void store_reply(ck_timer_t *timer, void *user)
{
    (void)timer;
    struct ck_store_call *c = user;
    g_pending--;
    if (c->cancelled)
        return;
    const json_t *doc = strcmp(c->op, "search") == 0         ? g_search_reply
                        : strcmp(c->op, "context.load") == 0 ? g_history_reply
                                                             : g_attach_reply;
    char *json = json_dumps(doc, JSON_COMPACT);
    ck_store_reply_t reply = {.ok = 1, .json = json, .json_len = strlen(json)};
    c->cancelled = 1;
    c->cb(&reply, c->user);
    free(json);
}

ck_store_call_t *ck_store_op(ck_store_t *store, const char *op, const char *user_id, const char *params_json,
                             size_t params_len, ck_store_cb cb, void *user)
{
    (void)store;
    (void)user_id;
    struct ck_store_call *c = calloc(1, sizeof(*c));
    c->cb = cb;
    c->user = user;
    c->op = strdup(op);
    c->next = g_calls;
    g_calls = c;
    if (strcmp(op, "audit.add") == 0 || strcmp(op, "usage.add") == 0) {
        c->cancelled = 1; /* the agent's fire-and-forget records: never answered, not counted */
        return c;
    }
    c->timer = ck_timer_new(g_loop, store_reply, c);
    json_array_append_new(g_store_ops,
                          json_pack("{s:s,s:o}", "op", op, "params", json_loadb(params_json, params_len, 0, NULL)));
    if (++g_pending > g_pending_max)
        g_pending_max = g_pending;
    ck_timer_arm(c->timer, 5);
    return c;
}

void ck_store_cancel(ck_store_call_t *call) { call->cancelled = 1; }

static void store_reset(void)
{
    while (g_calls) {
        struct ck_store_call *c = g_calls;
        g_calls = c->next;
        if (c->timer != NULL)
            ck_timer_free(c->timer);
        free(c->op);
        free(c);
    }
    json_decref(g_store_ops);
    g_store_ops = json_array();
    g_pending = g_pending_max = 0;
}

/* --- fake OpenAI server --------------------------------------------------- */

static pid_t g_fake_pid;
static int g_fake_port;
static char g_base_url[64];

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void fake_start(void)
{
    g_fake_port = free_port();
    snprintf(g_base_url, sizeof(g_base_url), "http://127.0.0.1:%d/v1", g_fake_port);
    char port[16];
    snprintf(port, sizeof(port), "%d", g_fake_port);
    g_fake_pid = fork();
    if (g_fake_pid == 0) {
        execl("/usr/bin/python3", "python3", "tests/acceptance/fake_openai.py", "--port", port, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* wait until it answers */
        CURL *e = curl_easy_init();
        char url[96];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/_requests", g_fake_port);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        CURLcode rc = curl_easy_perform(e);
        curl_easy_cleanup(e);
        if (rc == CURLE_OK)
            return;
        usleep(50000);
    }
    ck_abort_msg("fake_openai.py did not start (run from the repository root)");
}

static void fake_stop(void)
{
    kill(g_fake_pid, SIGTERM);
    waitpid(g_fake_pid, NULL, 0);
}

static size_t collect_body(char *data, size_t size, size_t n, void *user)
{
    json_t *buf = user;
    json_t *joined = json_sprintf("%s%.*s", json_string_value(buf), (int)(size * n), data);
    json_string_set(buf, json_string_value(joined));
    json_decref(joined);
    return size * n;
}

/* Blocking HTTP to the fake (test harness only).  Returns the body JSON. */
static json_t *fake_http(const char *path, const char *post)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_fake_port, path);
    json_t *buf = json_string("");
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (post)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, buf);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    json_t *doc = json_loads(json_string_value(buf), 0, NULL);
    json_decref(buf);
    return doc;
}

static void script(const char *json)
{
    json_decref(fake_http("/_reset", "{}"));
    json_decref(fake_http("/_script", json));
}

/* The `body` of the i-th chat completion request the fake received. */
static json_t *request_body(json_t *requests, size_t i) { return json_object_get(json_array_get(requests, i), "body"); }

/* --- running a turn --------------------------------------------------------- */

typedef struct turn_result {
    json_t *events;
    json_t *title;
    int finished;
    int cancel_on_delta; /* cancel inside on_event at the n-th text delta (0 = never) */
    int pause_on_delta;  /* pause at the n-th text delta */
    int deltas;
    ck_agent_run_t *run;
    uint64_t paused_at;
    int while_paused; /* events and finishes that arrived while paused */
} turn_result_t;

static void on_event(json_t *event, void *user)
{
    turn_result_t *r = user;
    if (r->paused_at)
        r->while_paused++;
    json_array_append_new(r->events, event);
    const json_t *upd = json_object_get(event, "update");
    const char *type = json_string_value(json_object_get(upd, "type"));
    if (type && strcmp(type, "assistant_message.content_part.text_delta") == 0) {
        r->deltas++;
        if (r->deltas == r->cancel_on_delta)
            ck_agent_cancel(r->run);
        if (r->deltas == r->pause_on_delta) {
            ck_agent_pause(r->run, 1);
            r->paused_at = ck_loop_now_ms(g_loop);
        }
    }
}

static void on_thread_changed(const json_t *changes, void *user)
{
    turn_result_t *r = user;
    json_decref(r->title);
    r->title = json_incref(json_object_get(changes, "title"));
}

static void on_finish(void *user)
{
    turn_result_t *r = user;
    if (r->paused_at)
        r->while_paused++;
    r->finished = 1;
}

static const ck_agent_sink_t SINK = {on_event, on_thread_changed, on_finish};

static ck_agent_config_t base_config(void)
{
    ck_agent_config_t c = {
        .base_url = g_base_url,
        .api_key = "sk-test",
        .model = "fake-model",
        .system_prompt = "You are a test assistant.",
        .max_turns = 10,
        .connect_timeout_ms = 2000,
        .first_token_timeout_ms = 3000,
        .stall_timeout_ms = 3000,
        .max_retries = 0,
    };
    return c;
}

static const char USER_MSG[] =
    "{\"id\":\"msg_u1\",\"thread_id\":\"thr_1\",\"created_at\":\"2026-01-01T00:00:00.000000Z\",\"type\":\"user_"
    "message\","
    "\"content\":[{\"type\":\"input_text\",\"text\":\"How do I install chatkitd on Debian today?\"}],"
    "\"attachments\":[],\"inference_options\":{}}";

/* Runs one turn to its end (or `ms` milliseconds).  The caller frees the
 * result with result_free(). */
static void run_turn(const ck_agent_config_t *config, const char *user_message, const char *metadata, turn_result_t *r,
                     int ms)
{
    ck_agent_t *agent = ck_agent_create(g_loop, (ck_store_t *)1, config);
    ck_assert_ptr_nonnull(agent);
    json_t *thread = json_pack("{s:s,s:s,s:{s:s},s:{}}", "id", "thr_1", "created_at", "2026-01-01T00:00:00.000000Z",
                               "status", "type", "active", "metadata");
    json_t *msg = user_message ? json_loads(user_message, 0, NULL) : NULL;
    json_t *meta = metadata ? json_loads(metadata, 0, NULL) : NULL;
    ck_turn_t turn = {
        .user_id = "u1", .thread = thread, .user_message = msg, .request_metadata = meta, .context = g_turn_context};
    r->events = json_array();
    r->run = ck_agent_respond(agent, &turn, &SINK, r);
    json_decref(thread);
    json_decref(msg);
    json_decref(meta);
    ck_assert_ptr_nonnull(r->run);
    ck_assert_int_eq(json_array_size(r->events), 0); /* nothing from inside respond() */
    uint64_t end = ck_loop_now_ms(g_loop) + (uint64_t)ms;
    while (!r->finished && ck_loop_now_ms(g_loop) < end) {
        ck_loop_run_once(g_loop);
        if (r->paused_at && ck_loop_now_ms(g_loop) > r->paused_at + 300) {
            ck_assert_int_eq(r->while_paused, 0); /* nothing arrived while paused */
            r->paused_at = 0;
            ck_agent_pause(r->run, 0);
        }
    }
    /* let cancelled calls be reaped, then free the agent */
    for (int i = 0; i < 5; i++) {
        uint64_t t = ck_loop_now_ms(g_loop) + 20;
        while (ck_loop_now_ms(g_loop) < t)
            ck_loop_run_once(g_loop);
    }
    ck_agent_destroy(agent);
}

static void result_free(turn_result_t *r)
{
    json_decref(r->events);
    json_decref(r->title);
}

static const char *ev_type(const turn_result_t *r, size_t i)
{
    const json_t *ev = json_array_get(r->events, i);
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (type && strcmp(type, "thread.item.updated") == 0)
        return json_string_value(json_object_get(json_object_get(ev, "update"), "type"));
    return type;
}

static size_t count_type(const turn_result_t *r, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(r->events); i++)
        n += ev_type(r, i) && strcmp(ev_type(r, i), type) == 0;
    return n;
}

/* The last thread.item.done item. */
static const json_t *done_item(const turn_result_t *r)
{
    const json_t *item = NULL;
    for (size_t i = 0; i < json_array_size(r->events); i++)
        if (strcmp(ev_type(r, i), "thread.item.done") == 0)
            item = json_object_get(json_array_get(r->events, i), "item");
    return item;
}

static const char *done_text(const turn_result_t *r)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(done_item(r), "content"), 0), "text"));
}

static void assert_stream_error(const turn_result_t *r)
{
    ck_assert_int_eq(r->finished, 1);
    const json_t *last = json_array_get(r->events, json_array_size(r->events) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "type")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(last, "code")), "stream.error");
    ck_assert(json_is_true(json_object_get(last, "allow_retry")));
    ck_assert_uint_eq(count_type(r, "thread.item.done"), 0);
}

/* --- fixtures ------------------------------------------------------------------ */

static ck_timer_t *g_tick; /* keeps ck_loop_run_once() from waiting forever on an idle loop */

static void on_tick(ck_timer_t *timer, void *user)
{
    (void)user;
    ck_timer_arm(timer, 10);
}

static void setup(void)
{
    h2o_evloop_t *ev = h2o_evloop_create();
    g_loop = ck_loop_new(ev);
    g_tick = ck_timer_new(g_loop, on_tick, NULL);
    ck_timer_arm(g_tick, 10);
    g_store_ops = json_array();
    g_search_reply =
        json_loads("{\"results\":[{\"id\":\"c1\",\"title\":\"Install\",\"source\":\"docs/install.md\",\"score\":0.9,"
                   "\"text\":\"Run make run.\"},{\"id\":\"c2\",\"title\":\"Site\",\"source\":\"https://ex.com/a\","
                   "\"score\":0.5,\"text\":\"Line one\\nline two\"},{\"id\":\"c3\",\"title\":\"Install again\","
                   "\"source\":\"docs/install.md\",\"score\":0.4,\"text\":\"dup\"}]}",
                   0, NULL);
    g_history_reply =
        json_loads("{\"items\":[{\"id\":\"msg_0\",\"type\":\"user_message\",\"content\":[{\"type\":\"input_text\","
                   "\"text\":\"earlier question\"}],\"attachments\":[],\"inference_options\":{}},"
                   "{\"id\":\"msg_a\",\"type\":\"assistant_message\",\"content\":[{\"type\":\"output_text\","
                   "\"text\":\"earlier answer\",\"annotations\":[]}]}]}",
                   0, NULL);
    g_attach_reply =
        json_loads("{\"attachments\":[{\"attachment\":{\"id\":\"atc_1\",\"name\":\"cat.png\",\"mime_type\":"
                   "\"image/png\",\"type\":\"image\"},\"data_base64\":\"iVBORw0KGgo=\"}]}",
                   0, NULL);
    fake_start();
}

static void teardown(void)
{
    fake_stop();
    store_reset();
    ck_timer_free(g_tick);
    json_decref(g_store_ops);
    json_decref(g_search_reply);
    json_decref(g_history_reply);
    json_decref(g_attach_reply);
    h2o_evloop_t *ev = ck_loop_evloop(g_loop);
    ck_loop_free(g_loop);
    h2o_evloop_destroy(ev);
}

/* --- tests ---------------------------------------------------------------------- */

START_TEST(canonical_stream_and_prompt)
{
    script("{\"responses\":[{\"chunks\":[\"Hel\",\"lo \",\"world\"]}],\"nonstream\":[{\"text\":\"\\\"Installing "
           "chatkitd.\\\"\"}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    run_turn(&c, USER_MSG, "{\"userInfo\":{\"name\":\"Ada\"},\"pageContext\":{\"title\":\"Pricing\"}}", &r, 5000);
    ck_assert_int_eq(r.finished, 1);
    const char *expect[] = {"thread.item.added",
                            "assistant_message.content_part.added",
                            "assistant_message.content_part.text_delta",
                            "assistant_message.content_part.text_delta",
                            "assistant_message.content_part.text_delta",
                            "assistant_message.content_part.done",
                            "thread.item.done"};
    ck_assert_uint_eq(json_array_size(r.events), 7);
    for (size_t i = 0; i < 7; i++)
        ck_assert_str_eq(ev_type(&r, i), expect[i]);
    ck_assert_str_eq(done_text(&r), "Hello world");
    ck_assert_str_eq(json_string_value(json_object_get(done_item(&r), "type")), "assistant_message");
    ck_assert_str_eq(json_string_value(json_object_get(done_item(&r), "thread_id")), "thr_1");
    ck_assert_str_eq(json_string_value(r.title), "Installing chatkitd");
    /* the context op: the window of 10 and one more (are there older items?), before the new message */
    json_t *op0 = json_array_get(g_store_ops, 0);
    ck_assert_str_eq(json_string_value(json_object_get(op0, "op")), "context.load");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(op0, "params"), "limit")), 11);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(op0, "params"), "before_item_id")), "msg_u1");
    /* what the model received */
    json_t *reqs = fake_http("/_requests", NULL);
    ck_assert_uint_eq(json_array_size(reqs), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_array_get(reqs, 0), "headers"), "authorization")),
        "Bearer sk-test");
    json_t *msgs = json_object_get(request_body(reqs, 0), "messages");
    ck_assert_uint_eq(json_array_size(msgs), 4);
    const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    ck_assert_ptr_nonnull(strstr(sys, "You are a test assistant."));
    ck_assert_ptr_nonnull(strstr(sys, "\"name\":\"Ada\""));
    ck_assert_ptr_nonnull(strstr(sys, "\"title\":\"Pricing\""));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 1), "content")), "earlier question");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 2), "content")), "earlier answer");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 3), "content")),
                     "How do I install chatkitd on Debian today?");
    ck_assert(json_is_true(json_object_get(request_body(reqs, 0), "stream")));
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(request_body(reqs, 0), "tools"), 0), "function"), "name")),
        "search");
    ck_assert(json_is_false(json_object_get(request_body(reqs, 1), "stream")));
    json_decref(reqs);
    result_free(&r);
}
END_TEST

/* The context the pre-flight op answered (ck_turn_t.context) is used as
 * context.load's answer: no store op before the model call, the same prompt;
 * ck_agent_context_request says what to ask for. */
START_TEST(preloaded_context_skips_the_query)
{
    script("{\"responses\":[{\"chunks\":[\"Hi\"]}],\"nonstream\":[{\"text\":\"A title\"}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.memory = CK_MEMORY_TOOL;
    g_turn_context = json_deep_copy(g_history_reply);
    json_object_set_new(g_turn_context, "facts", json_pack("[{s:s,s:s}]", "id", "mem_1", "fact", "The user likes tea"));
    run_turn(&c, USER_MSG, NULL, &r, 5000);
    json_decref(g_turn_context);
    g_turn_context = NULL;
    ck_assert_int_eq(r.finished, 1);
    ck_assert_str_eq(done_text(&r), "Hi");
    ck_assert_uint_eq(json_array_size(g_store_ops), 0);
    json_t *reqs = fake_http("/_requests", NULL);
    json_t *msgs = json_object_get(request_body(reqs, 0), "messages");
    ck_assert_uint_eq(json_array_size(msgs), 4);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(msgs, 0), "content")), "The user likes tea"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 1), "content")), "earlier question");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 2), "content")), "earlier answer");
    json_decref(reqs);
    result_free(&r);

    ck_agent_t *agent = ck_agent_create(g_loop, (ck_store_t *)1, &c);
    json_t *want = ck_agent_context_request(agent);
    ck_assert_int_eq(json_integer_value(json_object_get(want, "limit")), 11);
    ck_assert(json_is_true(json_object_get(want, "facts")));
    json_decref(want);
    ck_agent_destroy(agent);
    c.retrieval_only = 1;
    agent = ck_agent_create(g_loop, (ck_store_t *)1, &c);
    ck_assert_ptr_null(ck_agent_context_request(agent)); /* no history read: nothing to ask */
    ck_agent_destroy(agent);
    ck_assert_ptr_null(ck_agent_context_request(NULL));
}
END_TEST

START_TEST(search_tool_round_trip)
{
    script("{\"responses\":[{\"tool_calls\":[{\"name\":\"search\",\"arguments\":{\"query\":\"install\",\"limit\":2}}]},"
           "{\"text\":\"Use make run [1].\"}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    run_turn(&c, USER_MSG, NULL, &r, 5000);
    ck_assert_int_eq(r.finished, 1);
    ck_assert_str_eq(ev_type(&r, 0), "progress_update");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.events, 0), "text")), "Searching: install");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.events, 0), "icon")), "search");
    ck_assert_str_eq(done_text(&r), "Use make run [1].");
    /* sources deduplicated by source, file vs url */
    const json_t *ann = json_object_get(json_array_get(json_object_get(done_item(&r), "content"), 0), "annotations");
    ck_assert_uint_eq(json_array_size(ann), 2);
    const json_t *s0 = json_object_get(json_array_get(ann, 0), "source");
    const json_t *s1 = json_object_get(json_array_get(ann, 1), "source");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "type")), "file");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "filename")), "docs/install.md");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "title")), "Install");
    ck_assert_str_eq(json_string_value(json_object_get(s1, "type")), "url");
    ck_assert_str_eq(json_string_value(json_object_get(s1, "url")), "https://ex.com/a");
    ck_assert_uint_eq(count_type(&r, "assistant_message.content_part.annotation_added"), 2);
    /* the store search and the tool message fed back */
    json_t *op = json_array_get(g_store_ops, 1);
    ck_assert_str_eq(json_string_value(json_object_get(op, "op")), "search");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(op, "params"), "limit")), 2);
    json_t *reqs = fake_http("/_requests", NULL);
    json_t *msgs = json_object_get(request_body(reqs, 1), "messages");
    size_t n = json_array_size(msgs);
    json_t *call_msg = json_array_get(msgs, n - 2), *tool_msg = json_array_get(msgs, n - 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(call_msg, "tool_calls"), 0), "function"), "arguments")),
        "{\"query\": \"install\", \"limit\": 2}");
    ck_assert_str_eq(json_string_value(json_object_get(tool_msg, "role")), "tool");
    ck_assert_str_eq(json_string_value(json_object_get(tool_msg, "tool_call_id")), "call_fake_0");
    json_t *out = json_loads(json_string_value(json_object_get(tool_msg, "content")), 0, NULL);
    ck_assert(json_equal(out, g_search_reply));
    json_decref(out);
    json_decref(reqs);
    result_free(&r);
}
END_TEST

START_TEST(parallel_tools_and_bad_tool)
{
    script("{\"responses\":[{\"tool_calls\":[{\"name\":\"search\",\"arguments\":{\"query\":\"a\"}},"
           "{\"name\":\"search\",\"arguments\":{\"query\":\"b\"}},{\"name\":\"nope\",\"arguments\":\"{}\"},"
           "{\"name\":\"search\",\"arguments\":\"not json\"}]},{\"text\":\"done\"}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    run_turn(&c, USER_MSG, NULL, &r, 5000);
    ck_assert_int_eq(r.finished, 1);
    ck_assert_int_eq(g_pending_max, 2); /* both searches in flight together */
    ck_assert_uint_eq(count_type(&r, "progress_update"), 2);
    json_t *reqs = fake_http("/_requests", NULL);
    json_t *msgs = json_object_get(request_body(reqs, 1), "messages");
    size_t n = json_array_size(msgs);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, n - 4), "tool_call_id")), "call_fake_0");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(msgs, n - 2), "content")), "unknown tool"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(msgs, n - 1), "content")), "query"));
    json_decref(reqs);
    result_free(&r);
}
END_TEST

START_TEST(max_turns_stops)
{
    script("{\"responses\":[{\"tool_calls\":[{\"name\":\"search\",\"arguments\":{\"query\":\"a\"}}]},"
           "{\"tool_calls\":[{\"name\":\"search\",\"arguments\":{\"query\":\"b\"}}]}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.max_turns = 2;
    run_turn(&c, USER_MSG, NULL, &r, 5000);
    ck_assert_int_eq(r.finished, 1);
    ck_assert_ptr_nonnull(strstr(done_text(&r), "stopped after 2 model round trips"));
    json_t *reqs = fake_http("/_requests", NULL);
    ck_assert_uint_eq(json_array_size(reqs), 3); /* two rounds + the title call */
    json_decref(reqs);
    result_free(&r);
}
END_TEST

/* --- the upstream failing: one table row per case ----------------------------------- */

typedef struct upstream_case {
    const char *name;
    const char *script; /* the fake model's scripted responses */
    int max_retries;    /* -1: base_config()'s */
    int first_token_ms; /* 0: base_config()'s */
    int stall_ms;       /* 0: base_config()'s */
    int wait_ms;        /* how long run_turn() may take */
    const char *answer; /* NULL: the turn ends with a retryable stream.error */
    int requests;       /* model calls made (title call included); -1: not checked */
    int min_deltas;     /* text deltas forwarded before the error */
    int no_title;       /* 1: no title was generated */
} upstream_case_t;

static const upstream_case_t UPSTREAM[] = {
    {"retries_before_first_token",
     "{\"responses\":[{\"status\":500},{\"status\":429,\"retry_after\":0},{\"text\":\"finally\"}]}", 2, 0, 0, 10000,
     "finally", 4 /* 3 attempts + title */, 0, 0},
    {"http_500_is_stream_error", "{\"responses\":[{\"status\":500},{\"status\":500}]}", 1, 0, 0, 10000, NULL, -1, 0, 1},
    {"client_error_not_retried", "{\"responses\":[{\"status\":400},{\"text\":\"never\"}]}", 3, 0, 0, 5000, NULL, 1, 0,
     0},
    {"garbage_is_stream_error", "{\"responses\":[{\"garbage\":\"<html>bad gateway</html>\"}]}", -1, 0, 0, 5000, NULL,
     -1, 0, 0},
    {"error_after_text_is_not_retried",
     "{\"responses\":[{\"text\":\"partial answer\",\"error\":\"boom\"},{\"text\":\"never\"}]}", 3, 0, 0, 5000, NULL, 1,
     1, 0},
    /* the model hangs far longer than the test waits: only the first-token timeout can end the turn */
    {"first_token_timeout", "{\"responses\":[{\"hang_ms\":60000}]}", -1, 300, 0, 20000, NULL, -1, 0, 0},
    {"stall_timeout", "{\"responses\":[{\"text\":\"some text\",\"stall_ms\":60000}]}", -1, 0, 300, 20000, NULL, -1, 0,
     0},
};

START_TEST(upstream_failures)
{
    const upstream_case_t *u = &UPSTREAM[_i];
    script(u->script);
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    if (u->max_retries >= 0)
        c.max_retries = u->max_retries;
    if (u->first_token_ms > 0)
        c.first_token_timeout_ms = u->first_token_ms;
    if (u->stall_ms > 0)
        c.stall_timeout_ms = u->stall_ms;
    run_turn(&c, USER_MSG, NULL, &r, u->wait_ms);
    ck_assert_msg(r.finished == 1, "%s: the turn did not finish", u->name);
    if (u->answer != NULL)
        ck_assert_str_eq(done_text(&r), u->answer);
    else
        assert_stream_error(&r);
    if (u->min_deltas > 0)
        ck_assert_uint_ge(count_type(&r, "assistant_message.content_part.text_delta"), (size_t)u->min_deltas);
    if (u->no_title)
        ck_assert_ptr_null(r.title);
    if (u->requests >= 0) {
        json_t *reqs = fake_http("/_requests", NULL);
        ck_assert_msg(json_array_size(reqs) == (size_t)u->requests, "%s: %zu model calls, want %d", u->name,
                      json_array_size(reqs), u->requests);
        json_decref(reqs);
    }
    result_free(&r);
}
END_TEST

START_TEST(cancel_inside_sink)
{
    script("{\"responses\":[{\"chunks\":[\"a\",\"b\",\"c\",\"d\"],\"delay_ms\":20}]}");
    turn_result_t r = {.cancel_on_delta = 2};
    ck_agent_config_t c = base_config();
    run_turn(&c, USER_MSG, NULL, &r, 1500);
    ck_assert_int_eq(r.finished, 0);
    ck_assert_int_eq(r.deltas, 2);
    ck_assert_str_eq(ev_type(&r, json_array_size(r.events) - 1), "assistant_message.content_part.text_delta");
    result_free(&r);
}
END_TEST

/* Runs the turn of `script_json` (answer "abcd") with a pause at the first
 * text delta: run_turn checks that nothing arrives during the 300 ms pause. */
static void run_paused_turn(const char *script_json, turn_result_t *r)
{
    script(script_json);
    *r = (turn_result_t){.pause_on_delta = 1};
    ck_agent_config_t c = base_config();
    run_turn(&c, USER_MSG, NULL, r, 5000);
    ck_assert_int_eq(r->finished, 1);
    ck_assert_str_eq(done_text(r), "abcd");
}

START_TEST(pause_holds_events)
{
    turn_result_t r;
    run_paused_turn(
        "{\"responses\":[{\"chunks\":[\"a\",\"b\",\"c\",\"d\"],\"delay_ms\":10}],\"nonstream\":[{\"text\":\"T\"}]}",
        &r);
    result_free(&r);
}
END_TEST

/* The whole answer arrives in one read: the deltas after the one that
 * paused the turn, and the answer's end, wait for the unpause. */
START_TEST(pause_within_one_read)
{
    turn_result_t r;
    run_paused_turn(
        "{\"responses\":[{\"chunks\":[\"a\",\"b\",\"c\",\"d\"],\"burst\":true}],\"nonstream\":[{\"text\":\"T\"}]}", &r);
    ck_assert_int_eq(r.deltas, 4);
    ck_assert_int_eq(r.while_paused, 0);
    result_free(&r);
}
END_TEST

START_TEST(image_attachment_as_data_url)
{
    static const char msg[] =
        "{\"id\":\"msg_u2\",\"type\":\"user_message\",\"content\":[{\"type\":\"input_text\",\"text\":\"What is "
        "this?\"}],"
        "\"attachments\":[{\"id\":\"atc_1\",\"name\":\"cat.png\",\"mime_type\":\"image/png\",\"type\":\"image\","
        "\"preview_url\":\"https://x/"
        "p\"}],\"inference_options\":{\"model\":\"other-model\",\"tool_choice\":{\"id\":\"search\"}}}";
    script("{\"responses\":[{\"text\":\"A cat.\"}]}");
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.allow_model_override = 1;
    run_turn(&c, msg, NULL, &r, 5000);
    ck_assert_int_eq(r.finished, 1);
    json_t *op = json_array_get(g_store_ops, 1);
    ck_assert_str_eq(json_string_value(json_object_get(op, "op")), "attachments.load");
    json_t *reqs = fake_http("/_requests", NULL);
    json_t *body = request_body(reqs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "other-model");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_object_get(body, "tool_choice"), "function"), "name")),
        "search");
    json_t *msgs = json_object_get(body, "messages");
    json_t *parts = json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(parts, 1), "image_url"), "url")),
                     "data:image/png;base64,iVBORw0KGgo=");
    json_decref(reqs);
    result_free(&r);
}
END_TEST

START_TEST(retrieval_only_mode)
{
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.retrieval_only = 1;
    run_turn(&c, USER_MSG, NULL, &r, 3000);
    ck_assert_int_eq(r.finished, 1);
    ck_assert_ptr_nonnull(strstr(done_text(&r), "No language model is configured"));
    ck_assert_ptr_nonnull(strstr(done_text(&r), "**Install** (docs/install.md)\n\n> Run make run."));
    ck_assert_ptr_nonnull(strstr(done_text(&r), "> Line one\n> line two"));
    ck_assert_uint_eq(count_type(&r, "assistant_message.content_part.annotation_added"), 2);
    json_t *op = json_array_get(g_store_ops, 0);
    ck_assert_uint_eq(json_array_size(g_store_ops), 1);
    ck_assert_str_eq(json_string_value(json_object_get(op, "op")), "search");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(op, "params"), "limit")), 3);
    ck_assert_str_eq(json_string_value(r.title), "How do I install chatkitd on");
    json_t *reqs = fake_http("/_requests", NULL);
    ck_assert_uint_eq(json_array_size(reqs), 0);
    json_decref(reqs);
    result_free(&r);
}
END_TEST

START_TEST(retrieval_only_empty_corpus)
{
    json_decref(g_search_reply);
    g_search_reply = json_loads("{\"results\":[]}", 0, NULL);
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.retrieval_only = 1;
    run_turn(&c, USER_MSG, NULL, &r, 3000);
    ck_assert_int_eq(r.finished, 1);
    ck_assert_ptr_nonnull(strstr(done_text(&r), "the documentation does not cover this question"));
    ck_assert_uint_eq(count_type(&r, "assistant_message.content_part.annotation_added"), 0);
    result_free(&r);
}
END_TEST

START_TEST(unreachable_upstream)
{
    turn_result_t r = {0};
    ck_agent_config_t c = base_config();
    c.base_url = "http://127.0.0.1:1/v1";
    c.max_retries = 1;
    run_turn(&c, USER_MSG, NULL, &r, 5000);
    assert_stream_error(&r);
    result_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("agent_loop");
    TCase *tc = tcase_create("e2e");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, canonical_stream_and_prompt);
    tcase_add_test(tc, preloaded_context_skips_the_query);
    tcase_add_test(tc, search_tool_round_trip);
    tcase_add_test(tc, parallel_tools_and_bad_tool);
    tcase_add_test(tc, max_turns_stops);
    tcase_add_loop_test(tc, upstream_failures, 0, (int)(sizeof(UPSTREAM) / sizeof(UPSTREAM[0])));
    tcase_add_test(tc, cancel_inside_sink);
    tcase_add_test(tc, pause_holds_events);
    tcase_add_test(tc, pause_within_one_read);
    tcase_add_test(tc, image_attachment_as_data_url);
    tcase_add_test(tc, retrieval_only_mode);
    tcase_add_test(tc, retrieval_only_empty_corpus);
    tcase_add_test(tc, unreachable_upstream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = ck_check_run(suite());
    curl_global_cleanup();
    return status;
}
