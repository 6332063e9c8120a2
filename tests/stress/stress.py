#!/usr/bin/python3
"""stress.py - a randomized stress harness that tries to break request
lifetimes in chatkitd (run it on the ASan+UBSan build: `make stress`).

    /usr/bin/python3 tests/stress/stress.py --binary build-asan/chatkitd \
        [--seconds 60] [--seed N] [--concurrency 160] [--pg-port 54328] [--keep]

It starts its own PostgreSQL (scripts/pg-local.sh, a fresh cluster under
/tmp), tests/stress/fake_model.py as the model (random good and bad answers,
see its docstring) and the server, then for --seconds runs --concurrency
client threads (pycurl; HTTP/1.1 with keep-alive and h2c) of many users doing
random mixed operations:

  streamed turns   threads.create, add_user_message (with attachments),
                   retry_after_item, add_client_tool_output,
                   add_structured_input, custom_action (pending items set up
                   with psql, as tests/acceptance/test_stream_actions.py does)
  reads/writes     threads.list / get_by_id / update / delete, items.list,
                   items.feedback, malformed requests
  attachments      attachments.create + upload (PUT or multipart POST) +
                   preview download, direct uploads, attachments.delete
  transcription    input.transcribe of random audio sizes
  raw sockets      requests cut inside the headers or the body, h2c preface
                   followed by garbage

A random fraction of requests is cut by the client: before the response
headers (a few ms after sending, i.e. during the pre-flight store call), in
the middle of a body upload, after k SSE events, or at a random time; some
clients read very slowly (backpressure).  Meanwhile PostgreSQL is restarted
(twice in runs of 30 s or more) and the fake model is killed for a few seconds.

At the end the server gets SIGTERM and the run fails unless: it exited with
status 0 and its log has no ASan/UBSan/LeakSanitizer report; GET /healthz
answered every sample within the latency limit; a turn after the chaos works;
no HTTP 500 came outside the outage windows; every uninterrupted stream had
exact SSE framing; and the database invariants hold (see check_invariants).

The seed is printed; --seed reproduces the same choices (timing still varies).
Exit status 0 = clean run, 1 = findings (listed), 2 = harness set-up failure.
"""

import argparse
import base64
import collections
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

os.environ.setdefault("PG_LOCAL_FSYNC", "off")  # a throwaway cluster (scripts/pg-local.sh)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "acceptance"))

import h2.config  # noqa: E402  (python3-h2)
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402
import pycurl  # noqa: E402

import lib  # noqa: E402  (PgCluster, Server, SSEParser, multipart, item builders)

CANCEL_NOTE = "The user cancelled the stream. Stop responding to the prior request."
HTTP_VERSIONS = {"1.1": pycurl.CURL_HTTP_VERSION_1_1, "h2c": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}


# --- one HTTP exchange --------------------------------------------------------

class Cut:
    """How the client misbehaves in one request: `timeout_ms` (cut at that
    time: before the headers or mid-stream), `events` (cut after k SSE
    events), `upload_at` (cut the request body after that many bytes, sent
    slowly), `slow` (receive at most that many bytes per second)."""

    def __init__(self, timeout_ms=None, events=None, upload_at=None, slow=None):
        self.timeout_ms = timeout_ms
        self.events = events
        self.upload_at = upload_at
        self.slow = slow

    def __repr__(self):
        return "Cut(%s)" % ", ".join("%s=%s" % kv for kv in vars(self).items() if kv[1] is not None)


class Result:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""
        self.events = []
        self.framing = []
        self.cut = False       # the client cut it on purpose
        self.error = None      # a transfer error that was not ours

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def broken(self):
        return self.cut or self.error is not None


_local = threading.local()


def _easy(http):
    """A curl handle: one per thread for HTTP/1.1 (keep-alive across
    requests), a fresh one for h2c (libcurl 7.88 cannot reuse prior-knowledge
    h2c connections)."""
    if http == "h2c":
        return pycurl.Curl(), True
    c = getattr(_local, "curl", None)
    if c is None:
        c = _local.curl = pycurl.Curl()
    c.reset()
    return c, False


