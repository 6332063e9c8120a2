"""test_upstream_http2.py - the connection to the model over HTTP/2: the real
server streaming turns from bench/streams/fake_model.py served over TLS
(ALPN h2 and http/1.1, a throwaway certificate trusted through
CHATKITD_UPSTREAM_CA_FILE).  Concurrent turns share the HTTP/2 connections
of their worker (CHATKITD_UPSTREAM_MAX_STREAMS each) instead of opening one
each; a large answer arrives whole
through the small receive buffer of a streamed call and HTTP/2 flow
control; CHATKITD_UPSTREAM_HTTP=http1.1 keeps to HTTP/1.1."""

import json
import os
import subprocess
import sys
import threading

from lib import check, free_port, request, user_input, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(ROOT, "bench", "streams", "fake_model.py")


class FakeModel:
    """fake_model.py on a free plain port (control: /_stats) and a free TLS
    port (the model endpoint); stopped after the test."""

    def __init__(self, env):
        self.port, self.tls_port = free_port(), free_port()
        self.cert, self.key = env.tmp_path("fake-cert.pem"), env.tmp_path("fake-key.pem")
        out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                              "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                              "-keyout", self.key, "-out", self.cert], capture_output=True, text=True)
        check(out.returncode == 0, "openssl req: %s" % out.stderr)
        self.proc = subprocess.Popen([sys.executable, FAKE, "--port", str(self.port), "--tls-port", str(self.tls_port),
                                      "--tls-cert", self.cert, "--tls-key", self.key],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env._cleanups.append(self.stop)
        wait_until(self._up, 10, "fake_model.py listening")

    def _up(self):
        try:
            return request("GET", "http://127.0.0.1:%d/_stats" % self.port, timeout=1).status == 200
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stats(self):
        return json.loads(request("GET", "http://127.0.0.1:%d/_stats" % self.port).body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def model_server(env, fake, **extra):
    conf = {"OPENAI_BASE_URL": "https://127.0.0.1:%d/v1" % fake.tls_port, "OPENAI_API_KEY": "sk-fake",
            "CHATKITD_UPSTREAM_CA_FILE": fake.cert, "CHATKITD_UPSTREAM_RETRIES": "0", "CHATKITD_WORKERS": "2",
            "CHATKITD_RATE_TURNS_PER_MIN": "0", "CHATKITD_RATE_REQUESTS_PER_MIN": "0",
            "CHATKITD_MAX_STREAMS_PER_USER": "0"}
    conf.update({k: str(v) for k, v in extra.items()})
    return env.start_server(conf)


def answer_text(events):
    """The text of the assistant message's thread.item.done, or None."""
    for ev in events:
        if ev["type"] == "thread.item.done" and ev["item"]["type"] == "assistant_message":
            return "".join(part.get("text", "") for part in ev["item"]["content"])
    return None


def run_turns(env, srv, n, pacing):
    """Runs `n` threads.create turns at once (one thread each); returns
    their events, in order."""
    results = [None] * n
    user = env.new_user()

    def one(i):
        results[i] = env.client(http="1.1", user=user, base=srv.url).stream(
            "threads.create", {"input": user_input("bench:" + pacing)}).events

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def check_answers(results, tokens, pad=0):
    for i, events in enumerate(results):
        check(events is not None, "turn %d did not finish" % i)
        errors = [e for e in events if e["type"] == "error"]
        check(not errors, "turn %d: error event %r" % (i, errors[:1]))
        text = answer_text(events)
        check(text is not None, "turn %d: no assistant message" % i)
        check(text.count("@") == tokens, "turn %d: %d of %d tokens" % (i, text.count("@"), tokens))
        check(len(text) >= tokens * (pad + 20), "turn %d: answer of %d bytes is short" % (i, len(text)))


def test_turns_share_http2_connections(env):
    fake = FakeModel(env)
    srv = model_server(env, fake, CHATKITD_UPSTREAM_MAX_STREAMS="12")
    # The first token comes after 0.5-1.5 s, so all 24 requests are on the
    # wire together; over HTTP/1.1 they would need 24 connections.  At most
    # 12 share one connection, so at least 2; a worker opens another when
    # its connections are full (or a turn or a title call comes while the
    # first answer of a new one is awaited): 3-5 seen, 8 at most.
    results = run_turns(env, srv, 24, "tokens=4,interval_ms=50,first_ms=1000")
    check_answers(results, 4)
    stats = fake.stats()
    check(stats["finished"] == 24, "the fake streamed %d of 24 answers: %r" % (stats["finished"], stats))
    check(2 <= stats["h2_connections"] <= 8,
          "24 turns over %d HTTP/2 connections (want at most 12 turns per connection, 8 connections at most): %r"
          % (stats["h2_connections"], stats))


def test_large_answer_over_http2(env):
    fake = FakeModel(env)
    srv = model_server(env, fake)
    # 60 chunks of 8 KiB, sent as fast as the connection takes them: larger
    # than the 2 KiB receive buffer of a streamed call and than HTTP/2's
    # initial 64 KiB window, for two turns on one connection at once.
    results = run_turns(env, srv, 2, "tokens=60,interval_ms=0,first_ms=0,pad=8192")
    check_answers(results, 60, pad=8192)
    check(fake.stats()["h2_connections"] >= 1, "the answers did not come over HTTP/2: %r" % fake.stats())


def test_http11_setting_keeps_http11(env):
    fake = FakeModel(env)
    srv = model_server(env, fake, CHATKITD_UPSTREAM_HTTP="http1.1")
    results = run_turns(env, srv, 3, "tokens=3,interval_ms=20,first_ms=300")
    check_answers(results, 3)
    stats = fake.stats()
    check(stats["h2_connections"] == 0 and stats["finished"] == 3, "HTTP/2 used despite http1.1: %r" % stats)
