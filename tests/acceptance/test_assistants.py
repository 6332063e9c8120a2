"""test_assistants.py - several assistants (CHATKITD_ASSISTANTS): refused
configurations, GET /assistants (auth like /chatkit; 404 without a file),
the explicit choice through inference_options.model, the sticky choice
recorded in the thread metadata, 400 for an unknown model, instructions and
model per assistant, routing of the first message over 48 held-out
questions (with the word-overlap baseline for comparison), HTTP tools
(argument validation, headers, a slow, failing and oversized tool server,
tools an assistant does not list) and client tools.

The model is tests/acceptance/fake_openai.py; the tool server is a small
threaded HTTP server in this file."""

import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lib import check, request, user_input, wait_until
from test_agent_model import Fake
from test_security import SECRET, JwtClient, hs_token, claims, ISSUER, AUDIENCE

HERE = os.path.dirname(os.path.abspath(__file__))
ROUTING_FILE = os.path.join(HERE, "assistants", "routing.json")
QUESTIONS_FILE = os.path.join(HERE, "assistants", "routing_questions.json")


def write_config(env, name, config):
    path = env.tmp_path(name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(config if isinstance(config, str) else json.dumps(config))
    return path


def assistants_server(env, fake, path, database_url="shared", **extra):
    conf = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake", "CHATKITD_MODEL": "fake-model",
            "CHATKITD_UPSTREAM_RETRIES": "0", "CHATKITD_WORKERS": "2", "CHATKITD_ASSISTANTS": path,
            "CHATKITD_MEMORY": "off"}  # the offered tools below are exactly the registry's (memory: test_context.py)
    conf.update({k: str(v) for k, v in extra.items()})
    return env.start_server(conf, database_url=database_url)


def message(text, model=None):
    inp = user_input(text)
    if model is not None:
        inp["inference_options"] = {"model": model}
    return inp


def system_of(body):
    return body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else None


def no_error(events, what):
    bad = [e for e in events if e["type"] == "error"]
    check(not bad, "%s: error events %r" % (what, bad))


# --- configuration --------------------------------------------------------------

