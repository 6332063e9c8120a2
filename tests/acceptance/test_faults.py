"""test_faults.py - nothing a client was told is ever lost, under faults.

Each test runs the real server against tests/acceptance/fake_openai.py and a
real PostgreSQL, injects one kind of fault and checks what the clients were
told against what the database holds:

- turn load (~20 clients) while PostgreSQL backends are terminated
  (pg_terminate_backend) and while PostgreSQL restarts (pg_ctl restart -m
  fast): every item whose thread.item.done a client saw must be in the
  database with the text it was shown, every thread.updated title saved;
  acknowledged-but-missing must be 0;
- a write that fails for good (a trigger refuses it): the client gets an
  error event with a message and allow_retry, never the done;
- a write whose connection is killed while it runs: retried on the next
  connection, then the done;
- a write that committed but whose reply was lost (the backend is
  terminated between its commit and its answer): run again on the next
  connection, it writes nothing twice (one usage row, one answer item);
- readiness: right after the first /readyz 200 of a 4-worker server, every
  request on a new connection is served;
- model faults mid-stream (error chunk, truncated body, connection reset,
  garbage, stall, HTTP 500): the stream ends with an error event carrying a
  message, and the text already shown is in the store;
- SIGTERM with streams open: each stream ends with an error event, the
  partial text is saved;
- an HTTP/1.1 client leaving a silent stream (the model thinking, or hung
  after a few tokens): the upstream model request is aborted (the fake sees
  its connection close) long before the next heartbeat, and the turn ends
  as a cancellation (the hidden note and the partial answer are stored).

Each load test prints one summary line (turns, acknowledged items, missing).
"""

import json
import os
import socket
import subprocess
import threading
import time

import lib
from lib import SLOW, USER_HEADER, Client, check, request, sql_literal, user_input, wait_until
from test_agent_model import Fake, model_server

LOAD_CLIENTS = 20
LOAD_SECONDS = 7
NO_LIMITS = {"CHATKITD_RATE_REQUESTS_PER_MIN": "1000000", "CHATKITD_RATE_TURNS_PER_MIN": "1000000"}


def parse_sse(body):
    events = []
    for frame in body.split(b"\n\n"):
        if frame.startswith(b"data: "):
            try:
                events.append(json.loads(frame[6:]))
            except ValueError:
                pass
    return events


def assistant_text(item):
    return "".join(p.get("text", "") for p in item.get("content", []) if isinstance(p, dict))