def exchange(method, url, body=None, headers=None, http="1.1", cut=None, sse=False, timeout=30):
    """Performs one request; returns a Result (never raises for transfer
    errors).  `cut` (a Cut) makes the client misbehave."""
    cut = cut or Cut()
    res = Result()
    parser = lib.SSEParser() if sse else None
    c, fresh = _easy(http)
    out = io.BytesIO()

    def on_header(line):
        line = line.decode("iso-8859-1").rstrip("\r\n")
        if ":" in line and not line.startswith("HTTP/"):
            k, v = line.split(":", 1)
            res.headers[k.strip().lower()] = v.strip()

    def on_write(data):
        out.write(data)
        if parser is not None:
            parser.feed(data)
            if cut.events is not None and len(parser.events) >= cut.events:
                res.cut = True
                return -1
        return None

    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.HTTP_VERSION, HTTP_VERSIONS[http])
    c.setopt(pycurl.HEADERFUNCTION, on_header)
    c.setopt(pycurl.WRITEFUNCTION, on_write)
    c.setopt(pycurl.NOSIGNAL, 1)
    c.setopt(pycurl.CONNECTTIMEOUT_MS, int(5000 * lib.SLOW))
    c.setopt(pycurl.TIMEOUT_MS, int(cut.timeout_ms if cut.timeout_ms else timeout * 1000 * lib.SLOW))
    if cut.slow:
        c.setopt(pycurl.BUFFERSIZE, 1024)
        c.setopt(pycurl.MAX_RECV_SPEED_LARGE, cut.slow)
    hdrs = {"Expect": ""}
    hdrs.update(headers or {})
    c.setopt(pycurl.HTTPHEADER, ["%s: %s" % kv for kv in hdrs.items()])
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        c.setopt(pycurl.UPLOAD if method == "PUT" else pycurl.POST, 1)
        c.setopt(pycurl.INFILESIZE_LARGE if method == "PUT" else pycurl.POSTFIELDSIZE_LARGE, len(body))
        c.setopt(pycurl.READFUNCTION, _reader(body, cut, res))
    elif method == "GET":
        c.setopt(pycurl.HTTPGET, 1)
    if method not in ("GET", "POST", "PUT"):
        c.setopt(pycurl.CUSTOMREQUEST, method)
    try:
        c.perform()
    except pycurl.error as exc:
        if not res.cut:
            if cut.timeout_ms and exc.args[0] == pycurl.E_OPERATION_TIMEDOUT:
                res.cut = True
            else:
                res.error = str(exc)
    res.status = c.getinfo(pycurl.RESPONSE_CODE)
    if fresh or res.broken:
        c.close()
        if not fresh:
            _local.curl = None
    res.body = out.getvalue()
    if parser is not None and res.headers.get("content-type", "").startswith("text/event-stream"):
        if not res.broken:
            parser.finish()
        res.events, res.framing = parser.events, parser.errors
    return res


def _reader(body, cut, res):
    """A READFUNCTION sending `body`; with cut.upload_at it sends slowly in
    small pieces and aborts the upload after that many bytes."""
    stream = io.BytesIO(body)
    sent = [0]

    def read(size):
        if cut.upload_at is not None:
            if sent[0] >= cut.upload_at:
                res.cut = True
                return pycurl.READFUNC_ABORT
            time.sleep(random.uniform(0, 0.01))
            size = min(size, random.randint(256, 4096), cut.upload_at - sent[0])
        data = stream.read(size)
        sent[0] += len(data)
        return data
    return read


# --- the shared record of what happened ------------------------------------------

class Record:
    """Everything the invariant checks need, filled in by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = collections.Counter()
        self.statuses = collections.Counter()
        self.completed_creates = []               # (user, thread_id, user message id)
        self.deleted_threads = set()
        self.cut_streams = collections.Counter()  # thread id -> streams on it cut by the client
        self.cut_unknown = collections.Counter()  # user -> threads.create cut before thread.created
        self.used_attachments = set()
        self.server_errors = []                   # (time, op, status, body excerpt)
        self.framing = []                         # (op, errors)
        self.outages = []                         # [start, end] monotonic windows
        self.health = []                          # (time, latency or None, status)

    def count(self, op, res):
        with self.lock:
            self.ops[op] += 1
            key = "cut" if res.cut else ("err" if res.error else str(res.status))
            self.statuses["%s %s" % (op, key)] += 1
            if res.status >= 500 and res.status not in (502, 503, 504):
                self.server_errors.append((time.monotonic(), op, res.status, res.body[:200]))
            if res.framing and not res.broken:
                self.framing.append((op, res.framing[:3]))


class User:
    """One user's objects, as far as the harness knows them."""

    def __init__(self, uid):
        self.id = uid
        self.lock = threading.Lock()
        self.threads = {}         # thread id -> [user message ids]
        self.attachments = []     # uploaded, never used in a message (deletable)


# --- the operations -------------------------------------------------------------------

