"""test_ops.py - operating chatkitd: GET /metrics (Prometheus text format,
parsed by the real prometheus_client parser, values moving as requests are
made), request ids (kept, generated, on every answer, in error bodies), and
the JSON log lines (one access line per request, the start-up line)."""

import json
import os
import re
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from lib import assert_error_body, check, request, user_input, wait_until

FIXED = {
    "chatkitd_requests_total": ("counter", {"op", "status"}),
    "chatkitd_request_duration_seconds": ("histogram", {"op"}),
    "chatkitd_turn_first_token_seconds": ("histogram", {"assistant", "model"}),
    "chatkitd_turn_duration_seconds": ("histogram", {"assistant", "model"}),
    "chatkitd_model_requests_total": ("counter", {"model", "outcome"}),
    "chatkitd_model_tokens_total": ("counter", {"model", "kind"}),
    "chatkitd_tool_calls_total": ("counter", {"tool", "outcome"}),
    "chatkitd_search_duration_seconds": ("histogram", set()),
    "chatkitd_rate_limited_total": ("counter", {"limit"}),
    "chatkitd_auth_failures_total": ("counter", {"reason"}),
    "chatkitd_open_streams": ("gauge", set()),
    "chatkitd_db_up": ("gauge", set()),
    "chatkitd_build_info": ("gauge", {"version"}),
}


def scrape(base, headers=None, http="1.1"):
    """GET /metrics parsed: {sample name: {frozenset(labels.items()): value}},
    plus the families' types under the key "__types__"."""
    resp = request("GET", base + "/metrics", headers=headers, http=http)
    check(resp.status == 200, "GET /metrics: HTTP %s %s" % (resp.status, resp.text()[:200]))
    check(resp.content_type().startswith("text/plain; version=0.0.4"), "content-type %r" % resp.content_type())
    out = {"__types__": {}}
    for fam in text_string_to_metric_families(resp.text()):
        out["__types__"][fam.name] = fam.type
        for s in fam.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def value(m, name, **labels):
    return m.get(name, {}).get(frozenset(labels.items()), 0.0)


def test_metrics_exposition_is_parsed_and_moves(env, http):
    before = scrape(env.server, http=http)
    types = before["__types__"]
    for name, (kind, label_names) in FIXED.items():
        family = name[:-len("_total")] if kind == "counter" else name
        check(types.get(family) == kind, "%s: type %r, want %s" % (name, types.get(family), kind))
        sample = name + ("_count" if kind == "histogram" else "")
        for key in before.get(sample, {}):
            got = {k for k, _ in key}
            check(got == label_names, "%s labels %s, want %s" % (name, sorted(got), sorted(label_names)))
    check(value(before, "chatkitd_db_up") == 1, "db_up %r" % value(before, "chatkitd_db_up"))
    check(any(v == 1 for v in before["chatkitd_build_info"].values()), "build_info %r" % before["chatkitd_build_info"])

    c = env.client(http)
    for _ in range(3):
        c.call("threads.list", {})
    c.call("threads.get_by_id", {"thread_id": "thr_missing"}, expect=404)
    c.raw("GET", "/no/such/route")
    tid, _ = c.create_thread("metrics please")

    def moved():
        m = scrape(env.server, http=http)
        ok = (value(m, "chatkitd_requests_total", op="threads.list", status="200") -
              value(before, "chatkitd_requests_total", op="threads.list", status="200") >= 3 and
              value(m, "chatkitd_requests_total", op="threads.get_by_id", status="404") >
              value(before, "chatkitd_requests_total", op="threads.get_by_id", status="404") and
              value(m, "chatkitd_requests_total", op="other", status="404") >
              value(before, "chatkitd_requests_total", op="other", status="404") and
              value(m, "chatkitd_request_duration_seconds_count", op="threads.create") >
              value(before, "chatkitd_request_duration_seconds_count", op="threads.create") and
              value(m, "chatkitd_open_streams") == 0)
        return m if ok else None
    m = wait_until(moved, 10, "the request counters to move")
    inf = value(m, "chatkitd_request_duration_seconds_bucket", op="threads.list", le="+Inf")
    check(inf == value(m, "chatkitd_request_duration_seconds_count", op="threads.list"),
          "+Inf bucket equals the count")
    check(value(m, "chatkitd_request_duration_seconds_sum", op="threads.list") > 0, "duration sum is positive")
    check(tid.startswith("thr_") or tid, "thread created")


