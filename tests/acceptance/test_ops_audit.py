"""test_ops_audit.py - the audit log (rows for state-changing actions, with the
request id, never message text; `chatkitd audit` and its filters), the usage
rows behind `chatkitd stats` and GET /admin/stats, and retention."""

import json
import os
import re
import subprocess

from lib import assert_error_body, check, request, user_input, wait_until


def _cli(env, database_url, *args):
    out = subprocess.run([env.suite.binary] + list(args), env=dict(os.environ, DATABASE_URL=database_url,
                                                                    CHATKITD_LOG_FORMAT="text"),
                         capture_output=True, text=True, timeout=60)
    return out


def _audit_rows(env, user):
    out = _cli(env, env.pg.conninfo, "audit", "--user", user, "--since", "1h", "--json")
    check(out.returncode == 0, "chatkitd audit: %s" % out.stderr[-500:])
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_audit_rows_and_cli(env):
    c = env.client("1.1")
    secret = "my secret message text 4111 1111 1111 1111"
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input(secret)}},
                          headers={"X-Request-Id": "audit-create-1"}, max_events=10 ** 9, timeout=60)
    check(resp.status == 200, "threads.create answered")
    tid = resp.events[0]["thread"]["id"]
    items = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    c.post_chatkit({"type": "threads.update", "params": {"thread_id": tid, "title": "zebra title"}},
                   headers={"X-Request-Id": "audit-rename-1"})
    c.call("items.feedback", {"thread_id": tid, "item_ids": [items[0]["id"]], "kind": "positive"})
    c.call("threads.delete", {"thread_id": tid})

    def rows():
        r = _audit_rows(env, c.user)
        return r if len(r) >= 4 else None
    r = wait_until(rows, 15, "four audit rows")
    actions = [x["action"] for x in r]
    check(actions == ["thread.created", "thread.renamed", "feedback", "thread.deleted"], "actions %r" % actions)
    check(r[0]["request_id"] == "audit-create-1" and r[1]["request_id"] == "audit-rename-1", "request ids %r" % r)
    check(all(tid in x["object_ids"] for x in r), "every row names the thread: %r" % r)
    check(items[0]["id"] in r[2]["object_ids"] and r[2]["detail"] == "positive", "feedback row %r" % r[2])
    check(all(x["user_id"] == c.user for x in r), "user recorded")
    dump = json.dumps(r)
    check("secret" not in dump and "4111" not in dump and "zebra" not in dump, "no message text or title: %r" % r)
    # filters and the text form
    out = _cli(env, env.pg.conninfo, "audit", "--user", c.user, "--action", "feedback", "--since=1h", "--json")
    only = [json.loads(line) for line in out.stdout.splitlines()]
    check([x["action"] for x in only] == ["feedback"], "--action filter %r" % only)
    out = _cli(env, env.pg.conninfo, "audit", "--user", c.user)
    check(out.returncode == 0 and "thread.deleted" in out.stdout and "audit-create-1" in out.stdout,
          "text output: %s" % out.stdout[-800:])
    out = _cli(env, env.pg.conninfo, "audit", "--since", "yesterday")
    check(out.returncode == 2 and "--since" in out.stderr, "bad --since refused: %r" % out.stderr)
    out = _cli(env, env.pg.conninfo, "audit", "--frobnicate")
    check(out.returncode == 2 and "--frobnicate" in out.stderr and len(out.stderr.strip().splitlines()) == 1,
          "unknown option named in one line: %r" % out.stderr)


def test_audit_auth_failures(env):
    srv = env.start_server({"CHATKITD_JWT_SECRET": "y" * 40})
    resp = request("POST", srv.url + "/chatkit", body='{"type":"threads.list","params":{}}',
                   headers={"Content-Type": "application/json", "X-Request-Id": "audit-auth-1"})
    assert_error_body(resp, 401)

    def row():
        out = _cli(env, env.pg.conninfo, "audit", "--action", "auth.failure", "--since", "1h", "--json")
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        return [x for x in rows if x["request_id"] == "audit-auth-1"] or None
    r = wait_until(row, 15, "the auth failure row")[0]
    check("missing_token" in r["detail"] and r["user_id"] == "-", "auth failure row %r" % r)