class Harness:
    def __init__(self, args, rng):
        self.args = args
        self.rng = rng
        self.rec = Record()
        self.users = [User("stress-%d-u%02d" % (args.seed, i)) for i in range(args.users)]
        self.stop_at = None
        self.base = None
        self.pg = None

    # helpers
    def r(self):
        """This thread's RNG (seeded from the run's seed and the thread number)."""
        return _local.rng

    def pick_cut(self, stream=False, upload=False):
        r = self.r()
        x = r.random()
        if x < 0.08:
            return Cut(timeout_ms=r.randint(1, 40))                  # before headers / pre-flight store call
        if stream and x < 0.22:
            return Cut(events=r.randint(1, 12))                      # mid-stream after k events
        if x < 0.30:
            return Cut(timeout_ms=r.randint(40, 2500))               # at a random moment
        if upload and x < 0.40:
            return Cut(upload_at=r.randint(0, 64 * 1024))            # mid-body upload
        if x < 0.40:
            return Cut(slow=r.choice([512, 2048, 8192]))             # a slow reader
        return Cut()

    def post(self, user, op, body, http, cut=None, sse=False, raw=False):
        data = body if raw else json.dumps(body)
        res = exchange("POST", self.base + "/chatkit", data, {"Content-Type": "application/json",
                                                               lib.USER_HEADER: user.id}, http, cut, sse)
        self.rec.count(op, res)
        return res

    def http(self):
        return "h2c" if self.r().random() < 0.35 else "1.1"

    def some_thread(self, user):
        with user.lock:
            ids = list(user.threads)
        return self.r().choice(ids) if ids else None

    def take_attachments(self, user):
        r = self.r()
        with user.lock:
            n = min(len(user.attachments), r.choice([0, 0, 0, 1, 2]))
            picked = r.sample(user.attachments, n)
            for a in picked:
                user.attachments.remove(a)
        with self.rec.lock:
            self.rec.used_attachments.update(picked)
        if r.random() < 0.03:
            picked.append("atc_nosuch%d" % r.randint(0, 999))
        return picked

    def stream_cut(self, res, thread_id, user):
        if res.broken and res.status in (0, 200):
            with self.rec.lock:
                if thread_id:
                    self.rec.cut_streams[thread_id] += 1
                else:
                    self.rec.cut_unknown[user.id] += 1

    def user_input(self, user, text):
        return {"content": [{"type": "input_text", "text": text}], "attachments": self.take_attachments(user),
                "inference_options": {}}

    # streamed turns
    def op_create(self, user):
        res = self.post(user, "threads.create", {"type": "threads.create", "params": {
            "input": self.user_input(user, "stress question %d" % self.r().randint(0, 1 << 20))}},
            self.http(), self.pick_cut(stream=True), sse=True)
        ev = res.events
        tid = ev[0]["thread"]["id"] if ev and ev[0].get("type") == "thread.created" else None
        msg = next((e["item"]["id"] for e in ev if e.get("type") == "thread.item.done"
                    and e["item"].get("type") == "user_message"), None)
        self.stream_cut(res, tid, user)
        if tid:
            with user.lock:
                user.threads[tid] = [msg] if msg else []
        if tid and msg:
            with self.rec.lock:
                self.rec.completed_creates.append((user.id, tid, msg))

    def op_add_message(self, user):
        tid = self.some_thread(user)
        if not tid:
            return self.op_create(user)
        res = self.post(user, "threads.add_user_message", {"type": "threads.add_user_message", "params": {
            "thread_id": tid, "input": self.user_input(user, "follow-up %d" % self.r().randint(0, 1 << 20))}},
            self.http(), self.pick_cut(stream=True), sse=True)
        self.stream_cut(res, tid, user)
        msg = next((e["item"]["id"] for e in res.events if e.get("type") == "thread.item.done"
                    and e["item"].get("type") == "user_message"), None)
        if msg:
            with user.lock:
                if tid in user.threads:
                    user.threads[tid].append(msg)

    def op_retry(self, user):
        tid = self.some_thread(user)
        with user.lock:
            msgs = list(user.threads.get(tid) or []) if tid else []
        if not msgs:
            return self.op_create(user)
        res = self.post(user, "threads.retry_after_item", {"type": "threads.retry_after_item", "params": {
            "thread_id": tid, "item_id": self.r().choice(msgs)}}, self.http(), self.pick_cut(stream=True), sse=True)
        self.stream_cut(res, tid, user)

    def setup_thread(self, user, items):
        """A thread with `items` inserted by psql (None when the database is
        down: the operation is skipped)."""
        tid = "thr_s" + uuid.uuid4().hex[:16]
        items = [dict(i, id="%s_%s" % (i["id"], tid[5:])) for i in items]
        try:
            self.pg.psql("INSERT INTO chatkit.threads (id, user_id, created_at) VALUES (%s, %s, %s);"
                         % (lib.sql_literal(tid), lib.sql_literal(user.id), lib.sql_literal(lib.ts_past(0))))
            env = type("E", (), {"pg": self.pg})()
            lib.Env.insert_items(env, user.id, tid, items)
        except lib.TestFailure:
            return None, None
        with user.lock:
            user.threads[tid] = [i["id"] for i in items if i["type"] == "user_message"]
        return tid, items

    def op_tool_output(self, user):
        call = {"id": "tc_1", "thread_id": "", "created_at": lib.ts_past(3), "type": "client_tool_call",
                "status": "pending", "call_id": "call_1", "name": "get_sel", "arguments": {"a": 1}}
        tid, _ = self.setup_thread(user, [lib.user_item("msg_t", lib.ts_past(1)), call])
        if tid:
            res = self.post(user, "threads.add_client_tool_output", {"type": "threads.add_client_tool_output",
                            "params": {"thread_id": tid, "result": {"x": self.r().randint(0, 9)}}},
                            self.http(), self.pick_cut(stream=True), sse=True)
            self.stream_cut(res, tid, user)

    def op_structured(self, user):
        item = {"id": "si_1", "thread_id": "", "created_at": lib.ts_past(3), "type": "structured_input",
                "status": "pending", "inputs": [{"id": "q1", "question": "Pick", "type": "multiple_choice",
                                                 "options": [{"value": "A"}, {"value": "B"}], "multiple": False}]}
        tid, items = self.setup_thread(user, [lib.user_item("msg_q", lib.ts_past(1)), item])
        if tid:
            res = self.post(user, "threads.add_structured_input", {"type": "threads.add_structured_input", "params": {
                "thread_id": tid, "item_id": items[1]["id"], "input": {"answers": {"q1": {"values": ["A"]}}}}},
                self.http(), self.pick_cut(stream=True), sse=True)
            self.stream_cut(res, tid, user)

    def op_custom_action(self, user):
        tid, items = self.setup_thread(user, [lib.user_item("msg_a", lib.ts_past(1)),
                                              lib.widget_item("w_a", lib.ts_past(2))])
        if tid:
            res = self.post(user, "threads.custom_action", {"type": "threads.custom_action", "params": {
                "thread_id": tid, "item_id": items[1]["id"], "action": {"type": "go", "payload": {"n": 1}}}},
                self.http(), self.pick_cut(stream=True), sse=True)
            self.stream_cut(res, tid, user)

    # reads and small writes
    def op_read(self, user):
        r = self.r()
        tid = self.some_thread(user) or "thr_nosuch"
        choice = r.random()
        if choice < 0.25:
            body = {"type": "threads.list", "params": {"limit": r.randint(1, 50), "order": r.choice(["asc", "desc"])}}
        elif choice < 0.45:
            body = {"type": "threads.get_by_id", "params": {"thread_id": tid}}
        elif choice < 0.75:
            body = {"type": "items.list", "params": {"thread_id": tid, "limit": r.randint(1, 100),
                                                     "order": r.choice(["asc", "desc"])}}
        elif choice < 0.85:
            body = {"type": "threads.update", "params": {"thread_id": tid, "title": "t%d" % r.randint(0, 99)}}
        elif choice < 0.93:
            body = {"type": "items.feedback", "params": {"thread_id": tid, "item_ids": ["msg_nosuch"],
                                                         "kind": r.choice(["positive", "negative"])}}
        elif choice < 0.96 and tid != "thr_nosuch":
            body = {"type": "threads.delete", "params": {"thread_id": tid}}
            with self.rec.lock:
                self.rec.deleted_threads.add(tid)
            with user.lock:
                user.threads.pop(tid, None)
        else:
            body = r.choice([b'{"type":"threads.list"', b'{"type":"nope","params":{}}', b"\xff\xfe",
                             b'{"type":"items.list","params":{"thread_id":5}}'])
            return self.post(user, "malformed", body, self.http(), self.pick_cut(), raw=True)
        self.post(user, body["type"], body, self.http(), self.pick_cut())

    # attachments
    def op_attachment(self, user):
        r = self.r()
        http = self.http()
        image = r.random() < 0.6
        size = r.choice([10, 1000, 50 * 1024, 300 * 1024, 1200 * 1024])
        data = (lib.PNG + os.urandom(size)) if image else os.urandom(size // 2).hex().encode()[:size]
        mime = "image/png" if image else "text/plain"
        if r.random() < 0.3:
            body, ctype = lib.multipart({"file": ("d.png" if image else "d.txt", mime, data)})
            res = exchange("POST", self.base + "/attachments/upload", body, {"Content-Type": ctype,
                           lib.USER_HEADER: user.id}, http, self.pick_cut(upload=True))
            self.rec.count("attachments.direct", res)
            att = res.json() if res.status == 200 and not res.broken else None
        else:
            res = self.post(user, "attachments.create", {"type": "attachments.create", "params": {
                "name": "f.png" if image else "f.txt", "size": len(data), "mime_type": mime}}, http,
                self.pick_cut() if r.random() < 0.3 else None)
            att = res.json() if res.status == 200 and not res.broken else None
            if not att:
                return
            d = att["upload_descriptor"]
            headers = dict(d["headers"])
            if r.random() < 0.5:  # the upload URL takes a raw PUT body or a multipart POST
                headers["Content-Type"] = mime
                up = exchange("PUT", d["url"], data, headers, http, self.pick_cut(upload=True))
            else:
                body, ctype = lib.multipart({"file": ("f", mime, data)})
                headers["Content-Type"] = ctype
                up = exchange("POST", d["url"], body, headers, http, self.pick_cut(upload=True))
            self.rec.count("attachments.upload", up)
            att = up.json() if up.status == 200 and not up.broken else None
        if not isinstance(att, dict) or "id" not in att:
            return
        if att.get("preview_url", "").startswith("http"):
            res = exchange("GET", att["preview_url"], None, {lib.USER_HEADER: user.id}, http,
                           self.pick_cut())
            self.rec.count("attachments.preview", res)
        if r.random() < 0.2:
            self.post(user, "attachments.delete", {"type": "attachments.delete",
                                                   "params": {"attachment_id": att["id"]}}, http, self.pick_cut())
        else:
            with user.lock:
                user.attachments.append(att["id"])

    def op_transcribe(self, user):
        audio = os.urandom(self.r().choice([3, 1000, 40 * 1024, 400 * 1024]))
        self.post(user, "input.transcribe", {"type": "input.transcribe", "params": {
            "audio_base64": base64.b64encode(audio).decode(), "mime_type": "audio/webm"}},
            self.http(), self.pick_cut(upload=True))

    def op_raw(self, user):
        """Requests cut inside the headers or the body, or an h2c preface
        followed by garbage, on a raw socket."""
        r = self.r()
        body = json.dumps({"type": "threads.list", "params": {}}).encode()
        full = (b"POST /chatkit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\n"
                b"Content-Length: %d\r\n\r\n" % (lib.USER_HEADER.encode(), user.id.encode(), len(body))) + body
        choice = r.choice(["headers", "body", "h2", "idle"])
        if choice == "headers":
            data = full[:r.randint(1, full.index(b"\r\n\r\n"))]
        elif choice == "body":
            data = full[:r.randint(full.index(b"\r\n\r\n") + 4, len(full) - 1)]
        elif choice == "h2":
            data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(r.randint(0, 64))
        else:
            data = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(data)
                time.sleep(r.uniform(0, 0.3))
                if r.random() < 0.5:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        with self.rec.lock:
            self.rec.ops["raw." + choice] += 1

    def op_h2mux(self, user):
        """Several requests multiplexed on one h2c connection (python3-h2):
        a tiny flow-control window (a slow reader at the HTTP/2 level),
        RST_STREAM of random streams at random moments, and sometimes the
        whole connection dropped with streams open."""
        r = self.r()
        bodies = []
        for _ in range(r.randint(2, 8)):
            tid = self.some_thread(user) or "thr_nosuch"
            bodies.append(r.choice([
                {"type": "threads.create", "params": {"input": self.user_input(user, "mux %d" % r.randint(0, 999))}},
                {"type": "threads.add_user_message", "params": {"thread_id": tid,
                                                                "input": self.user_input(user, "mux follow-up")}},
                {"type": "items.list", "params": {"thread_id": tid, "limit": 100}},
                {"type": "threads.list", "params": {"limit": 50}}]))
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        window = r.choice([65535, 4096, 256])
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        streams = {}
        deadline = time.monotonic() + r.uniform(0.2, 8) * lib.SLOW
        drop_all = r.random() < 0.3
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        except OSError:
            return
        try:
            for body in bodies:
                sid = conn.get_next_available_stream_id()
                data = json.dumps(body).encode()
                conn.send_headers(sid, [(":method", "POST"), (":path", "/chatkit"), (":scheme", "http"),
                                        (":authority", "127.0.0.1"), ("content-type", "application/json"),
                                        ("content-length", str(len(data))), (lib.USER_HEADER.lower(), user.id)])
                conn.send_data(sid, data, end_stream=True)
                streams[sid] = {"type": body["type"], "events": 0, "reset_at": r.choice(
                    [None, None, r.randint(0, 8)]), "thread": body["params"].get("thread_id"), "done": False}
            sock.sendall(conn.data_to_send())
            while time.monotonic() < deadline and not all(st["done"] for st in streams.values()):
                try:
                    data = sock.recv(r.choice([64, 1024, 65536]))
                except socket.timeout:
                    continue
                if not data:
                    break
                for ev in conn.receive_data(data):
                    sid = getattr(ev, "stream_id", None)
                    st = streams.get(sid)
                    if isinstance(ev, h2.events.DataReceived):
                        st["events"] += ev.data.count(b"\n\n")
                        if window > 1024 or r.random() < 0.5:  # the small windows refill slowly
                            conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                        if st["reset_at"] is not None and st["events"] >= st["reset_at"] and not st["done"]:
                            conn.reset_stream(sid, error_code=8)  # CANCEL
                            st["done"] = st["cut"] = True
                    elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and st:
                        st["done"] = True
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        deadline = 0
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            if drop_all or r.random() < 0.5:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
        with self.rec.lock:
            self.rec.ops["h2mux"] += 1
            for st in streams.values():
                if not st["done"] or st.get("cut"):
                    if st["type"] == "threads.create":
                        self.rec.cut_unknown[user.id] += 1
                    elif st["thread"]:
                        self.rec.cut_streams[st["thread"]] += 1

    OPS = [("op_h2mux", 6), ("op_create", 14), ("op_add_message", 14), ("op_retry", 6), ("op_tool_output", 4),
           ("op_structured", 3), ("op_custom_action", 3), ("op_read", 30), ("op_attachment", 12),
           ("op_transcribe", 5), ("op_raw", 4)]

    def client(self, n):
        _local.rng = random.Random(self.args.seed * 1000003 + n)
        names = [o for o, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        while time.monotonic() < self.stop_at:
            user = self.r().choice(self.users)
            op = self.r().choices(names, weights)[0]
            try:
                getattr(self, op)(user)
            except Exception as exc:  # noqa: BLE001 - a harness bug must not hide the run's findings
                with self.rec.lock:
                    self.rec.ops["harness-error " + op] += 1
                    if self.rec.ops["harness-error " + op] <= 3:
                        print("harness error in %s: %r" % (op, exc), flush=True)


# --- health sampling and outages -------------------------------------------------------

def health_sampler(url, out_path):
    """The /healthz sampler, run as its own process (--sample-health) so that
    the client threads' GIL does not distort its latencies: one GET every
    0.2 s on a fresh connection, one line "monotonic latency|- status" per
    sample, until killed."""
    with open(out_path, "a") as out:
        while True:
            t0 = time.monotonic()
            res = exchange("GET", url + "/healthz", timeout=10)
            lat = time.monotonic() - t0
            out.write("%.6f %s %d\n" % (t0, "-" if res.error else "%.6f" % lat, res.status))
            out.flush()
            _local.curl = None
            time.sleep(0.2)


def read_health(path):
    samples = []
    with open(path) as f:
        for line in f:
            t, lat, st = line.split()
            samples.append((float(t), None if lat == "-" else float(lat), int(st)))
    return samples


class Model:
    """The fake model process (can be killed and restarted on its port)."""

    def __init__(self, port, seed, log):
        self.port, self.seed, self.log, self.proc = port, seed, log, None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_model.py"), "--port", str(self.port),
                                      "--seed", str(self.seed)], stdout=self.log, stderr=subprocess.STDOUT)
        lib.wait_until(lambda: exchange("GET", "http://127.0.0.1:%d/_stats" % self.port, timeout=1).status == 200,
                       10, "the fake model")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stats(self):
        res = exchange("GET", "http://127.0.0.1:%d/_stats" % self.port, timeout=2)
        return res.json() if res.status == 200 else {}