def test_metrics_token(env):
    srv = env.start_server({"CHATKITD_METRICS_TOKEN": "s3cret-metrics-token"})
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-metrics-token"}):
        resp = request("GET", srv.url + "/metrics", headers=headers)
        assert_error_body(resp, 401)
    m = scrape(srv.url, headers={"Authorization": "Bearer s3cret-metrics-token"})
    check("chatkitd_requests_total" in m, "authorised scrape has the request counter")


def test_auth_and_rate_limit_metrics(env):
    srv = env.start_server({"CHATKITD_JWT_SECRET": "x" * 40})
    resp = request("POST", srv.url + "/chatkit", body='{"type":"threads.list","params":{}}',
                   headers={"Content-Type": "application/json"})
    assert_error_body(resp, 401)
    wait_until(lambda: value(scrape(srv.url), "chatkitd_auth_failures_total", reason="missing_token") == 1, 10,
               "auth_failures_total{reason=missing_token} = 1")
    srv2 = env.start_server({"CHATKITD_RATE_REQUESTS_PER_MIN": "2"})
    c = env.client(base=srv2.url)
    codes = [c.post_chatkit({"type": "threads.list", "params": {}}).status for _ in range(4)]
    check(codes.count(429) >= 1, "a 429 after the request budget: %r" % codes)
    wait_until(lambda: value(scrape(srv2.url), "chatkitd_rate_limited_total", limit="requests") == codes.count(429),
               10, "rate_limited_total{limit=requests} counts the 429s")


ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def test_request_ids(env, http):
    c = env.client(http)
    kept = "client-Id_1.2"
    resp = c.raw("GET", "/healthz", headers={"X-Request-Id": kept})
    check(resp.headers.get("x-request-id") == kept, "valid id kept: %r" % resp.headers.get("x-request-id"))
    longest = "a" * 128
    resp = c.raw("GET", "/healthz", headers={"X-Request-Id": longest})
    check(resp.headers.get("x-request-id") == longest, "128 characters are kept")
    seen = set()
    for bad in ("a" * 129, "has space", "semi;colon", "a,b", "slash/no", None):
        resp = c.raw("GET", "/healthz", headers={"X-Request-Id": bad} if bad is not None else None)
        rid = resp.headers.get("x-request-id")
        check(rid and rid != bad and ID_RE.match(rid), "id %r replaced by a generated one, got %r" % (bad, rid))
        seen.add(rid)
    check(len(seen) == 6, "generated ids differ: %r" % seen)
    # JSON error bodies carry the id of their request, the client's when valid
    resp = c.post_chatkit({"type": "threads.explode", "params": {}}, headers={"X-Request-Id": "err-42"})
    err = assert_error_body(resp, 400)
    check(err["request_id"] == "err-42", "error body request_id %r" % err)
    resp = c.raw("GET", "/missing", headers={"X-Request-Id": "x y"})
    err = assert_error_body(resp, 404)
    check(err["request_id"] != "x y", "invalid client id is not echoed")
    # SSE answers carry it too
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("hi")}},
                          headers={"X-Request-Id": "stream-7"}, max_events=10 ** 9, timeout=60)
    check(resp.status == 200 and resp.content_type().startswith("text/event-stream"), "stream answered")
    check(resp.headers.get("x-request-id") == "stream-7", "SSE answer header %r" % resp.headers.get("x-request-id"))
    # successful JSON answers
    resp = c.post_chatkit({"type": "threads.list", "params": {}}, headers={"X-Request-Id": "list-1"})
    check(resp.status == 200 and resp.headers.get("x-request-id") == "list-1", "JSON answer header")