def test_usage_stats_and_admin_route(env):
    from test_agent_model import Fake, model_server
    model = "stats-model-%s" % env.new_user()[-8:]  # a group of its own in the shared database
    fake = Fake(env)
    fake.script([{"tool_calls": [{"name": "search", "arguments": {"query": "x"}}]},
                 {"text": "answer one", "usage": {"prompt_tokens": 100, "completion_tokens": 10}},
                 {"status": 500}])
    srv = model_server(env, fake, CHATKITD_MODEL=model, CHATKITD_ADMIN_TOKEN="admin-token-123456")
    c = env.client("1.1", base=srv.url)
    tid, ev = c.create_thread("first")
    ev = c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("second")}).events
    check(ev[-1]["type"] == "error", "the second turn fails: %r" % ev[-1:])

    def stats():
        out = _cli(env, env.pg.conninfo, "stats", "--since", "1h", "--json")
        check(out.returncode == 0, "chatkitd stats: %s" % out.stderr[-500:])
        doc = json.loads(out.stdout)
        groups = [g for g in doc["groups"] if g["model"] == model]
        return doc if groups and groups[0]["turns"] == 2 else None
    doc = wait_until(stats, 15, "two usage rows")
    g = [g for g in doc["groups"] if g["model"] == model][0]
    check(g["assistant"] == "default" and g["success_rate"] == 0.5 and g["tool_calls"] == 1, "group %r" % g)
    check(g["tokens_in"] >= 100 and g["tokens_out"] >= 10 and g["first_token_p50_ms"] is not None and
          g["turn_p95_ms"] >= g["turn_p50_ms"] > 0, "latencies and tokens %r" % g)
    out = _cli(env, env.pg.conninfo, "stats", "--since", "1h", "--json")
    check(not re.search(r"\d\.\d{5,}", out.stdout), "numbers without binary noise: %s" % out.stdout[:600])
    out = _cli(env, env.pg.conninfo, "stats", "--since", "7d")
    row = [line for line in out.stdout.splitlines() if model in line]
    check(out.returncode == 0 and row and "50.0%" in row[0], "text table:\n%s" % out.stdout)
    # the same JSON over HTTP, behind the admin token
    auth = {"Authorization": "Bearer admin-token-123456"}
    resp = request("GET", srv.url + "/admin/stats?since=1h", headers=auth)
    check(resp.status == 200, "GET /admin/stats: %s" % resp.body[:300])
    http_groups = [x for x in json.loads(resp.body)["groups"] if x["model"] == model]
    check(http_groups == [g], "GET /admin/stats has the same group: %r vs %r" % (http_groups, g))
    assert_error_body(request("GET", srv.url + "/admin/stats?since=1h"), 401)
    assert_error_body(request("GET", srv.url + "/admin/stats?since=1h", headers={"Authorization": "Bearer nope"}), 401)
    assert_error_body(request("GET", srv.url + "/admin/stats?since=forever", headers=auth), 400)
    # disabled without the token
    assert_error_body(request("GET", env.server + "/admin/stats?since=1h", headers=auth), 404)


def test_audit_retention(env):
    user = env.new_user()
    env.pg.psql("INSERT INTO chatkit.audit_log (at, user_id, action) VALUES (now() - interval '100 days', '%s', 'old'),"
                " (now() - interval '10 days', '%s', 'recent')" % (user, user))
    env.start_server({"CHATKITD_AUDIT_RETENTION_DAYS": "30"})  # prunes once at start-up
    wait_until(lambda: env.pg.psql("SELECT string_agg(action, ',') FROM chatkit.audit_log WHERE user_id = '%s'"
                                   % user) == "recent", 15,
               "the 100-day-old row pruned at start-up, the 10-day-old one kept")
    bad = env.start_server({"CHATKITD_AUDIT_RETENTION_DAYS": "0"}, wait=None)
    wait_until(lambda: bad.exited(), 15, "a bad retention refuses to start")


def test_audit_attachments(env):
    import urllib.parse
    from lib import PNG, multipart
    c = env.client("1.1")
    att = c.call("attachments.create", {"name": "notes.txt", "size": 11, "mime_type": "text/plain"})
    d = att["upload_descriptor"]
    resp = request("PUT", d["url"], body=b"hello notes", headers=dict(d["headers"], **{"Content-Type": "text/plain"}))
    check(resp.status == 200 and urllib.parse.urlsplit(d["url"]).path, "two-phase upload: %r" % resp)
    body, ctype = multipart({"file": ("dot.png", "image/png", PNG)})
    resp = c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype, "X-Request-Id": "audit-up-2"})
    check(resp.status == 200, "direct upload: %r" % resp)
    direct = resp.json()
    check(c.call("attachments.delete", {"attachment_id": att["id"]}) == {}, "attachments.delete")

    def rows():
        r = [x for x in _audit_rows(env, c.user) if x["action"].startswith("attachment.")]
        return r if len(r) >= 3 else None
    r = wait_until(rows, 15, "three attachment rows")
    by = {(x["action"], x["object_ids"][0]): x for x in r}
    up = by.get(("attachment.uploaded", att["id"]))
    check(up is not None and up["detail"] == "text/plain", "the two-phase upload's row: %r" % r)
    up2 = by.get(("attachment.uploaded", direct["id"]))
    check(up2 is not None and up2["detail"] == "image/png" and up2["request_id"] == "audit-up-2",
          "the direct upload's row: %r" % r)
    check(("attachment.deleted", att["id"]) in by and len(r) == 3, "the deletion's row: %r" % r)
    check("hello notes" not in json.dumps(r) and "notes.txt" not in json.dumps(r), "no content or file name: %r" % r)


