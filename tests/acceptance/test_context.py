"""test_context.py - what the model sees over a long relationship with a
user (docs/context.md), checked exactly at tests/acceptance/fake_openai.py
and in the store: the token budget (history trimmed oldest-first, the new
message intact, an oversized message refused before the stream, tool
results shortened with a marker, one notice per thread), rolling summaries
(stored after the window fills, in the next turns' system message, deleted
with the thread), user memory (tools, facts in every thread of the same
user and never another's, auto extraction, the /memory routes), PII
redaction (placeholders in the stream, the store, the model request and
the log; ordinary numbers untouched), and bad settings refusing to start."""

import json
import os
import re
import subprocess

from lib import check, user_input, wait_until
from test_agent_model import Fake, model_server

PII_TEXT = ("Reach me at jane.doe@example.com or +1 (415) 555-2671; card 4111 1111 1111 1111, "
            "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789.")
PII_REDACTED = "Reach me at [EMAIL] or [PHONE]; card [CARD], IBAN [IBAN], SSN [SSN]."
# Ordinary numbers: order ids, dates, times, amounts, versions, addresses, non-Latin text.
ORDINARY = ("Order 4839201746 (ref A-20240315-0042, ticket 1234567890123452) of 2024-03-15 14:30 "
            "for $1,234.56 / 1 234,56 EUR, app 10.0.19041.1 on 192.168.100.200, "
            "Заказ № 12345678901 от 15.03.2024, 订单号 2024031512345678 金额 ¥1,299.00.")


def _user_texts(messages):
    out = []
    for m in messages:
        if m["role"] != "user":
            continue
        c = m["content"]
        out.append(c if isinstance(c, str) else "".join(p.get("text", "") for p in c))
    return out


def test_context_redaction_on(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_REDACT_PII="on")
    c = env.client("1.1", base=srv.url)
    tid, ev = c.create_thread(PII_TEXT + " " + ORDINARY)
    want = PII_REDACTED + " " + ORDINARY
    streamed = [e["item"] for e in ev if e["type"] == "thread.item.done" and e["item"]["type"] == "user_message"]
    check(len(streamed) == 1 and streamed[0]["content"][0]["text"] == want, "streamed user item: %r" % streamed)
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(stored[0]["content"][0]["text"] == want, "stored user item: %r" % stored[0])
    sent = _user_texts(fake.chat_requests()[-1]["messages"])
    check(sent[-1] == want, "model request: %r" % sent[-1])
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    for secret in ("jane.doe@example.com", "555-2671", "4111 1111", "DE89", "123-45-6789"):
        check(secret not in log and secret not in str(fake.requests()), "%s leaked" % secret)
    # a fact the model remembers is redacted too
    fake.script([{"tool_calls": [{"name": "remember", "arguments": {"fact": "The user's address is bob@example.org"}}]},
                 {"text": "Noted."}])
    _turn(c, tid, "remember my address")
    facts = _memory(c)["data"]
    check([f["fact"] for f in facts] == ["The user's address is [EMAIL]"], "facts: %r" % facts)


def test_context_redaction_off_by_default(env):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client("1.1", base=srv.url)
    tid, _ = c.create_thread(PII_TEXT)
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(stored[0]["content"][0]["text"] == PII_TEXT, "redaction is off by default: %r" % stored[0])


def test_context_bad_settings_refuse_to_start(env):
    fake = Fake(env)
    for name, value in (("CHATKITD_REDACT_PII", "yes"), ("CHATKITD_SUMMARY", "maybe"), ("CHATKITD_MEMORY", "always"),
                        ("CHATKITD_CONTEXT_TOKENS", "lots"), ("CHATKITD_CONTEXT_TOKENS", "10"),
                        ("CHATKITD_MEMORY_MAX_FACTS", "-1")):
        conf = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake", name: value}
        srv = env.start_server(conf, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with %s=%s" % (name, value))
        check(srv.proc.returncode != 0, "%s=%s: exit status 0" % (name, value))
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            check(name in f.read(), "the refusal does not name %s" % name)


# --- helpers -------------------------------------------------------------------

def _turn(c, tid, text):
    ev = c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input(text)}).events
    check(not any(e["type"] == "error" for e in ev), "turn %r failed: %r" % (text[:40], ev))
    return ev