class Load:
    """LOAD_CLIENTS threads doing turns (a new thread, then follow-ups in
    it) until stopped; records what every stream acknowledged."""

    def __init__(self, env, url):
        self.url = url
        self.users = [env.new_user() for _ in range(LOAD_CLIENTS)]
        self.lock = threading.Lock()
        self.acked = {}     # item id -> (user, type, text)
        self.titles = {}    # thread id -> last title a thread.updated showed
        self.turns = 0      # streams that answered 200
        self.refused = {}   # HTTP status -> count (answered before a stream)
        self.errors = 0     # streams that ended with an error event
        self.broken = 0     # transfers that failed (curl error)
        self.no_message = 0  # error events without a human message
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(u,), daemon=True) for u in self.users]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60 * SLOW)

    def run(self, user):
        thread_id, n = None, 0
        while not self.stop.is_set():
            n += 1
            text = "turn %d of %s" % (n, user)
            if thread_id is None or n % 5 == 0:
                body = {"type": "threads.create", "params": {"input": user_input(text)}}
            else:
                body = {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input(text)}}
            try:
                resp = request("POST", self.url + "/chatkit", body=json.dumps(body), timeout=60,
                               headers={USER_HEADER: user, "Content-Type": "application/json"})
            except Exception:  # noqa: BLE001 - a refused connection counts as broken
                with self.lock:
                    self.broken += 1
                time.sleep(0.05)
                continue
            if resp.status != 200:
                with self.lock:
                    self.refused[resp.status] = self.refused.get(resp.status, 0) + 1
                time.sleep(0.05)
                continue
            events = parse_sse(resp.body)
            with self.lock:
                self.turns += 1
                self.broken += resp.curl_error is not None
                for ev in events:
                    if ev.get("type") == "thread.created":
                        thread_id = ev["thread"]["id"]
                    elif ev.get("type") == "thread.item.done":
                        item = ev["item"]
                        self.acked[item["id"]] = (user, item["type"], assistant_text(item))
                    elif ev.get("type") == "thread.updated" and "title" in ev["thread"]:
                        self.titles[ev["thread"]["id"]] = ev["thread"]["title"]
                    elif ev.get("type") == "error":
                        self.errors += 1
                        self.no_message += not (isinstance(ev.get("message"), str) and ev["message"])

    def verify(self, pg, what):
        """Counts acknowledged items missing from (or different in) the
        database and titles not saved; prints the summary; fails when any."""
        ids = list(self.acked)
        stored = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = pg.psql("SELECT id, data::text FROM chatkit.items WHERE id IN (%s);"
                           % ",".join(sql_literal(x) for x in chunk))
            for line in rows.splitlines():
                item_id, data = line.split("|", 1)
                stored[item_id] = json.loads(data)
        missing = [i for i in ids if i not in stored]
        changed = [i for i in ids if i in stored and self.acked[i][1] == "assistant_message"
                   and assistant_text(stored[i]) != self.acked[i][2]]
        saved = {}
        tids = list(self.titles)
        for i in range(0, len(tids), 500):
            rows = pg.psql("SELECT id, coalesce(title, '') FROM chatkit.threads WHERE id IN (%s);"
                           % ",".join(sql_literal(x) for x in tids[i:i + 500]))
            saved.update(line.split("|", 1) for line in rows.splitlines())
        titles_lost = sum(1 for tid, title in self.titles.items() if saved.get(tid) != title)
        print("     %s: %d turns streamed, %d items acknowledged (%d assistant), %d error events, refused %r, "
              "%d broken transfers; acknowledged-but-missing %d, text differs %d, titles lost %d"
              % (what, self.turns, len(ids), sum(1 for v in self.acked.values() if v[1] == "assistant_message"),
                 self.errors, self.refused, self.broken, len(missing), len(changed), titles_lost), flush=True)
        check(self.turns > 0 and any(v[1] == "assistant_message" for v in self.acked.values()),
              "%s: no turn completed at all" % what)
        check(not missing, "%s: %d acknowledged items are missing from the database, e.g. %r"
              % (what, len(missing), [(i, self.acked[i][:2]) for i in missing[:5]]))
        check(not changed, "%s: %d acknowledged assistant messages differ in the database" % (what, len(changed)))
        check(titles_lost == 0, "%s: %d acknowledged titles not saved" % (what, titles_lost))
        check(self.broken == 0, "%s: %d streams did not end cleanly" % (what, self.broken))
        check(self.no_message == 0, "%s: %d error events without a message" % (what, self.no_message))


def private_pg(env):
    """A private cluster under a short path (the socket path must stay
    under 107 bytes), stopped after the test."""
    pg = lib.PgCluster(os.path.join(env.suite.tmp, "pf%d" % len(env._cleanups)))
    env._cleanups.append(pg.stop)
    pg.start()
    return pg


def fault_server(env, pg, fake, **extra):
    conf = dict(NO_LIMITS)
    conf.update(extra)
    return model_server(env, fake, database_url=pg.conninfo, **conf)