def test_assistants_bad_configuration_refuses_to_start(env):
    cases = [
        ('{"assistants": [{"id": "a",}]}', "not valid JSON"),
        ({"assistants": [{"id": "a", "tools": ["nope"]}]}, '$.assistants[0].tools[0]: unknown tool "nope"'),
        ({"assistants": [{"id": "a"}, {"id": "a"}]}, '$.assistants[1]: duplicate assistant id "a"'),
        ({"assistants": [{"id": "a"}], "tools": [{"name": "t", "url": "http://127.0.0.1:1/t",
                                                  "headers": {"Authorization": "Bearer ${CK_ACCEPTANCE_UNSET}"}}]},
         "$.tools[0].headers.Authorization: environment variable CK_ACCEPTANCE_UNSET is not set"),
        (None, "cannot open the file"),
    ]
    for i, (cfg, want) in enumerate(cases):
        path = write_config(env, "bad-%d.json" % i, cfg) if cfg is not None else env.tmp_path("missing.json")
        srv = env.start_server({"CHATKITD_ASSISTANTS": path}, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with a bad assistants file %r" % cfg)
        check(srv.proc.returncode == 2, "bad file %r: exit status %s" % (cfg, srv.proc.returncode))
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check(path in log and want in log, "log does not name %r in %r: %s" % (want, path, log[-600:]))


def test_assistants_route_without_a_file_is_404(env):
    c = env.client("1.1")
    resp = c.raw("GET", "/assistants")
    check(resp.status == 404 and resp.json()["error"]["code"] == "not_found", "HTTP %s %r" % (resp.status, resp.body))


def test_assistants_route_lists_them_with_chatkit_auth(env):
    path = write_config(env, "two.json", {"assistants": [
        {"id": "tax", "name": "Ledger", "description": "Taxes, deductions, VAT"},
        {"id": "docs", "name": "Librarian", "description": "The documentation", "default": True}]})
    srv = env.start_server({"CHATKITD_ASSISTANTS": path, "CHATKITD_JWT_SECRET": SECRET,
                            "CHATKITD_JWT_ISSUER": ISSUER, "CHATKITD_JWT_AUDIENCE": AUDIENCE})
    resp = request("GET", srv.url + "/assistants")
    check(resp.status == 401, "no token: HTTP %s" % resp.status)
    resp = request("GET", srv.url + "/assistants", headers={"Authorization": "Bearer " + hs_token(claims("u1"), key="x" * 40)})
    check(resp.status == 401, "bad token: HTTP %s" % resp.status)
    for http in ("1.1", "h2c"):
        c = JwtClient(srv.url, env.new_user(), http)
        resp = c.raw("GET", "/assistants")
        check(resp.status == 200 and resp.content_type().startswith("application/json"), "HTTP %s" % resp.status)
        check(resp.json() == {"data": [
            {"id": "tax", "name": "Ledger", "description": "Taxes, deductions, VAT", "default": False},
            {"id": "docs", "name": "Librarian", "description": "The documentation", "default": True}]},
            "body %r" % resp.json())
    resp = JwtClient(srv.url, env.new_user(), "1.1").raw("POST", "/assistants", body="{}")
    check(resp.status == 405, "POST /assistants: HTTP %s" % resp.status)


# --- choosing ---------------------------------------------------------------------

CHOICE = {"assistants": [
    {"id": "tax", "name": "Ledger", "description": "Taxes", "instructions": "You are Ledger.", "model": "tax-model",
     "tools": []},
    {"id": "docs", "name": "Librarian", "description": "Docs", "instructions": "You are Librarian.",
     "default": True}]}


def test_assistants_explicit_and_sticky_choice(env):
    fake = Fake(env)
    srv = assistants_server(env, fake, write_config(env, "choice.json", CHOICE))
    c = env.client("1.1", base=srv.url)
    # explicit: inference_options.model names an assistant
    resp = c.stream("threads.create", {"input": message("Hello there", model="tax")})
    no_error(resp.events, "create")
    tid = resp.events[0]["thread"]["id"]
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Ledger."), "system prompt %r" % system_of(body))
    check(body["model"] == "tax-model", "model %r" % body["model"])
    check("tools" not in body, "tax lists no tools, offered %r" % body.get("tools"))
    check(c.call("threads.get_by_id", {"thread_id": tid})["metadata"] == {"assistant": "tax"}, "metadata not recorded")
    # sticky: no choice in the next message
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("And then?")}).events, "sticky")
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Ledger.") and body["model"] == "tax-model", "not sticky: %r" % body["model"])
    # another explicit choice switches, and sticks
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("Docs?", model="docs")}).events,
             "switch")
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Librarian.") and body["model"] == "fake-model", "switch: %r" % body["model"])
    check([t["function"]["name"] for t in body["tools"]] == ["search"], "docs tools %r" % body.get("tools"))
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("More")}).events, "sticky 2")
    check(system_of(fake.chat_requests()[-1]).startswith("You are Librarian."), "switch did not stick")
    check(c.call("threads.get_by_id", {"thread_id": tid})["metadata"] == {"assistant": "docs"}, "metadata not updated")
    # an unknown model is a 400 before any stream, and nothing is stored
    n = len(c.call("items.list", {"thread_id": tid})["data"])
    resp = c.stream("threads.add_user_message", {"thread_id": tid, "input": message("x", model="gpt-9")}, expect=400)
    check(len(c.call("items.list", {"thread_id": tid})["data"]) == n, "the refused message was stored")
    resp = c.stream("threads.create", {"input": message("x", model="nobody")}, expect=400)


def test_assistants_model_override_when_allowed(env):
    fake = Fake(env)
    srv = assistants_server(env, fake, write_config(env, "choice.json", CHOICE), CHATKITD_ALLOW_MODEL_OVERRIDE="1")
    c = env.client("1.1", base=srv.url)
    resp = c.stream("threads.create", {"input": message("Hello", model="tax")})
    tid = resp.events[0]["thread"]["id"]
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("Hi", model="big-model")}).events,
             "override")
    body = fake.chat_requests()[-1]
    check(body["model"] == "big-model" and system_of(body).startswith("You are Ledger."),
          "override: model %r, system %r" % (body["model"], system_of(body)[:40]))