def chaos(h, model, rng, seconds, t0):
    """At random moments: restarts PostgreSQL (once, or twice in runs of
    30 s or more), kills the model for 2-5 s, stalls every store call for
    1-3 s (a psql session holds exclusive locks on the tables) and
    terminates the server's database connections (pg_terminate_backend).
    Records the outage windows."""
    plan = [("pg", rng.uniform(0.2, 0.45)), ("model", rng.uniform(0.3, 0.7)), ("stall", rng.uniform(0.1, 0.9)),
            ("terminate", rng.uniform(0.1, 0.9))]
    if seconds >= 30:
        plan += [("pg", rng.uniform(0.6, 0.8)), ("stall", rng.uniform(0.1, 0.9)), ("terminate", rng.uniform(0.1, 0.9))]
    for what, frac in sorted(plan, key=lambda p: p[1]):
        delay = t0 + frac * seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        start = time.monotonic()
        print("[%5.1fs] %s" % (start - t0, {"pg": "restarting PostgreSQL", "model": "killing the fake model",
                                           "stall": "stalling the database", "terminate":
                                           "terminating the server's database connections"}[what]), flush=True)
        try:
            if what == "pg":
                h.pg.restart()
            elif what == "model":
                model.kill()
                time.sleep(rng.uniform(2, 5))
                model.start()
            elif what == "stall":
                h.pg.psql("BEGIN; LOCK TABLE chatkit.threads, chatkit.items, chatkit.attachments IN ACCESS EXCLUSIVE "
                          "MODE; SELECT pg_sleep(%.2f); COMMIT;" % rng.uniform(1, 3))
            else:
                h.pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'chatkitd' "
                          "AND pid <> pg_backend_pid() AND backend_type = 'client backend';")
        except (RuntimeError, lib.TestFailure) as exc:
            print("chaos %s failed: %s" % (what, exc), flush=True)
        with h.rec.lock:
            h.rec.outages.append((start, time.monotonic()))