class Terminator:
    """One psql session that terminates every other chatkitd backend each
    time kill() is called (a psql process per kill takes a second on a
    loaded machine)."""

    SQL = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'chatkitd' "
           "AND pid <> pg_backend_pid() AND backend_type = 'client backend';\n")

    def __init__(self, pg):
        cmd = ["psql", "-h", pg.dir, "-p", str(pg.port), "-U", "postgres", "-d", "chatkitd", "-X", "-qAt"]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.killed = 0

    def query(self, sql):
        """One single-row, single-column statement; its value."""
        self.proc.stdin.write(sql)
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kill(self):
        self.killed += int(self.query(self.SQL) or 0)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def test_postgres_faults_under_turn_load(env):
    """One private cluster (initdb is slow on a loaded machine) for the
    three database faults, in turn."""
    pg, fake = private_pg(env), Fake(env)
    srv = fault_server(env, pg, fake)
    # 1. backends terminated every 0.3 s under load
    load = Load(env, srv.url).start()
    deadline = time.monotonic() + LOAD_SECONDS
    kills, term = 0, Terminator(pg)
    time.sleep(0.5)
    while time.monotonic() < deadline:
        term.kill()
        kills += 1
        time.sleep(0.3)
    term.close()
    load.finish()
    load.verify(pg, "pg_terminate_backend x%d (%d backends)" % (kills, term.killed))
    # 2. PostgreSQL restarted twice under load
    load = Load(env, srv.url).start()
    for _ in range(2):
        time.sleep(1.5)
        pg.restart()
    time.sleep(2.5)
    load.finish()
    load.verify(pg, "pg_ctl restart -m fast x2")
    resp = env.client("1.1", base=srv.url).stream("threads.create", {"input": user_input("after the restarts")})
    check(any(e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message" for e in resp.events),
          "no answer after the restarts: %r" % resp.events)
    # 3. the backend running the assistant's write is terminated: the write
    # is retried on a new connection, then the done goes out, once
    write_retried_on_the_next_connection(env, pg, srv)
    # 4. the same after the write committed: the retry writes nothing twice
    committed_write_whose_reply_was_lost(env, pg, srv)


def _stream(srv, user, text, http="1.1", thread_id=None):
    c = Client(srv.url, user, http)
    if thread_id is None:
        return c.stream("threads.create", {"input": user_input(text)})
    return c.stream("threads.add_user_message", {"thread_id": thread_id, "input": user_input(text)})


def _items(pg, thread_id):
    rows = pg.psql("SELECT data::text FROM chatkit.items WHERE thread_id = %s ORDER BY created_at, id;"
                   % sql_literal(thread_id))
    return [json.loads(r) for r in rows.splitlines()]


def test_failed_write_is_never_acknowledged(env):
    """A write that keeps failing: an error event with a message, never the done."""
    fake = Fake(env)
    srv = fault_server(env, env.pg, fake, CHATKITD_PERSIST_RETRY_SECONDS="1")
    user = env.new_user()
    fn = "ck_test_refuse_" + os.urandom(4).hex()
    env.pg.psql("""
CREATE FUNCTION chatkit.%(fn)s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.user_id = %(user)s AND NEW.type = 'assistant_message' THEN
    RAISE EXCEPTION 'refused by the fault test';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER %(fn)s BEFORE INSERT OR UPDATE ON chatkit.items FOR EACH ROW EXECUTE FUNCTION chatkit.%(fn)s();
""" % {"fn": fn, "user": sql_literal(user)})
    try:
        resp = _stream(srv, user, "hello")
    finally:
        env.pg.psql("DROP TRIGGER %s ON chatkit.items; DROP FUNCTION chatkit.%s();" % (fn, fn))
    done = [e for e in resp.events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    check(not done, "the assistant's done reached the client although its write failed: %r" % done)
    last = resp.events[-1]
    check(last["type"] == "error" and last["allow_retry"] is True and last.get("message"),
          "last event %r (want an error with a message and allow_retry)" % last)


def write_retried_on_the_next_connection(env, pg, srv):
    user = env.new_user()
    pg.psql("""
CREATE FUNCTION chatkit.ck_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.user_id = %s AND NEW.type = 'assistant_message' THEN PERFORM pg_sleep(3); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ck_test_slow BEFORE INSERT ON chatkit.items FOR EACH ROW EXECUTE FUNCTION chatkit.ck_test_slow();
""" % sql_literal(user))
    result = {}

    def turn():
        # a 503 before the stream (the connections may still be coming back
        # from the restarts above) is retried, as Retry-After asks
        deadline = time.monotonic() + 20 * SLOW
        while "resp" not in result and time.monotonic() < deadline:
            resp = Client(srv.url, user, "1.1").post_chatkit(
                {"type": "threads.create", "params": {"input": user_input("hello")}}, max_events=10 ** 9, timeout=60)
            if resp.status == 200:
                result["resp"] = resp
            else:
                result["refused"] = resp
                time.sleep(0.5)

    term = Terminator(pg)
    t = threading.Thread(target=turn)
    t.start()
    wait_until(lambda: term.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                                  "AND datname = 'chatkitd';\n") != "0", 30, "the assistant's write to run",
               give_up=lambda: None if t.is_alive() else "the turn ended: %r" % result, interval=0.02)
    term.kill()
    term.close()
    t.join(60 * SLOW)
    check("resp" in result, "the turn was refused: %r" % result)
    resp = result["resp"]
    done = [e["item"] for e in resp.events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    check(len(done) == 1, "want the assistant's done once after the retried write: %r" % resp.events)
    stored = [i for i in _items(pg, resp.events[0]["thread"]["id"]) if i["type"] == "assistant_message"]
    check([i["id"] for i in stored] == [done[0]["id"]] and assistant_text(stored[0]) == assistant_text(done[0]),
          "stored %r, acknowledged %r" % (stored, done))


def committed_write_whose_reply_was_lost(env, pg, srv):
    """The turn's last write (answer + usage row, one turn.write) commits,
    then its backend is terminated before the reply reaches the server: the
    server cannot tell that from a write that never ran and runs it again on
    the next connection.  Exactly one usage row and one answer item must
    result.  How the reply is lost: with synchronous_standby_names naming a
    standby that never comes, a transaction that asks for synchronous_commit
    (only this turn's first usage insert, through a trigger) commits locally
    and then waits for the standby; terminating it there ends the connection
    after the commit and before the answer (PostgreSQL warns "the transaction
    has already committed locally")."""
    user = env.new_user()
    # a thread with a title first, so the next turn's last write is the
    # answer and its usage row together (no title call)
    first = _stream(srv, user, "hello", thread_id=None)
    check(first.status == 200, "first turn: %r" % first.status)
    tid = first.events[0]["thread"]["id"]
    pg.psql("UPDATE chatkit.threads SET title = 'Titled' WHERE id = %s;" % sql_literal(tid))
    usage_rows = "SELECT count(*) FROM chatkit.turn_usage WHERE user_id = %s AND thread_id = %s;" % (
        sql_literal(user), sql_literal(tid))
    wait_until(lambda: pg.psql(usage_rows) == "1", 30, "the first turn's usage row")
    fn = "ck_test_lost_reply"
    pg.psql("""
CREATE FUNCTION chatkit.%(fn)s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.user_id = %(user)s AND NEW.thread_id = %(tid)s AND NOT EXISTS (
       SELECT 1 FROM chatkit.turn_usage u WHERE u.user_id = NEW.user_id AND u.thread_id = NEW.thread_id
          AND u.request_id IS NOT DISTINCT FROM NEW.request_id) THEN
    PERFORM set_config('synchronous_commit', 'on', true);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER %(fn)s BEFORE INSERT ON chatkit.turn_usage FOR EACH ROW EXECUTE FUNCTION chatkit.%(fn)s();
ALTER SYSTEM SET synchronous_commit = 'local';
ALTER SYSTEM SET synchronous_standby_names = 'ck_test_no_such_standby';
SELECT pg_reload_conf();
""" % {"fn": fn, "user": sql_literal(user), "tid": sql_literal(tid)})
    result = {}
    term = Terminator(pg)
    try:
        t = threading.Thread(target=lambda: result.update(resp=_stream(srv, user, "again", thread_id=tid)))
        t.start()
        wait_until(lambda: term.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' "
                                      "AND datname = 'chatkitd';\n") != "0", 30, "the turn's write to commit and wait",
                   give_up=lambda: None if t.is_alive() else "the turn ended: %r" % result, interval=0.02)
        term.kill()
        t.join(60 * SLOW)
    finally:
        term.close()
        pg.psql("""
ALTER SYSTEM RESET synchronous_standby_names;
ALTER SYSTEM RESET synchronous_commit;
SELECT pg_reload_conf();
DROP TRIGGER %(fn)s ON chatkit.turn_usage;
DROP FUNCTION chatkit.%(fn)s();
""" % {"fn": fn})
    check("resp" in result and result["resp"].status == 200, "the turn failed: %r" % result)
    events = result["resp"].events
    done = [e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    check(len(done) == 1, "want the assistant's done once after the repeated write: %r" % events)
    stored = [i for i in _items(pg, tid) if i["type"] in ("user_message", "assistant_message")]
    check([i["type"] for i in stored] == ["user_message", "assistant_message"] * 2
          and stored[3]["id"] == done[0]["id"] and assistant_text(stored[3]) == assistant_text(done[0]),
          "stored %r, acknowledged %r" % (stored, done))
    rows = pg.psql(usage_rows)
    check(rows == "2", "want one usage row per turn (2 turns), found %s" % rows)


def test_db_connections_per_worker(env):
    """CHATKITD_DB_CONNECTIONS sets how many PostgreSQL connections each
    worker holds: 2 workers x 3 = 6 client backends once /readyz says 200."""
    pg = private_pg(env)
    srv = env.start_server({"CHATKITD_WORKERS": "2", "CHATKITD_DB_CONNECTIONS": "3"}, database_url=pg.conninfo,
                           wait="listening")
    wait_until(lambda: request("GET", srv.url + "/readyz", timeout=2).status == 200, 60, "/readyz 200")
    term = Terminator(pg)
    try:
        count = lambda: term.query("SELECT count(*) FROM pg_stat_activity WHERE datname = 'chatkitd' "
                                   "AND pid <> pg_backend_pid() AND backend_type = 'client backend';\n")
        wait_until(lambda: count() == "6", 30, "6 client backends")
        time.sleep(0.5)
        check(count() == "6", "more backends than 2 workers x 3 connections")
    finally:
        term.close()
    problem = srv.stop_checked()
    check(problem is None, problem)


def test_ready_means_every_worker_serves(env):
    """Right after the first /readyz 200, requests on new connections (the
    kernel spreads them over the 4 workers) are all served."""
    bad = []
    for attempt in range(4):
        srv = env.start_server({"CHATKITD_WORKERS": "4"}, wait="listening")
        wait_until(lambda: request("GET", srv.url + "/readyz", timeout=2).status == 200, 30, "/readyz 200",
                   interval=0.002)
        user = env.new_user()
        for _ in range(16):
            resp = request("POST", srv.url + "/chatkit", body='{"type":"threads.list","params":{}}', timeout=10,
                           headers={USER_HEADER: user, "Content-Type": "application/json"})
            if resp.status != 200:
                bad.append((attempt, resp.status, resp.body[:120]))
        problem = srv.stop_checked()
        check(problem is None, problem)
    check(not bad, "requests refused right after /readyz answered 200: %r" % bad)


MODEL_FAULTS = [
    ("error chunk", {"chunks": ["Partial ", "answer "], "error": "overloaded"}),
    ("truncated body", {"chunks": ["Partial ", "answer "], "truncate": True}),
    ("connection reset", {"chunks": ["Partial ", "answer "], "reset": True}),
    ("garbage", {"chunks": ["Partial ", "answer "], "garbage_after": "{not json"}),
    ("stall", {"chunks": ["Partial ", "answer "], "stall_ms": 20000}),
]


def test_model_faults_mid_stream_keep_the_partial_text(env):
    fake = Fake(env)
    srv = fault_server(env, env.pg, fake, CHATKITD_UPSTREAM_STALL_TIMEOUT_MS="1000")
    fake.script([spec for _, spec in MODEL_FAULTS] + [{"status": 500}])
    for name, spec in MODEL_FAULTS + [("HTTP 500", None)]:
        resp = _stream(srv, env.new_user(), "question")
        thread_id = resp.events[0]["thread"]["id"]
        last = resp.events[-1]
        check(last["type"] == "error" and last["allow_retry"] is True and last.get("message"),
              "%s: last event %r (want an error with a message)" % (name, last))
        shown = "".join(e["update"]["delta"] for e in resp.events if e["type"] == "thread.item.updated"
                        and e["update"]["type"] == "assistant_message.content_part.text_delta")
        stored = [assistant_text(i) for i in _items(env.pg, thread_id) if i["type"] == "assistant_message"]
        if spec is None:
            check(shown == "" and stored == [], "%s: shown %r, stored %r" % (name, shown, stored))
        else:
            check(shown == "Partial answer " and stored == [shown],
                  "%s: the text shown (%r) is not what was stored (%r)" % (name, shown, stored))


def test_sigterm_keeps_the_partial_text(env):
    fake = Fake(env)
    fake.script([{"chunks": ["word "] * 80, "delay_ms": 100}] * 2)
    srv = fault_server(env, env.pg, fake, CHATKITD_SHUTDOWN_GRACE_SECONDS="1")
    results = {}

    def run(http):
        results[http] = Client(srv.url, env.new_user(), http).post_chatkit(
            {"type": "threads.create", "params": {"input": user_input("long answer")}}, max_events=10 ** 9, timeout=60)

    threads = [threading.Thread(target=run, args=(h,)) for h in ("1.1", "h2c")]
    for t in threads:
        t.start()
    wait_until(lambda: len(fake.chat_requests()) == 2, 10, "both turns to reach the model")
    time.sleep(0.5)
    status = srv.stop()
    for t in threads:
        t.join(30 * SLOW)
    check(status == 0, "exit status %s after SIGTERM" % status)
    for http, resp in sorted(results.items()):
        check(resp.status == 200 and resp.curl_error is None, "%s: %r %s" % (http, resp, resp.curl_error))
        last = resp.events[-1]
        check(last["type"] == "error" and last.get("message"), "%s: last event %r" % (http, last))
        shown = "".join(e["update"]["delta"] for e in resp.events if e["type"] == "thread.item.updated"
                        and e["update"]["type"] == "assistant_message.content_part.text_delta")
        stored = [assistant_text(i) for i in _items(env.pg, resp.events[0]["thread"]["id"])
                  if i["type"] == "assistant_message"]
        check(shown and stored == [shown], "%s: shown %r, stored %r" % (http, shown, stored))


def test_http11_client_leaving_a_silent_stream(env):
    """Over HTTP/1.1 the server reads nothing from the connection while it
    streams: the worker's peer watch (src/http/peer_watch.c) is what notices
    the client closing it.  Heartbeats are 20 s apart, so without the watch
    the next write would come too late for the waits below.  Two silences:
    the model thinking (nothing shown yet) and the model hung after a few
    tokens (the partial answer must be saved)."""
    fake = Fake(env)
    fake.script([{"hang_ms": 30000}, {"chunks": ["partial ", "answer"], "stall_ms": 30000}])
    srv = fault_server(env, env.pg, fake, CHATKITD_HEARTBEAT_MS="20000")
    user = env.new_user()
    for case, until, shown in (("thinking", b"stream_options", ""), ("hung", b"answer", "partial answer")):
        body = json.dumps({"type": "threads.create", "params": {"input": user_input("think hard")}}).encode()
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.sendall(b"POST /chatkit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (USER_HEADER.encode(), user.encode(), len(body), body))
        got = b""
        while until not in got:
            chunk = sock.recv(65536)
            check(chunk, "%s: the server closed the stream: %r" % (case, got))
            got += chunk
        thread_id = json.loads(got.split(b"data: ", 1)[1].split(b"\n", 1)[0])["thread"]["id"]
        n = 1 if case == "thinking" else 2
        wait_until(lambda: len(fake.chat_requests()) >= n, 10, "%s: the turn to reach the model" % case)
        sock.close()
        closed_at = time.monotonic()
        wait_until(lambda: len([r for r in fake.requests() if r.get("client_closed")]) >= n, 10,
                   "%s: the upstream request to be aborted after the client left" % case)
        took = time.monotonic() - closed_at
        check(took < 10 * SLOW, "%s: upstream aborted after %.1f s" % (case, took))
        wait_until(lambda: any(i["type"] == "sdk_hidden_context" for i in _items(env.pg, thread_id)), 10,
                   "%s: the cancellation note" % case)
        stored = [assistant_text(i) for i in _items(env.pg, thread_id) if i["type"] == "assistant_message"]
        check(stored == [shown] if shown else not any(stored),
              "%s: stored assistant text %r, shown %r" % (case, stored, shown))


def test_startup_refuses_what_it_cannot_honour(env):
    """Each of these used to start (or half start) silently: a second
    process on a served port took part of its traffic (SO_REUSEPORT), port
    99999 listened on 34463, a bad DATABASE_URL was retried forever, an
    unreadable prompt file fell back to the built-in prompt."""
    first = env.start_server({"CHATKITD_WORKERS": "2"}, wait="listening")
    cases = [
        ({"CHATKITD_LISTEN": "127.0.0.1:%d" % first.port}, "already served"),
        ({"CHATKITD_LISTEN": "127.0.0.1:99999"}, "1..65535"),
        ({"DATABASE_URL": "postgresql://%zz"}, "DATABASE_URL"),
        ({"OPENAI_API_KEY": "sk-x", "CHATKITD_SYSTEM_PROMPT_FILE": "/nonexistent/prompt.txt"},
         "CHATKITD_SYSTEM_PROMPT_FILE"),
        ({"CHATKITD_PERSIST_RETRY_SECONDS": "ten"}, "CHATKITD_PERSIST_RETRY_SECONDS"),
        ({"CHATKITD_SHUTDOWN_GRACE_SECONDS": "-1"}, "CHATKITD_SHUTDOWN_GRACE_SECONDS"),
    ]
    for cfg, says in cases:
        srv = env.start_server(cfg, wait=None)
        try:
            srv.proc.wait(timeout=15 * SLOW)
        except Exception:  # noqa: BLE001 - still running
            raise AssertionError("started with %r" % cfg)
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check(srv.proc.returncode != 0 and says in log, "%r: exit %s, log %r" % (cfg, srv.proc.returncode, log[-600:]))
    check(request("GET", first.url + "/healthz").status == 200, "the first server stopped serving")