def test_assistants_sources(env):
    pg = env.new_pg()
    corpus = env.tmp_path("sources-corpus")
    for sub in ("tax", "general"):
        os.makedirs(os.path.join(corpus, sub), exist_ok=True)
        with open(os.path.join(corpus, sub, "vat.md"), "w") as f:
            f.write("# VAT in %s\n\nThe quarterly VAT return is explained here for the %s team.\n" % (sub, sub))
    for cmd in (["migrate"], ["ingest", "tax", "general"]):
        out = subprocess.run([env.suite.binary] + cmd, env=dict(os.environ, DATABASE_URL=pg.conninfo), cwd=corpus,
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "chatkitd %s: %s" % (cmd[0], out.stderr[-800:]))
    fake = Fake(env)
    config = {"assistants": [{"id": "tax", "sources": ["./tax/"], "default": True}, {"id": "all"}]}
    srv = assistants_server(env, fake, write_config(env, "sources.json", config), database_url=pg.conninfo)
    c = env.client("1.1", base=srv.url)
    for model, want in (("tax", ["tax/vat.md"]), ("all", ["general/vat.md", "tax/vat.md"])):
        fake.script([{"tool_calls": [{"id": "s1", "name": "search", "arguments": {"query": "quarterly VAT return"}}]},
                     {"text": "Here."}])
        no_error(c.stream("threads.create", {"input": message("VAT?", model=model)}).events, model)
        results = tool_outputs(fake.chat_requests()[-1])["s1"]["results"]
        check(sorted(r["source"] for r in results) == want, "%s searched %r" % (model, [r["source"] for r in results]))


# --- HTTP tools -------------------------------------------------------------------