# --- checks -------------------------------------------------------------------------------

def check_invariants(h):
    """The database invariants after the run; returns a list of problems."""
    q = h.pg.psql
    problems = []

    def expect_none(what, sql):
        rows = q(sql)
        if rows:
            problems.append("%s:\n  %s" % (what, "\n  ".join(rows.splitlines()[:10])))

    expect_none("item rows of a thread that has no thread row",
                "SELECT i.thread_id, i.id FROM chatkit.items i LEFT JOIN chatkit.threads t ON t.id = i.thread_id "
                "WHERE t.id IS NULL;")
    expect_none("items whose user is not their thread's user",
                "SELECT i.thread_id, i.id FROM chatkit.items i JOIN chatkit.threads t ON t.id = i.thread_id "
                "WHERE t.user_id <> i.user_id;")
    expect_none("duplicate item ids", "SELECT id, count(*) FROM chatkit.items GROUP BY id HAVING count(*) > 1;")
    expect_none("items whose wire id/thread_id/type differ from their row",
                "SELECT thread_id, id FROM chatkit.items WHERE data->>'id' <> id OR data->>'thread_id' <> thread_id "
                "OR data->>'type' <> type;")
    expect_none("cancellation notes with another text",
                "SELECT thread_id, id FROM chatkit.items WHERE type = 'sdk_hidden_context' AND data->>'content' <> %s;"
                % lib.sql_literal(CANCEL_NOTE))
    expect_none("attachments referenced by a saved message that do not exist or have no thread_id",
                "SELECT i.thread_id, i.id, a->>'id' FROM chatkit.items i "
                "CROSS JOIN LATERAL jsonb_array_elements(coalesce(i.data->'attachments', '[]')) a "
                "LEFT JOIN chatkit.attachments t ON t.id = a->>'id' "
                "WHERE i.type = 'user_message' AND (t.id IS NULL OR t.thread_id IS NULL);")
    expect_none("threads created by the server without a user message (half-written turn)",
                "SELECT t.id FROM chatkit.threads t WHERE t.id NOT LIKE 'thr\\_s%' AND NOT EXISTS "
                "(SELECT 1 FROM chatkit.items i WHERE i.thread_id = t.id AND i.type = 'user_message');")
    # every completed threads.create left its thread and its user message
    existing = set(q("SELECT thread_id || ' ' || id FROM chatkit.items WHERE type = 'user_message';").splitlines())
    threads = set(q("SELECT id FROM chatkit.threads;").splitlines())
    missing = [(u, t, m) for u, t, m in h.rec.completed_creates
               if t not in h.rec.deleted_threads and (t not in threads or "%s %s" % (t, m) not in existing)]
    if missing:
        problems.append("completed threads.create without its thread or user message (%d):\n  %s"
                        % (len(missing), "\n  ".join(map(str, missing[:10]))))
    # cancellation notes only where the client cut a stream
    notes = q("SELECT t.user_id, i.thread_id, count(*) FROM chatkit.items i JOIN chatkit.threads t "
              "ON t.id = i.thread_id WHERE i.type = 'sdk_hidden_context' GROUP BY 1, 2;")
    known = {tid for u in h.users for tid in u.threads} | h.rec.deleted_threads | \
        {t for _, t, _ in h.rec.completed_creates}
    unknown_notes = collections.Counter()
    for line in notes.splitlines():
        user, tid, n = line.split("|")
        n = int(n)
        if tid in h.rec.cut_streams or tid in known:
            if n > h.rec.cut_streams[tid]:
                problems.append("thread %s has %d cancellation notes but %d cut streams" % (tid, n, h.rec.cut_streams[tid]))
        else:
            unknown_notes[user] += n
    for user, n in unknown_notes.items():
        if n > h.rec.cut_unknown[user]:
            problems.append("user %s: %d notes in threads the client never saw, but only %d creates were cut early"
                            % (user, n, h.rec.cut_unknown[user]))
    stats = q("SELECT (SELECT count(*) FROM chatkit.threads) || ' threads, ' || (SELECT count(*) FROM chatkit.items) "
              "|| ' items, ' || (SELECT count(*) FROM chatkit.items WHERE type = 'sdk_hidden_context') || ' notes, ' "
              "|| (SELECT count(*) FROM chatkit.attachments) || ' attachments, ' || (SELECT count(*) FROM chatkit.threads t "
              "WHERE NOT EXISTS (SELECT 1 FROM chatkit.items i WHERE i.thread_id = t.id)) || ' threads without items';")
    print("database: %s" % stats)
    return problems