def _log_lines(srv):
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def test_json_log_lines(env):
    srv = env.start_server({"CHATKITD_LOG_FORMAT": ""})  # default: json, stderr is a file
    c = env.client(base=srv.url)
    c.raw("GET", "/healthz", headers={"X-Request-Id": "log-check-1"})
    tries = [0]

    def listed():  # each worker connects to the database on its own: retry a 503
        tries[0] += 1
        rid = "log-check-2-%d" % tries[0]
        return rid if c.post_chatkit({"type": "threads.list", "params": {}},
                                     headers={"X-Request-Id": rid}).status == 200 else None
    listed_id = wait_until(listed, 10, "threads.list answered 200")

    def access_lines():
        found = {}
        for line in _log_lines(srv):
            obj = json.loads(line)  # every line is one JSON object
            if obj.get("msg") == "request" and obj.get("request_id") in ("log-check-1", listed_id):
                found[obj["request_id"]] = obj
        return found if len(found) == 2 else None
    found = wait_until(access_lines, 10, "two access lines")
    for line in _log_lines(srv):
        obj = json.loads(line)
        for key in ("time", "level", "msg"):
            check(isinstance(obj.get(key), str), "log line lacks %s: %r" % (key, line))
    a = found[listed_id]
    for key, kind in (("method", str), ("path", str), ("op", str), ("status", int), ("duration_ms", float),
                      ("bytes", int), ("user", str)):
        check(isinstance(a.get(key), kind), "access line %s: %r" % (key, a))
    check(a["method"] == "POST" and a["path"] == "/chatkit" and a["op"] == "threads.list" and a["status"] == 200,
          "access line fields %r" % a)
    check(re.fullmatch(r"[0-9a-f]{16}", a["user"]) and c.user not in json.dumps(a), "user is a keyed hash: %r" % a)
    h = found["log-check-1"]
    check(h["op"] == "/healthz" and h["status"] == 200 and "user" not in h, "public route access line %r" % h)
    # duration_ms in milliseconds with at most 3 decimals (microseconds), as written
    raw = [line for line in _log_lines(srv) if '"msg":"request"' in line and listed_id in line]
    check(len(raw) == 1 and re.search(r'"duration_ms":\d+\.\d{1,3}[,}]', raw[0]), "duration_ms as written: %r" % raw)


