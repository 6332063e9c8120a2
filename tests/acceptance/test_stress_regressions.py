"""test_stress_regressions.py - regression tests for what the stress harness
(tests/stress/stress.py) found, each against the real server and
tests/acceptance/fake_openai.py.

- A long answer (3 MB in 1 KB deltas) used to take seconds of one event
  loop: the pipeline rebuilt the pending message's whole text for every
  delta (quadratic), so /healthz on the same worker stalled for seconds
  (stress seed 7, model behaviour "flood").  The answer must stream in
  linear time (judged by the CPU time the server spent on it, which a
  loaded machine does not inflate the way it inflates wall-clock time: the
  quadratic version spent ~9 s), /healthz must answer meanwhile, the stored text must be
  the whole answer, and a stream cut in the middle must save exactly the
  text streamed so far (docs/protocol.md "Cancellation").
- SIGTERM while a client that does not read holds a long stream: the drain
  gives up after 3 s and the worker's h2o context stays undisposed on
  purpose, but the server then freed the workers under it, so
  LeakSanitizer reported megabytes and the exit failed (stress seed 8).
  Meaningful under `make test-asan` / `make test-valgrind`.
"""

import json
import os
import socket
import threading
import time

from lib import SLOW, USER_HEADER, check, request, user_input, wait_until
from test_agent_model import Fake, model_server

PIECE = "0123456789abcdef" * 64  # 1 KB
PIECES = 3000


class HealthSampler:
    """GET /healthz every 50 ms in a thread; `worst` is the slowest answer."""

    def __init__(self, url):
        self.url = url
        self.worst = 0.0
        self.failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                ok = request("GET", self.url + "/healthz", timeout=10).status == 200
            except Exception:  # noqa: BLE001 - a failed sample counts as a failure
                ok = False
            self.worst = max(self.worst, time.monotonic() - started)
            self.failures += not ok
            self.stop.wait(0.05)

    def finish(self):
        self.stop.set()
        self.thread.join()


def _cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stream(c, text, max_events=10 ** 9):
    """threads.create without schema checks per event (3000 events); returns
    the Response with parsed events."""
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input(text)}},
                          max_events=max_events, timeout=120)
    check(resp.status == 200 and resp.events, "threads.create: HTTP %s %r" % (resp.status, resp.body[:300]))
    return resp


def _stored(c, tid):
    return c.call("items.list", {"thread_id": tid, "order": "asc", "limit": 100})["data"]


def test_long_answer_streams_in_linear_time(env):
    fake = Fake(env)
    fake.script([{"chunks": [PIECE] * PIECES}])
    srv = model_server(env, fake, CHATKITD_WORKERS=1)
    c = env.client("1.1", base=srv.url)
    health = HealthSampler(srv.url)
    cpu_before = _cpu_seconds(srv.proc.pid)
    resp = _stream(c, "a very long answer please")
    cpu = _cpu_seconds(srv.proc.pid) - cpu_before
    health.finish()
    deltas = [e for e in resp.events if e["type"] == "thread.item.updated"
              and e["update"]["type"] == "assistant_message.content_part.text_delta"]
    check(len(deltas) == PIECES, "deltas streamed: %d" % len(deltas))
    check(cpu < 3 * SLOW, "a 3 MB answer took %.1f s of server CPU to stream" % cpu)
    check(health.failures == 0,
          "/healthz during the answer: worst %.2f s, %d failures" % (health.worst, health.failures))
    tid = resp.events[0]["thread"]["id"]
    answer = [i for i in _stored(c, tid) if i["type"] == "assistant_message"]
    check(len(answer) == 1 and answer[0]["content"][0]["text"] == PIECE * PIECES,
          "stored answer: %d items, %d chars" % (len(answer), len(answer[0]["content"][0]["text"]) if answer else 0))


def test_long_answer_cut_saves_the_text_so_far(env):
    fake = Fake(env)
    fake.script([{"chunks": [PIECE] * PIECES, "delay_ms": 1}])
    srv = model_server(env, fake, CHATKITD_WORKERS=1, CHATKITD_RATE_REQUESTS_PER_MIN=0)
    c = env.client("1.1", base=srv.url)
    resp = _stream(c, "cut me off", max_events=PIECES // 2)
    check(resp.aborted, "the client should have cut the stream")
    tid = resp.events[0]["thread"]["id"]
    streamed = "".join(e["update"]["delta"] for e in resp.events if e["type"] == "thread.item.updated"
                       and e["update"]["type"] == "assistant_message.content_part.text_delta")

    def saved():
        rows = env.pg.psql("SELECT type, data->'content'->0->>'text' FROM chatkit.items WHERE thread_id = '%s' "
                           "ORDER BY created_at, id;" % tid).splitlines()
        return rows if rows and rows[-1].startswith("sdk_hidden_context|") else None
    rows = wait_until(saved, 30, "the cancellation note (hidden from items.list)", interval=0.2)
    check([r.split("|", 1)[0] for r in rows] == ["user_message", "assistant_message", "sdk_hidden_context"],
          "stored %r" % [r.split("|", 1)[0] for r in rows])
    text = rows[1].split("|", 1)[1]
    check(text.startswith(streamed) and PIECE * PIECES != text and (PIECE * PIECES).startswith(text),
          "saved %d chars, streamed %d chars: the saved text must be the answer so far" % (len(text), len(streamed)))
    check(len(text) % len(PIECE) == 0, "the saved text must end on a delta boundary (%d chars)" % len(text))


def test_sigterm_with_a_reader_that_does_not_read(env):
    fake = Fake(env)
    fake.script([{"chunks": [PIECE] * PIECES}])
    srv = model_server(env, fake, CHATKITD_WORKERS=1)
    body = json.dumps({"type": "threads.create", "params": {"input": user_input("never read")}}).encode()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"POST /chatkit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (USER_HEADER.encode(), env.new_user().encode(), len(body), body))
        check(s.recv(64).startswith(b"HTTP/1.1 200"), "the stream did not start")
        wait_until(lambda: fake.chat_requests(), 10, "the model call")
        time.sleep(1.5)  # the answer piles up in the server: the client reads nothing more
        started = time.monotonic()
        problem = srv.stop_checked()
        check(problem is None, "SIGTERM with a stuck reader: %s" % problem)
        check(time.monotonic() - started < 8 * SLOW, "the server took %.1f s to stop" % (time.monotonic() - started))