def in_outage(h, t, margin):
    return any(a - margin <= t <= b + margin for a, b in h.rec.outages)


def final_turn(h):
    """A plain turn after the chaos must work (the server recovered)."""
    user = User("stress-final-%d" % h.args.seed)
    res = h.post(user, "final", {"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "are you still there?"}], "attachments": [],
        "inference_options": {}}}}, "1.1", sse=True)
    types = [e.get("type") for e in res.events]
    if res.status != 200 or res.broken or "thread.created" not in types or "stream_options" not in types:
        return "a turn after the run failed: HTTP %s %s events %r %r" % (res.status, res.error, types, res.body[:300])
    return None


def slot_check(h, max_streams):
    """With nothing in flight, every user must get CHATKITD_MAX_STREAMS_PER_USER
    concurrent streams again (a stream slot that was never released shows up
    as a 429 here).  Each stream is cut after its first event."""
    time.sleep(1.0 * lib.SLOW)
    leaked = []

    def one(user, out):
        res = h.post(user, "slot-check", {"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "slot"}], "attachments": [], "inference_options": {}}}},
            "1.1", Cut(events=1), sse=True)
        out.append(res.status)
        tid = res.events[0]["thread"]["id"] if res.events and res.events[0].get("type") == "thread.created" else None
        h.stream_cut(res, tid, user)

    for attempt in range(2):
        leaked = []
        for user in h.users:
            out = []
            ts = [threading.Thread(target=one, args=(user, out)) for _ in range(max_streams)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if any(st == 429 for st in out):
                leaked.append((user.id, out))
        if not leaked:
            return None
        time.sleep(3 * lib.SLOW)
    return "stream slots not released (429 with nothing in flight): %r" % leaked[:5]


# --- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-asan", "chatkitd"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=160)
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--pg-port", type=int, default=54328)
    ap.add_argument("--health-limit", type=float, default=None, help="seconds; default 2 (40 under valgrind)")
    ap.add_argument("--workdir", default="/tmp/chatkitd-stress")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, cluster)")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randint(1, 10 ** 6)
    health_limit = args.health_limit or 2.0 * lib.SLOW
    print("stress: seed %d, %ss, %d clients, %d users, binary %s%s" % (
        args.seed, args.seconds, args.concurrency, args.users, args.binary, " (valgrind)" if lib.VALGRIND else ""),
        flush=True)
    rng = random.Random(args.seed)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    os.chmod(args.workdir, 0o755)
    h = Harness(args, rng)
    max_streams = rng.choice([2, 3, 6])
    h.pg = lib.PgCluster(os.path.join(args.workdir, "pg"), port=args.pg_port)
    model_log = open(os.path.join(args.workdir, "model.log"), "ab")
    model = Model(lib.free_port(), args.seed, model_log)
    srv = None
    problems = []
    try:
        h.pg.start()
        model.start()
        env = {"OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % model.port, "OPENAI_API_KEY": "sk-stress",
               "CHATKITD_MODEL": "fake", "CHATKITD_WORKERS": "2", "CHATKITD_LOG_LEVEL": "info",
               "CHATKITD_RATE_REQUESTS_PER_MIN": "0", "CHATKITD_RATE_TURNS_PER_MIN": "0",
               "CHATKITD_MAX_STREAMS_PER_USER": str(max_streams), "CHATKITD_UPSTREAM_RETRIES": str(rng.choice([0, 1, 2])),
               "CHATKITD_UPSTREAM_CONNECT_TIMEOUT_MS": "1000",
               "CHATKITD_UPSTREAM_FIRST_TOKEN_TIMEOUT_MS": str(1500 * lib.SLOW),
               "CHATKITD_UPSTREAM_STALL_TIMEOUT_MS": str(1500 * lib.SLOW),
               "CHATKITD_HEARTBEAT_MS": "700", "CHATKITD_MAX_STREAM_SECONDS": str(rng.choice([3, 8, 300]) * lib.SLOW),
               "CHATKITD_UPLOAD_MAX_BYTES": "2M"}
        srv = lib.Server(args.binary, os.path.join(args.workdir, "server.log"), database_url=h.pg.conninfo,
                         extra_env=env).start()
        srv.wait_ready(timeout=60)
        h.base, h.port = srv.url, srv.port
    except Exception as exc:  # noqa: BLE001
        print("set-up failed: %s" % exc, flush=True)
        if srv:
            srv.stop()
        model.kill()
        h.pg.stop()
        return 2
    print("server %s, model port %d, pg %s; server env: %s" % (srv.url, model.port, h.pg.conninfo,
          " ".join("%s=%s" % kv for kv in env.items() if kv[0].startswith("CHATKITD_U") or "STREAM" in kv[0])),
          flush=True)

    t0 = time.monotonic()
    h.stop_at = t0 + args.seconds
    health_path = os.path.join(args.workdir, "health.txt")
    health = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sample-health", srv.url, health_path])
    chaos_thread = threading.Thread(target=chaos, args=(h, model, rng, args.seconds, t0), daemon=True)
    chaos_thread.start()
    clients = [threading.Thread(target=h.client, args=(n,), daemon=True) for n in range(args.concurrency)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=max(1.0, h.stop_at + 90 * lib.SLOW - time.monotonic()))
    stuck = sum(c.is_alive() for c in clients)
    chaos_thread.join(timeout=60)
    print("[%5.1fs] clients done (%d stuck)" % (time.monotonic() - t0, stuck), flush=True)
    if stuck:
        problems.append("%d client threads did not finish (server not answering?)" % stuck)
    if model.proc.poll() is not None:
        model.start()
    rec = h.rec
    if not srv.alive():
        problems.append("the server died during the run: %s" % srv.exited())
    else:
        problems += [p for p in (final_turn(h), slot_check(h, max_streams)) if p]
    health.kill()
    health.wait()
    rec.health = read_health(health_path)
    # SIGTERM while a new burst of operations (long streams, slow readers, uploads) is in flight
    h.stop_at = time.monotonic() + 3
    burst = [threading.Thread(target=h.client, args=(args.concurrency + n,), daemon=True)
             for n in range(min(64, args.concurrency))]
    for c in burst:
        c.start()
    time.sleep(1.5)
    print("[%5.1fs] SIGTERM with %d clients busy" % (time.monotonic() - t0, sum(c.is_alive() for c in burst)),
          flush=True)
    verdict = srv.stop_checked()
    if srv.proc.returncode != 0 and not verdict:
        verdict = "exit status %s" % srv.proc.returncode
    print("[%5.1fs] server exited with status %s" % (time.monotonic() - t0, srv.proc.returncode), flush=True)
    for c in burst:
        c.join(timeout=60 * lib.SLOW)
    print("[%5.1fs] server stopped" % (time.monotonic() - t0), flush=True)

    # report
    print("operations: %s" % ", ".join("%s=%d" % kv for kv in sorted(rec.ops.items())))
    print("outcomes:   %s" % ", ".join("%s=%d" % kv for kv in sorted(rec.statuses.items())))
    print("model:      %s" % json.dumps(model.stats(), sort_keys=True))
    lats = sorted(lat for _, lat, st in rec.health if lat is not None and st == 200)
    bad = [(t - t0, lat, st) for t, lat, st in rec.health if lat is None or st != 200 or lat > health_limit]
    if lats:
        print("healthz:    %d samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            len(rec.health), 1000 * lats[len(lats) // 2], 1000 * lats[int(len(lats) * 0.99)], 1000 * lats[-1]))
    if bad or not lats:
        problems.append("/healthz not responsive (limit %.1fs): %r" % (health_limit, bad[:10]))
    errs = [(t - t0, op, st, body) for t, op, st, body in rec.server_errors if not in_outage(h, t, 5 * lib.SLOW)]
    if errs:
        problems.append("HTTP 5xx outside the outage windows (%d):\n  %s" % (len(errs), "\n  ".join(map(repr, errs[:10]))))
    if rec.framing:
        problems.append("SSE framing errors in uninterrupted streams: %r" % rec.framing[:5])
    if sum(rec.ops.values()) < args.seconds:
        problems.append("only %d operations ran" % sum(rec.ops.values()))
    harness_errors = {k: v for k, v in rec.ops.items() if k.startswith("harness-error")}
    if harness_errors:
        problems.append("harness errors: %r" % harness_errors)
    try:
        problems += check_invariants(h)
    except lib.TestFailure as exc:
        problems.append("invariant queries failed: %s" % exc)

    if verdict:
        problems.append("server at exit: %s" % verdict)
    else:
        print("server:     exit status 0 after SIGTERM, no sanitizer report")
    model.kill()
    h.pg.stop()
    print()
    if problems:
        print("FAIL seed %d: %d problem(s)" % (args.seed, len(problems)))
        for p in problems:
            print("- " + p)
        print("logs kept in %s (reproduce: --seed %d)" % (args.workdir, args.seed))
        return 1
    print("PASS seed %d (%.0f s, %d operations)" % (args.seed, args.seconds, sum(rec.ops.values())))
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--sample-health":
        sys.exit(health_sampler(sys.argv[2], sys.argv[3]))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