def test_turn_with_model(env):
    """A turn against the fake model: X-Request-Id reaches the model endpoint,
    the endpoint's usage feeds the token counter (estimated when it reports
    none), tool calls and search durations are counted, the first-token and
    turn histograms move, and the access line carries the turn's figures."""
    from test_agent_model import Fake, model_server  # the fake OpenAI endpoint
    fake = Fake(env)
    fake.script([{"tool_calls": [{"name": "search", "arguments": {"query": "anything"}}]},
                 {"text": "Here you are.", "usage": {"prompt_tokens": 120, "completion_tokens": 9}},
                 {"text": "Second answer without usage."}],
                nonstream=[{"text": "A title", "usage": {"prompt_tokens": 30, "completion_tokens": 3}}])
    srv = model_server(env, fake, CHATKITD_LOG_FORMAT="json")
    before = scrape(srv.url)
    c = env.client("1.1", base=srv.url)
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("find it")}},
                          headers={"X-Request-Id": "turn-req-1"}, max_events=10 ** 9, timeout=60)
    check(resp.status == 200 and resp.headers.get("x-request-id") == "turn-req-1", "stream with the client's id")
    check(not any(e["type"] == "error" for e in resp.events), "turn failed: %r" % resp.events[-2:])
    tid = resp.events[0]["thread"]["id"]
    ev = c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("again")}).events
    check(not any(e["type"] == "error" for e in ev), "second turn failed: %r" % ev[-2:])

    reqs = [r for r in fake.requests() if r["path"].endswith("/chat/completions")]
    check(len(reqs) == 4, "4 model calls (tool round, answer, title, second answer): %d" % len(reqs))
    check(all(r["headers"].get("x-request-id") == "turn-req-1" for r in reqs[:3]),
          "the first turn's model calls carry its id: %r" % [r["headers"] for r in reqs[:3]])
    second = reqs[3]["headers"].get("x-request-id")
    check(second and ID_RE.match(second) and second != "turn-req-1", "the second turn has its own id: %r" % second)
    check(all((r["body"] or {}).get("stream_options") == {"include_usage": True} for r in reqs if r["body"]["stream"]),
          "streamed calls ask for usage")

    def moved():
        m = scrape(srv.url)
        d = lambda name, **l: value(m, name, **l) - value(before, name, **l)  # noqa: E731
        ok = (d("chatkitd_model_requests_total", model="fake-model", outcome="ok") == 4 and
              d("chatkitd_tool_calls_total", tool="search", outcome="ok") == 1 and
              d("chatkitd_search_duration_seconds_count") == 1 and
              d("chatkitd_turn_first_token_seconds_count", assistant="default", model="fake-model") == 2 and
              d("chatkitd_turn_duration_seconds_count", assistant="default", model="fake-model") == 2 and
              value(m, "chatkitd_open_streams") == 0)
        return (m, d) if ok else None
    m, d = wait_until(moved, 10, "the model, tool and turn metrics to move")
    prompt = d("chatkitd_model_tokens_total", model="fake-model", kind="prompt")
    completion = d("chatkitd_model_tokens_total", model="fake-model", kind="completion")
    # reported: 120 + 30 prompt, 9 + 3 completion; the tool round and the second answer are estimated (> 0)
    check(prompt > 150 and completion > 12, "tokens: prompt %r completion %r" % (prompt, completion))

    def access():
        for line in _log_lines(srv):
            obj = json.loads(line)
            if obj.get("msg") == "request" and obj.get("request_id") == "turn-req-1":
                return obj
        return None
    a = wait_until(access, 10, "the turn's access line")
    check(a["op"] == "threads.create" and a["assistant"] == "default" and a["model"] == "fake-model" and
          a["tool_calls"] == 1 and a["first_token_ms"] >= 0 and a["prompt_tokens"] > 150 and
          a["completion_tokens"] >= 12, "access line figures %r" % a)