class ToolServer:
    """A threaded HTTP server answering tool calls by path: /ok echoes what it
    got, /slow answers after 3 s, /fail answers 500, /big answers 200 KB of
    JSON, /text answers plain text.  Records every request."""

    def __init__(self, env):
        self.calls = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append({"path": self.path, "body": json.loads(raw),
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path == "/slow":
                    time.sleep(3)
                if self.path == "/fail":
                    return self.answer(500, b'{"error":"boom"}')
                if self.path == "/big":
                    return self.answer(200, json.dumps({"rows": ["x" * 100] * 2000}).encode())
                if self.path == "/text":
                    return self.answer(200, b"not json at all", "text/plain")
                self.answer(200, json.dumps({"rate": 1.08, "got": json.loads(raw)["arguments"]}).encode())

            def answer(self, status, data, ctype="application/json"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        env._cleanups.append(self.stop)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


RATE_PARAMS = {"type": "object", "additionalProperties": False, "required": ["from"],
               "properties": {"from": {"type": "string", "enum": ["EUR", "USD"]}, "amount": {"type": "number"}}}


def tools_config(tool_url):
    return {"assistants": [
        {"id": "money", "name": "Money", "description": "Exchange rates", "instructions": "You are Money.",
         "tools": ["search", "rate", "slow", "fail", "big", "text", "pick_color"], "default": True},
        {"id": "plain", "name": "Plain", "description": "No tools", "tools": []}],
        "tools": [
            {"name": "rate", "description": "Exchange rate", "parameters": RATE_PARAMS, "url": tool_url + "/ok",
             "headers": {"Authorization": "Bearer ${CK_ACCEPTANCE_TOOL_TOKEN}", "X-Tenant": "acme"}},
            {"name": "slow", "url": tool_url + "/slow", "timeout_ms": 400},
            {"name": "fail", "url": tool_url + "/fail"},
            {"name": "big", "url": tool_url + "/big"},
            {"name": "text", "url": tool_url + "/text"},
            {"name": "pick_color", "description": "Ask the user for a colour", "client": True,
             "parameters": {"type": "object", "properties": {"palette": {"type": "string"}}}}]}


def tool_outputs(body):
    return {m["tool_call_id"]: json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"}


def test_assistants_http_tools(env):
    fake = Fake(env)
    tools = ToolServer(env)
    srv = assistants_server(env, fake, write_config(env, "tools.json", tools_config(tools.url)),
                            CK_ACCEPTANCE_TOOL_TOKEN="tok-123")
    c = env.client("1.1", base=srv.url)
    calls = [{"id": "c_ok", "name": "rate", "arguments": {"from": "EUR", "amount": 3}},
             {"id": "c_type", "name": "rate", "arguments": {"from": 7}},
             {"id": "c_enum", "name": "rate", "arguments": {"from": "GBP"}},
             {"id": "c_extra", "name": "rate", "arguments": {"from": "EUR", "secret": "do-not-log"}},
             {"id": "c_missing", "name": "rate", "arguments": {}},
             {"id": "c_slow", "name": "slow", "arguments": {}},
             {"id": "c_fail", "name": "fail", "arguments": {}},
             {"id": "c_big", "name": "big", "arguments": {}},
             {"id": "c_text", "name": "text", "arguments": {}},
             {"id": "c_unknown", "name": "launch_rockets", "arguments": {}}]
    fake.script([{"tool_calls": calls}, {"text": "Done."}])
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": message("What is the rate?")}},
                          headers={"X-Request-Id": "req-tools-1"}, max_events=10 ** 9, timeout=60)
    check(resp.status == 200 and resp.events, "tools turn: HTTP %s" % resp.status)
    no_error(resp.events, "tools turn")
    tid = resp.events[0]["thread"]["id"]
    progress = [e["text"] for e in resp.events if e["type"] == "progress_update"]
    check("Calling rate" in progress and "Calling slow" in progress, "progress %r" % progress)
    final = [e["item"] for e in resp.events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    check(final and final[-1]["content"][0]["text"] == "Done.", "final answer %r" % final)
    first, second = fake.chat_requests()[0], fake.chat_requests()[1]
    offered = sorted(t["function"]["name"] for t in first["tools"])
    check(offered == ["big", "fail", "pick_color", "rate", "search", "slow", "text"], "offered %r" % offered)
    rate = [t["function"] for t in first["tools"] if t["function"]["name"] == "rate"][0]
    check(rate["parameters"] == RATE_PARAMS and rate["description"] == "Exchange rate", "rate tool %r" % rate)
    out = tool_outputs(second)
    check(out["c_ok"] == {"rate": 1.08, "got": {"from": "EUR", "amount": 3}}, "ok output %r" % out["c_ok"])
    check(out["c_type"] == {"error": "invalid arguments for rate: $.from: expected string"}, "%r" % out["c_type"])
    check(out["c_enum"] == {"error": "invalid arguments for rate: $.from: not one of the allowed values"}, "%r" % out["c_enum"])
    check(out["c_extra"] == {"error": "invalid arguments for rate: $.secret: unknown argument"}, "%r" % out["c_extra"])
    check(out["c_missing"] == {"error": "invalid arguments for rate: $.from: required"}, "%r" % out["c_missing"])
    check("timed out" in out["c_slow"]["error"], "slow %r" % out["c_slow"])
    check("HTTP 500" in out["c_fail"]["error"], "fail %r" % out["c_fail"])
    check("larger than 65536 bytes" in out["c_big"]["error"], "big %r" % out["c_big"])
    check("not JSON" in out["c_text"]["error"], "text %r" % out["c_text"])
    check("unknown tool launch_rockets" in out["c_unknown"]["error"], "unknown %r" % out["c_unknown"])
    # what the tool server got: only the valid call and the four others, with the headers
    ok = [r for r in tools.calls if r["path"] == "/ok"]
    check(len(ok) == 1, "invalid calls reached the tool server: %r" % [r["body"] for r in ok])
    check(ok[0]["body"] == {"arguments": {"from": "EUR", "amount": 3}, "user": c.user, "thread_id": tid,
                            "assistant": "money"}, "tool request body %r" % ok[0]["body"])
    check(ok[0]["headers"].get("authorization") == "Bearer tok-123" and ok[0]["headers"].get("x-tenant") == "acme",
          "tool headers %r" % ok[0]["headers"])
    check(ok[0]["headers"].get("content-type") == "application/json", "content type %r" % ok[0]["headers"])
    check(all(r["headers"].get("x-request-id") == "req-tools-1" for r in tools.calls),
          "X-Request-Id of the turn not sent to the tools: %r" % [r["headers"].get("x-request-id") for r in tools.calls])
    metrics = request("GET", srv.url + "/metrics").text()
    for tool, outcome, n in (("rate", "ok", 1), ("rate", "invalid_arguments", 4), ("slow", "error", 1),
                             ("fail", "error", 1), ("big", "error", 1), ("text", "error", 1), ("unknown", "error", 1)):
        line = re.search(r'^chatkitd_tool_calls_total\{(?=[^}]*tool="%s")(?=[^}]*outcome="%s")[^}]*\} (\d+)$'
                         % (tool, outcome), metrics, re.M)
        check(line and int(line.group(1)) == n, "chatkitd_tool_calls_total %s/%s: %r" % (tool, outcome,
              line.group(0) if line else None))
    check(sorted(r["path"] for r in tools.calls) == ["/big", "/fail", "/ok", "/slow", "/text"], "%r" % tools.calls)
    # each call's audit row: tool name and outcome, the turn's request id, never the arguments
    from test_ops_audit import _audit_rows
    want = sorted(["rate: ok"] + ["rate: invalid_arguments"] * 4 +
                  ["%s: error" % t for t in ("slow", "fail", "big", "text", "unknown")])

    def audited():
        rows = [r for r in _audit_rows(env, c.user) if r["action"] == "tool.call"]
        return rows if len(rows) >= len(want) else None
    rows = wait_until(audited, 15, "the tool calls' audit rows")
    check(sorted(r["detail"] for r in rows) == want, "tool.call rows %r" % [r["detail"] for r in rows])
    check(all(r["request_id"] == "req-tools-1" and r["object_ids"] == [tid] for r in rows), "rows %r" % rows)
    check("do-not-log" not in json.dumps(rows), "arguments in the audit log")
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    check(re.search(r"tool rate on thread \S+ answered HTTP 200, \d+ bytes, in \d+ ms", log), "no duration logged")
    check("do-not-log" not in log, "arguments were logged")


def test_assistants_unlisted_tools_never_run(env):
    fake = Fake(env)
    tools = ToolServer(env)
    srv = assistants_server(env, fake, write_config(env, "tools.json", tools_config(tools.url)),
                            CK_ACCEPTANCE_TOOL_TOKEN="tok-123")
    c = env.client("1.1", base=srv.url)
    fake.script([{"tool_calls": [{"id": "c1", "name": "rate", "arguments": {"from": "EUR"}},
                                 {"id": "c2", "name": "pick_color", "arguments": {}},
                                 {"id": "c3", "name": "search", "arguments": {"query": "x"}}]},
                 {"text": "Fine."}])
    resp = c.stream("threads.create", {"input": message("Rates?", model="plain")})
    no_error(resp.events, "plain turn")
    check(not any(e["type"] == "thread.item.done" and e["item"]["type"] == "client_tool_call" for e in resp.events),
          "a client tool call item for an assistant that does not list it")
    first, second = fake.chat_requests()[0], fake.chat_requests()[1]
    check("tools" not in first, "plain was offered tools: %r" % first.get("tools"))
    out = tool_outputs(second)
    check(all("unknown tool" in out[k]["error"] for k in ("c1", "c2", "c3")), "outputs %r" % out)
    check(tools.calls == [], "the tool server was called: %r" % tools.calls)


# --- client tools ------------------------------------------------------------------

def test_assistants_client_tool(env):
    fake = Fake(env)
    tools = ToolServer(env)
    srv = assistants_server(env, fake, write_config(env, "tools.json", tools_config(tools.url)),
                            CK_ACCEPTANCE_TOOL_TOKEN="tok-123")
    c = env.client("1.1", base=srv.url)
    fake.script([{"tool_calls": [{"id": "call_col", "name": "pick_color", "arguments": {"palette": "warm"}}]},
                 {"text": "Red it is."}])
    resp = c.stream("threads.create", {"input": message("Pick a colour for me")})
    no_error(resp.events, "client tool turn")
    tid = resp.events[0]["thread"]["id"]
    items = [e["item"] for e in resp.events if e["type"] == "thread.item.done"]
    call = items[-1]
    check(call["type"] == "client_tool_call" and call["status"] == "pending" and call["name"] == "pick_color" and
          call["arguments"] == {"palette": "warm"} and call["call_id"] == "call_col", "last item %r" % call)
    check(len(fake.chat_requests()) == 1, "the model was called again before the client answered")
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(stored[-1] == call, "stored %r" % stored[-1])
    resp = c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": {"color": "red"}})
    no_error(resp.events, "continuation")
    final = [e["item"] for e in resp.events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    check(final and final[-1]["content"][0]["text"] == "Red it is.", "continuation answer %r" % resp.events)
    msgs = fake.chat_requests()[-1]["messages"]
    check(system_of(fake.chat_requests()[-1]).startswith("You are Money."), "continuation lost the assistant")
    calls = [m for m in msgs if m["role"] == "assistant" and m.get("tool_calls")]
    check(calls and calls[-1]["tool_calls"][0]["function"]["name"] == "pick_color", "messages %r" % msgs)
    outs = [m for m in msgs if m["role"] == "tool"]
    check(outs and json.loads(outs[-1]["content"]) == {"color": "red"}, "tool message %r" % outs)
    check(tools.calls == [], "a client tool reached the tool server")


# --- routing -----------------------------------------------------------------------

def _words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def word_overlap_choice(config, question, threshold=0.55):
    """The baseline of the system chatkitd replaces: the assistant with the
    largest share of the question's words found in one of its texts
    (description or an example), when that share reaches `threshold`; else
    the default."""
    q = _words(question)
    default = [a["id"] for a in config["assistants"] if a.get("default")][0]
    best, choice = 0.0, default
    for a in config["assistants"]:
        for text in [a.get("description", "")] + a.get("examples", []):
            share = len(q & _words(text)) / max(len(q), 1)
            if share > best:
                best, choice = share, a["id"]
    return choice if best >= threshold else default


def test_assistants_routing_accuracy(env):
    with open(ROUTING_FILE, encoding="utf-8") as f:
        config = json.load(f)
    with open(QUESTIONS_FILE, encoding="utf-8") as f:
        questions = json.load(f)["questions"]
    check(len(questions) >= 40 and len({a for a, _ in questions}) == 4, "the question set is too small")
    examples = {e for a in config["assistants"] for e in a.get("examples", [])}
    check(not examples & {q for _, q in questions}, "a test question is also an example")
    fake = Fake(env)
    srv = assistants_server(env, fake, ROUTING_FILE, CHATKITD_RATE_TURNS_PER_MIN=0, CHATKITD_RATE_REQUESTS_PER_MIN=0)
    c = env.client("1.1", base=srv.url)
    routed, wrong, threads = 0, [], {}
    for want, question in questions:
        resp = c.stream("threads.create", {"input": message(question)})
        no_error(resp.events, question)
        tid = resp.events[0]["thread"]["id"]
        got = c.call("threads.get_by_id", {"thread_id": tid})["metadata"].get("assistant")
        threads.setdefault(got, tid)
        if got == want:
            routed += 1
        else:
            wrong.append((question, want, got))
    baseline = sum(1 for want, q in questions if word_overlap_choice(config, q) == want)
    print("    routing accuracy %d/%d (%.1f%%); word-overlap baseline (0.55) %d/%d (%.1f%%)"
          % (routed, len(questions), 100.0 * routed / len(questions), baseline, len(questions),
             100.0 * baseline / len(questions)))
    check(routed >= 0.9 * len(questions) and routed > baseline,
          "routing %d/%d vs baseline %d; wrong: %r" % (routed, len(questions), baseline, wrong))
    # routing happens on the first message only: a tax thread stays tax for an analytics question
    tid = threads["tax"]
    no_error(c.stream("threads.add_user_message",
                      {"thread_id": tid, "input": message("Plot weekly active users in a dashboard chart")}).events,
             "second message")
    check(c.call("threads.get_by_id", {"thread_id": tid})["metadata"] == {"assistant": "tax"}, "the thread was re-routed")
    check(system_of(fake.chat_requests()[-1]).startswith("You are Ledger"), "the second turn did not run as tax")