def _notices(events):
    return [e for e in events if e["type"] == "notice"]


def _context_lines(srv):
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        return re.findall(r"context: thread (\S+): (\d+) of (\d+) tokens", f.read())


def _ready(c):
    """Waits until every worker's store answers (a few calls in a row)."""
    wait_until(lambda: all(c.raw("GET", "/memory").status == 200 for _ in range(4)), 20, "the stores to be ready")


def _memory(c, expect=200):
    resp = c.raw("GET", "/memory")
    check(resp.status == expect, "GET /memory: HTTP %s %s" % (resp.status, resp.text()[:300]))
    return resp.json()


# --- token budget ------------------------------------------------------------------

def test_context_budget_trims_history_oldest_first(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_CONTEXT_TOKENS=1500, CHATKITD_SUMMARY="off")
    c = env.client("1.1", base=srv.url)
    words = " ".join("word%d" % i for i in range(120))  # ~250 tokens per message
    tid, ev = c.create_thread("message 0 " + words)
    notices = []
    for i in range(1, 7):
        ev = _turn(c, tid, "message %d %s" % (i, words))
        notices.append(len(_notices(ev)))
    requests = fake.chat_requests()
    last = requests[-1]["messages"]
    check(last[-1] == {"role": "user", "content": "message 6 " + words}, "new message cut: %r" % last[-1]["content"][:80])
    history = [m["content"] for m in last[1:-1]]
    check(0 < len(history) < 10, "history not trimmed to the budget: %d messages" % len(history))
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    texts = [i["content"][0]["text"] for i in stored[:-2]]
    check(history == texts[len(texts) - len(history):], "the history sent is not the newest items: %r" % history)
    # the server's own estimate of every request is within the budget
    lines = _context_lines(srv)
    check(len(lines) == 7 and all(int(n) <= int(b) == 1500 for _, n, b in lines), "context lines: %r" % lines)
    # exactly one notice, on the first turn that left items out (no summary)
    check(sum(notices) == 1, "notices per turn: %r" % notices)
    first = notices.index(1)
    check(len(requests[first + 1]["messages"]) - 2 < (first + 1) * 2, "the noticed turn left nothing out")
    note = [e for e in _turn(c, tid, "one more " + words) if e["type"] == "notice"]
    check(note == [], "the notice was repeated: %r" % note)


def test_context_oversized_message_refused_before_stream(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_CONTEXT_TOKENS=800)
    c = env.client("1.1", base=srv.url)
    huge = " ".join("token%d" % i for i in range(700))  # ~1400 tokens, under the 8000-character input limit
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input(huge)}})
    check(resp.status == 413, "HTTP %s %s" % (resp.status, resp.text()[:200]))
    err = resp.json()["error"]
    check(err["code"] == "too_large" and "CHATKITD_CONTEXT_TOKENS" in err["message"] and "800" in err["message"],
          "error: %r" % err)
    check(c.call("threads.list", {})["data"] == [], "a thread was stored for a refused message")
    check(fake.chat_requests() == [], "the model was called")
    tid, _ = c.create_thread("short question")  # a message that fits still works
    resp = c.post_chatkit({"type": "threads.add_user_message", "params": {"thread_id": tid, "input": user_input(huge)}})
    check(resp.status == 413, "add_user_message: HTTP %s" % resp.status)
    check(len(c.call("items.list", {"thread_id": tid})["data"]) == 2, "the refused message was stored")


def test_context_tool_result_shortened(env):
    pg = env.new_pg()
    corpus = env.tmp_path("corpus")
    os.makedirs(corpus, exist_ok=True)
    for k in range(6):
        with open(os.path.join(corpus, "walrus%d.md" % k), "w") as f:
            f.write("# Walrus guide %d\n\n" % k + " ".join("walrus fact number %d of part %d is long." % (i, k)
                                                            for i in range(150)) + "\n")
    for cmd in (["migrate"], ["ingest", corpus]):
        out = subprocess.run([env.suite.binary] + cmd, env=dict(os.environ, DATABASE_URL=pg.conninfo),
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "chatkitd %s: %s" % (cmd[0], out.stderr[-800:]))
    fake = Fake(env)
    fake.script([{"tool_calls": [{"name": "search", "arguments": {"query": "walrus fact", "limit": 10}}]},
                 {"text": "Walruses."}])
    srv = model_server(env, fake, database_url=pg.conninfo, CHATKITD_CONTEXT_TOKENS=1200)
    c = env.client("1.1", base=srv.url)
    _, ev = c.create_thread("Tell me about walruses")
    check(not any(e["type"] == "error" for e in ev), "turn failed: %r" % ev)
    second = fake.chat_requests()[1]["messages"]
    tool = [m for m in second if m["role"] == "tool"]
    check(len(tool) == 1 and "shortened to fit the context budget" in tool[0]["content"], "tool: %r" % tool[:1])
    check(all(int(n) <= 1200 for _, n, _b in _context_lines(srv)), "over budget: %r" % _context_lines(srv))