def test_audit_memory_facts_and_tool_calls(env):
    """Facts added (remember tool, extraction after the turn) and removed
    (forget tool, DELETE /memory/<id>, DELETE /memory) each leave a row with
    the fact's id and how, never the fact; the memory tools count as tool
    calls (a tool.call row with name and outcome, chatkitd_tool_calls_total);
    no log line names the raw user id."""
    from test_agent_model import Fake, model_server
    from test_ops import scrape, value
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_MEMORY="auto", CHATKITD_LOG_FORMAT="json")
    c = env.client("1.1", base=srv.url)
    facts = lambda: c.raw("GET", "/memory").json()["data"]  # noqa: E731
    wait_until(lambda: all(c.raw("GET", "/memory").status == 200 for _ in range(4)), 20, "the stores to be ready")
    before = scrape(srv.url)
    fake.script([{"tool_calls": [{"name": "remember", "arguments": {"fact": "The user's mail is bob@example.org"}}]},
                 {"text": "Noted."}],
                nonstream=[{"match": "durable facts", "text": '["The user is a nurse"]'}])
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("I am a nurse, mail me")}},
                          headers={"X-Request-Id": "audit-mem-1"}, max_events=10 ** 9, timeout=60)
    check(resp.status == 200 and not any(e["type"] == "error" for e in resp.events), "first turn: %r" % resp.events[-2:])
    tid = resp.events[0]["thread"]["id"]
    wait_until(lambda: len(facts()) == 2, 20, "the remembered and the extracted fact")
    by_text = {f["fact"]: f["id"] for f in facts()}
    told, extracted = by_text["The user's mail is bob@example.org"], by_text["The user is a nurse"]
    fake.script([{"tool_calls": [{"name": "forget", "arguments": {"id": told}}]}, {"text": "Forgotten."},
                 {"tool_calls": [{"name": "remember", "arguments": {"fact": "The user likes green tea"}},
                                 {"name": "forget", "arguments": {}}]}, {"text": "ok"}])
    for text in ("forget my mail", "I like green tea"):
        ev = c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input(text)}).events
        check(not any(e["type"] == "error" for e in ev), "turn %r: %r" % (text, ev[-2:]))
    check(c.raw("DELETE", "/memory/" + extracted, headers={"X-Request-Id": "audit-mem-del"}).status == 204,
          "DELETE /memory/<id>")
    tea = [f["id"] for f in facts() if f["fact"] == "The user likes green tea"]
    check(len(tea) == 1 and len(facts()) == 1, "only the tea fact is left: %r" % facts())
    check(c.raw("DELETE", "/memory").status == 204 and facts() == [], "DELETE /memory")

    def rows():
        r = _audit_rows(env, c.user)
        mem = [x for x in r if x["action"].startswith("memory.")]
        tools = [x for x in r if x["action"] == "tool.call"]
        return (mem, tools) if len(mem) >= 6 and len(tools) >= 4 else None
    mem, tools = wait_until(rows, 20, "six memory rows and four tool rows")
    got = sorted((x["action"], x["object_ids"][0] if x["object_ids"] else None, x["detail"]) for x in mem)
    want = sorted([("memory.added", told, "remember tool"), ("memory.added", extracted, "extracted after the turn"),
                   ("memory.added", tea[0], "remember tool"), ("memory.removed", told, "forget tool"),
                   ("memory.removed", extracted, "DELETE /memory/<id>"),
                   ("memory.removed", tea[0], "DELETE /memory (1 fact)")])
    check(got == want, "memory rows:\n%r\nwant\n%r" % (got, want))
    added = [x for x in mem if x["action"] == "memory.added"]
    check(all(x["object_ids"][1:] == [tid] for x in added), "an added fact's row names its thread: %r" % added)
    first = [x for x in mem if x["object_ids"][0] == told and x["action"] == "memory.added"][0]
    check(first["request_id"] == "audit-mem-1", "the turn's request id: %r" % first)
    check([x["request_id"] for x in mem if x["detail"] == "DELETE /memory/<id>"] == ["audit-mem-del"],
          "the route's request id: %r" % mem)
    check(sorted(x["detail"] for x in tools) == ["forget: invalid_arguments", "forget: ok", "remember: ok",
                                                 "remember: ok"], "tool.call rows: %r" % tools)
    dump = json.dumps(mem + tools)
    check("bob@example.org" not in dump and "nurse" not in dump and "tea" not in dump, "no fact text: %s" % dump)

    def counted():
        m = scrape(srv.url)
        d = lambda **l: value(m, "chatkitd_tool_calls_total", **l) - value(before, "chatkitd_tool_calls_total", **l)  # noqa: E731
        return d(tool="remember", outcome="ok") == 2 and d(tool="forget", outcome="ok") == 1 and \
            d(tool="forget", outcome="invalid_arguments") == 1 and \
            value(m, "chatkitd_requests_total", op="/memory", status="204") == 2  # the routes' own label
    wait_until(counted, 10, "chatkitd_tool_calls_total for the memory tools")
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    check(c.user not in log, "a log line names the raw user id: %s" % [x for x in log.splitlines() if c.user in x][:3])