def test_error_event_has_message(env):
    from test_agent_model import Fake, model_server
    fake = Fake(env)
    fake.script([{"status": 500}])
    srv = model_server(env, fake, CHATKITD_LOG_FORMAT="json")
    c = env.client("1.1", base=srv.url)
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("fail please")}},
                          headers={"X-Request-Id": "fail-req-1"}, max_events=10 ** 9, timeout=60)
    last = resp.events[-1]
    check(last["type"] == "error" and isinstance(last.get("message"), str) and len(last["message"]) > 10,
          "error event with a readable message: %r" % last)

    def warned():
        for line in _log_lines(srv):
            obj = json.loads(line)
            if obj.get("level") == "warn" and "failed" in obj.get("msg", "") and obj.get("request_id") == "fail-req-1":
                return obj
        return None
    wait_until(warned, 10, "the failure's log line carries the request id")
    check(value(scrape(srv.url), "chatkitd_model_requests_total", model="fake-model", outcome="error") == 1,
          "the failed model call is counted")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_monitoring_files_use_existing_metrics(env):
    """docs/grafana-dashboard.json and docs/prometheus-alerts.yml name only
    series the server exposes, and the alerts cover the error rate, the
    first-token latency, the database and rate-limiting spikes."""
    m = scrape(env.server)
    exposed = set()
    for family, kind in m["__types__"].items():
        exposed |= {family + "_total"} if kind == "counter" else \
            {family + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {family}
    with open(os.path.join(ROOT, "docs", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    check(len(exprs) >= 10, "the dashboard has its panels: %d queries" % len(exprs))
    with open(os.path.join(ROOT, "docs", "prometheus-alerts.yml")) as f:
        alerts = f.read()
    for where, text in (("dashboard", "\n".join(exprs) + json.dumps(dashboard["templating"])), ("alerts", alerts)):
        refs = set(re.findall(r"\bchatkitd_[a-z_]+", text))
        check(refs and refs <= exposed, "%s names unknown series: %s" % (where, sorted(refs - exposed)))
    for needle in ('status=~"5.."', "chatkitd_turn_first_token_seconds_bucket", "chatkitd_db_up",
                   "chatkitd_rate_limited_total"):
        check(needle in alerts, "the alerting rules cover %s" % needle)


def test_version_and_packaging(env):
    out = subprocess.run([env.suite.binary, "--version"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0 and re.fullmatch(r"chatkitd \d+\.\d+\.\d+\n", out.stdout), "--version: %r" % out.stdout)
    m = scrape(env.server)
    version = out.stdout.split()[1]
    check(value(m, "chatkitd_build_info", version=version) == 1, "build_info has the same version")
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        ignored = f.read().split()
    check("var/" in ignored and "build/" in ignored and ".git" in ignored, ".dockerignore: %r" % ignored)
    with open(os.path.join(ROOT, "packaging", "chatkitd.service")) as f:
        unit = f.read()
    for line in ("Type=simple", "NoNewPrivileges=yes", "ProtectSystem=strict", "ExecStart=/usr/local/bin/chatkitd"):
        check(line in unit, "systemd unit lacks %s" % line)


def test_startup_line(env):
    """The one "chatkitd started" line: listen addresses, workers, the
    database without its password, the model endpoint and model (or
    "retrieval-only"), the auth mode and the limits."""
    from test_agent_model import Fake, model_server

    def started(srv):
        def line():
            for text in _log_lines(srv):
                obj = json.loads(text)
                if obj.get("msg") == "chatkitd started":
                    return obj
            return None
        return wait_until(line, 10, "the start-up line")

    fake = Fake(env)
    srv = model_server(env, fake, database_url=env.pg.conninfo + " password=hunter2-not-logged",
                       CHATKITD_LOG_FORMAT="json", CHATKITD_RATE_TURNS_PER_MIN=7)
    s = started(srv)
    check(s["listen"] == [srv.url + "/"] and s["workers"] == 2, "listen and workers: %r" % s)
    check(s["model_endpoint"] == fake.url + "/v1" and s["model"] == "fake-model", "model: %r" % s)
    check("auth" in s and s["limits"]["turns_per_min"] == 7, "auth mode and limits: %r" % s)
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    check(isinstance(s["database"], str) and s["database"] and "hunter2" not in log, "database: %r" % s["database"])
    s = started(env.start_server({"CHATKITD_LOG_FORMAT": "json"}))
    check(s["model"] == "retrieval-only" and "model_endpoint" not in s, "no model configured: %r" % s)


def test_access_line_hides_url_tokens(env):
    """Upload and preview URLs carry a signed token (a credential holding the
    user id) in their query: the access line's path stops before it."""
    import base64
    import urllib.parse
    from lib import PNG
    srv = env.start_server({"CHATKITD_LOG_FORMAT": "json"})
    c = env.client(base=srv.url)

    def created():
        resp = c.post_chatkit({"type": "attachments.create",
                               "params": {"name": "cat.png", "size": len(PNG), "mime_type": "image/png"}})
        return resp.json() if resp.status == 200 else None  # each worker connects on its own: retry a 503
    att = wait_until(created, 10, "attachments.create answered 200")
    d = att["upload_descriptor"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(d["url"]).query)["token"][0]
    resp = request("PUT", d["url"], body=PNG, headers=dict(d["headers"], **{"Content-Type": "image/png"}))
    check(resp.status == 200, "upload: %r" % resp)
    upload_path = "/attachments/%s/upload" % att["id"]

    def access():
        for line in _log_lines(srv):
            obj = json.loads(line)
            if obj.get("msg") == "request" and obj.get("path", "").startswith("/attachments/" + att["id"]):
                return obj
        return None
    a = wait_until(access, 10, "the upload's access line")
    check(a["path"] == upload_path and a["op"] == "/attachments", "access line %r" % a)
    log = "\n".join(_log_lines(srv))
    encoded = base64.urlsafe_b64encode(c.user.encode()).decode().rstrip("=")
    check(token not in log and "token=" not in log and encoded not in log, "the URL token reached the log")