# --- summaries -----------------------------------------------------------------------

def test_context_summary_after_window_fills(env):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client("1.1", base=srv.url)
    tid, _ = c.create_thread("message 0")
    summaries = lambda: [r for r in fake.chat_requests(streamed=False)
                         if "running summary" in r["messages"][0]["content"]]
    for i in range(1, 5):
        _turn(c, tid, "message %d" % i)
    check(summaries() == [], "a summary before anything fell out of the window")
    fake.script([], nonstream=[{"match": "running summary", "text": "The user counted messages from zero upward."}])
    _turn(c, tid, "message 5")  # 10 items before it: the next turn drops the two oldest
    wait_until(lambda: env.pg.psql("SELECT count(*) FROM chatkit.thread_context WHERE thread_id = '%s' "
                                   "AND summary IS NOT NULL" % tid) == "1", 20, "the summary to be stored")
    call = summaries()[0]["messages"][1]["content"]
    check("User: message 0" in call and "Assistant: Echo: message 0" in call and "message 1" not in call,
          "summary call: %r" % call)
    ev = _turn(c, tid, "message 6")
    check(_notices(ev) == [], "notice although a summary covers the left-out items: %r" % _notices(ev))
    last = fake.chat_requests()[-1]["messages"]
    system = last[0]["content"]
    check("<conversation_summary>\nThe user counted messages from zero upward.\n</conversation_summary>" in system
          and "Summary of earlier conversation" in system, "system message: %r" % system[-400:])
    check(len(last) == 12 and last[1]["content"] == "message 1", "window: %r" % [m["content"] for m in last[:3]])
    row = env.pg.psql("SELECT summary_item_id FROM chatkit.thread_context WHERE thread_id = '%s'" % tid)
    items = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(row in (items[1]["id"], items[3]["id"]), "summary covers %r" % row)
    c.call("threads.delete", {"thread_id": tid})
    check(env.pg.psql("SELECT count(*) FROM chatkit.thread_context WHERE thread_id = '%s'" % tid) == "0",
          "the summary outlived its thread")


# --- memory ------------------------------------------------------------------------------

def test_context_memory_tools_and_routes(env):
    fake = Fake(env)
    srv = model_server(env, fake)
    alice, bob = env.client("1.1", base=srv.url), env.client("1.1", base=srv.url)
    _ready(alice)
    fake.script([{"tool_calls": [{"name": "remember", "arguments": {"fact": "The user is vegetarian"}}]},
                 {"text": "Noted."},
                 {"tool_calls": [{"name": "remember", "arguments": {"fact": "  the USER is\tvegetarian "}},
                                 {"name": "remember", "arguments": {"fact": "x" * 501}}]},
                 {"text": "Already known."}])
    tid, _ = alice.create_thread("Remember that I am vegetarian")
    tool = [m for m in fake.chat_requests()[1]["messages"] if m["role"] == "tool"]
    out = json.loads(tool[0]["content"])
    check(out["status"] == "remembered" and out["id"].startswith("mem_"), "remember: %r" % out)
    _turn(alice, tid, "Again: I am vegetarian")
    outs = [json.loads(m["content"]) for m in fake.chat_requests()[3]["messages"] if m["role"] == "tool"]
    check(outs[0] == {"status": "already remembered", "id": out["id"]}, "duplicate: %r" % outs[0])
    check("500 characters" in outs[1].get("error", ""), "long fact: %r" % outs[1])
    facts = _memory(alice)["data"]
    check(len(facts) == 1 and set(facts[0]) == {"id", "fact", "created_at", "thread_id"}
          and facts[0]["fact"] == "The user is vegetarian" and facts[0]["thread_id"] == tid, "facts: %r" % facts)
    # a new thread of the same user carries the fact; another user's never does
    alice.create_thread("What should I cook?")
    system = fake.chat_requests()[-1]["messages"][0]["content"]
    check("<user_memory>" in system and "The user is vegetarian" in system and out["id"] in system
          and "UNTRUSTED" in system, "alice's system message: %r" % system[-500:])
    bob.create_thread("What should I cook?")
    system = fake.chat_requests()[-1]["messages"][0]["content"]
    check("vegetarian" not in system and "<user_memory>" not in system, "bob sees alice's memory: %r" % system[-300:])
    check(_memory(bob)["data"] == [], "bob's memory is not empty")
    tools = [t["function"]["name"] for t in fake.chat_requests()[-1]["tools"]]
    check(tools == ["search", "remember", "forget"], "tools: %r" % tools)
    # routes: another user's id is 404, DELETE one, DELETE all
    resp = bob.raw("DELETE", "/memory/" + out["id"])
    check(resp.status == 404 and resp.json()["error"]["code"] == "not_found", "bob deletes alice's fact: %s" % resp.status)
    check(len(_memory(alice)["data"]) == 1, "bob's DELETE removed alice's fact")
    check(alice.raw("DELETE", "/memory/" + out["id"]).status == 204, "DELETE /memory/<id>")
    check(alice.raw("DELETE", "/memory/" + out["id"]).status == 404, "second DELETE")
    fake.script([{"tool_calls": [{"name": "remember", "arguments": {"fact": "The user likes tea"}}]}, {"text": "ok"}])
    alice.create_thread("I like tea")
    check(len(_memory(alice)["data"]) == 1, "remember after delete")
    check(alice.raw("DELETE", "/memory").status == 204 and _memory(alice)["data"] == [], "DELETE /memory")
    resp = alice.raw("POST", "/memory", body="{}")
    check(resp.status == 405 and resp.json()["error"]["code"] == "method_not_allowed", "POST /memory: %s" % resp.status)
    resp = alice.raw("DELETE", "/memory/not%20an%20id")
    check(resp.status == 404 and resp.json()["error"]["code"] == "not_found", "bad id: %s" % resp.status)


def test_context_memory_auto_and_forget(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_MEMORY="auto", CHATKITD_MEMORY_MAX_FACTS=4)
    c = env.client("1.1", base=srv.url)
    _ready(c)
    fake.script([], nonstream=[{"match": "durable facts",
                                "text": '```json\n["The user lives in Lyon", "The user has two cats", '
                                        '"The user is a nurse", "The user likes jazz"]\n```'}])
    tid, ev = c.create_thread("I am a nurse in Lyon with two cats and I like jazz")
    wait_until(lambda: len(_memory(c)["data"]) == 3, 20, "three extracted facts")
    facts = [f["fact"] for f in _memory(c)["data"]]
    check(facts == ["The user lives in Lyon", "The user has two cats", "The user is a nurse"], "facts: %r" % facts)
    call = [r for r in fake.chat_requests(streamed=False) if "durable facts" in r["messages"][0]["content"]][0]
    check("I am a nurse in Lyon" in call["messages"][1]["content"], "extraction input: %r" % call["messages"][1])
    ids = [f["id"] for f in _memory(c)["data"]]
    fake.script([{"tool_calls": [{"name": "forget", "arguments": {"id": ids[1]}}]}, {"text": "Forgotten."}],
                nonstream=[{"match": "durable facts", "text": '["The user drinks tea", "The user reads novels"]'}])
    _turn(c, tid, "Forget the cats")
    tool = [m for m in fake.chat_requests()[-1]["messages"] if m["role"] == "tool"]
    check(json.loads(tool[0]["content"]) == {"status": "forgotten"}, "forget: %r" % tool)
    # the cap (4) keeps the first extra fact and refuses the second
    wait_until(lambda: len(_memory(c)["data"]) == 4, 20, "the capped facts")
    check("The user drinks tea" in [f["fact"] for f in _memory(c)["data"]], "facts: %r" % _memory(c)["data"])
