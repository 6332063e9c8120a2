#!/usr/bin/python3
"""fake_openai.py - a scriptable fake of the OpenAI HTTP API for chatkitd tests.

Speaks the wire format chatkitd uses:
  POST /v1/chat/completions   streamed (text/event-stream chunks, tool-call
                              deltas with arguments split over chunks,
                              finish_reason, `data: [DONE]`) or not
  POST /v1/audio/transcriptions   multipart/form-data (`file`, `model`);
                              answers {"text": ...}
  GET  /v1/models
Control endpoints (tests):
  POST /_script    body: {"responses": [...], "nonstream": [...],
                   "transcriptions": [...]} or a bare list (= responses);
                   replaces the queues
  POST /_reset     clears the queues and the recorded requests
  GET  /_requests  every request received so far:
                   [{"method","path","headers":{...},"body": JSON or null,
                     "raw_len", "form": multipart parts or absent}]
                   where form = {name: {"filename","content_type",
                   "data_base64"}} (last part of each name)

A streamed request takes the next entry of `responses`; a non-streamed one
(the title, summary and fact-extraction calls) the first entry of
`nonstream` whose `match` (optional) is a substring of the request's system
message.  With no entry the streamed answer echoes the last user message
("Echo: ...") and the non-streamed one is, by the system message: a summary
call ("running summary") "Fake summary of the earlier conversation.", a
fact extraction ("durable facts") "[]", else "Fake Title".  A transcription takes the next entry of
`transcriptions` (keys `text`, `status`, `body`, `retry_after`,
`delay_ms`); with an
empty queue it answers "fake transcription of N bytes" (N = the size of
the `file` part).  Entry keys (all optional):
  text          answer text (streamed in `chunks` or split in 3 pieces)
  chunks        explicit list of text deltas
  delay_ms      pause before each chunk (default 0)
  burst         true: every event of the answer leaves in one write, so
                the reader gets them in one read
  tool_calls    [{"name","arguments": object or string,"id"?}] -> streamed
                tool-call deltas, arguments split in 4-character fragments,
                finish_reason "tool_calls"
  status        HTTP status to answer with (e.g. 500, 429) and `body`
  retry_after   value of a Retry-After header (seconds)
  garbage       raw text sent as one `data:` line instead of JSON
  hang_ms       send the headers, then nothing for that long (first-token timeout)
  stall_ms      after the chunks, wait that long before finishing (stall timeout)
  truncate      end the body right after the chunks (no finish_reason, no [DONE])
  error         an {"error":{"message":...}} chunk after the chunks
  reset         after the chunks, close the connection with a TCP reset
  garbage_after raw text sent as one `data:` line after the chunks
  usage         {"prompt_tokens","completion_tokens"}: sent as a last chunk
                (empty choices) when the request asked for
                stream_options.include_usage, or as `usage` of a JSON answer

While it hangs or stalls, the fake watches its socket: when chatkitd closes
the upstream connection, the request's entry in /_requests gets
"client_closed": true (tests poll for it).

Standalone: fake_openai.py --port 8089 [--script FILE.json]
"""
import argparse
import base64
import json
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.responses = []
        self.nonstream = []
        self.transcriptions = []
        self.requests = []

    def load(self, script):
        if isinstance(script, list):
            script = {"responses": script}
        with self.lock:
            self.responses = list(script.get("responses", []))
            self.nonstream = list(script.get("nonstream", []))
            self.transcriptions = list(script.get("transcriptions", []))

    def next(self, streamed, system=""):
        with self.lock:
            if streamed:
                return self.responses.pop(0) if self.responses else None
            for i, spec in enumerate(self.nonstream):
                if spec.get("match") is None or spec["match"] in system:
                    return self.nonstream.pop(i)
            return None

    def next_transcription(self):
        with self.lock:
            return self.transcriptions.pop(0) if self.transcriptions else None


STATE = State()


def default_nonstream(system):
    if "running summary" in system:
        return "Fake summary of the earlier conversation."
    if "durable facts" in system:
        return "[]"
    return "Fake Title"


def last_user_text(body):
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def parse_multipart(content_type, raw):
    """The parts of a multipart/form-data body: {name: {"filename",
    "content_type", "data_base64"}}, or None when it is not one."""
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = params.get("boundary", "").strip('"')
    if not content_type.startswith("multipart/form-data") or not boundary:
        return None
    parts = {}
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep or not data.endswith(b"\r\n"):
            return None
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disp = dict(p.strip().split("=", 1) for p in headers.get("content-disposition", "").split(";")[1:] if "=" in p)
        parts[disp.get("name", "").strip('"')] = {
            "filename": disp["filename"].strip('"') if "filename" in disp else None,
            "content_type": headers.get("content-type"),
            "data_base64": base64.b64encode(data[:-2]).decode(),
        }
    return parts


def split3(text):
    if not text:
        return []
    n = max(1, (len(text) + 2) // 3)
    return [text[i:i + n] for i in range(0, len(text), n)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    # --- plumbing -----------------------------------------------------------
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def record(self, raw):
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() in
                        ("authorization", "content-type", "accept", "x-request-id")},
            "body": body,
            "raw_len": len(raw),
        }
        form = parse_multipart(self.headers.get("Content-Type", ""), raw)
        if form is not None:
            entry["form"] = form
        with STATE.lock:
            STATE.requests.append(entry)
        self.entry = entry
        return body

    def wait_watching(self, seconds):
        """Sleeps `seconds`, returning early (and marking the request's
        entry client_closed) when the peer closes the connection."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while time.monotonic() < deadline:
            ready, _, _ = select.select([sock], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
            if not ready:
                continue
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if data == b"":
                with STATE.lock:
                    self.entry["client_closed"] = True
                raise ConnectionResetError("peer closed")
            time.sleep(0.05)

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def event(self, obj):
        data = obj if isinstance(obj, str) else json.dumps(obj)
        text = ("data: %s\n\n" % data).encode()
        if getattr(self, "burst", None) is not None:
            self.burst.append(text)
            return
        self.wfile.write(text)
        self.wfile.flush()

    # --- routes ------------------------------------------------------------------
    def do_GET(self):
        if self.path == "/_requests":
            with STATE.lock:
                self.send_json(200, STATE.requests)
        elif self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/_script":
            STATE.load(json.loads(raw or b"{}"))
            return self.send_json(200, {"ok": True})
        if self.path == "/_reset":
            with STATE.lock:
                STATE.responses, STATE.nonstream, STATE.transcriptions, STATE.requests = [], [], [], []
            return self.send_json(200, {"ok": True})
        body = self.record(raw)
        if self.path.endswith("/audio/transcriptions"):
            return self.answer_transcription(raw)
        if not self.path.endswith("/chat/completions"):
            return self.send_json(404, {"error": {"message": "unknown path %s" % self.path}})
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.send_json(400, {"error": {"message": "body must be a JSON object with messages"}})
        streamed = bool(body.get("stream"))
        first = body["messages"][0] if body["messages"] and isinstance(body["messages"][0], dict) else {}
        system = first.get("content") if first.get("role") == "system" and isinstance(first.get("content"), str) else ""
        spec = STATE.next(streamed, system)
        try:
            if spec and spec.get("status"):
                return self.answer_status(spec)
            if streamed:
                self.answer_stream(body, spec or {"text": "Echo: " + last_user_text(body)})
            else:
                self.answer_json(body, spec or {"text": default_nonstream(system)})
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- answers ------------------------------------------------------------------
    def answer_transcription(self, raw):
        form = parse_multipart(self.headers.get("Content-Type", ""), raw) or {}
        if "file" not in form or "model" not in form:
            return self.send_json(400, {"error": {"message": "multipart body needs `file` and `model` parts"}})
        spec = STATE.next_transcription() or {}
        time.sleep(spec.get("delay_ms", 0) / 1000.0)
        if spec.get("status"):
            return self.answer_status(spec)
        size = len(base64.b64decode(form["file"]["data_base64"]))
        self.send_json(200, {"text": spec.get("text", "fake transcription of %d bytes" % size)})

    def answer_status(self, spec):
        extra = {"Retry-After": str(spec["retry_after"])} if "retry_after" in spec else None
        self.send_json(spec["status"], spec.get("body", {"error": {"message": "scripted failure"}}), extra)

    def answer_json(self, body, spec):
        time.sleep(spec.get("delay_ms", 0) / 1000.0)
        self.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": spec.get("text", "")},
                         "finish_reason": "stop"}],
            **({"usage": spec["usage"]} if spec.get("usage") else {}),
        })

    def chunk(self, delta, finish=None):
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": "fake-model", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def answer_stream(self, body, spec):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(b": fake-openai\n\n")
        self.wfile.flush()
        if spec.get("hang_ms"):
            self.wait_watching(spec["hang_ms"] / 1000.0)
            return
        if "garbage" in spec:
            self.event(spec["garbage"])
            return
        delay = spec.get("delay_ms", 0) / 1000.0
        self.burst = [] if spec.get("burst") else None
        try:
            self.stream_answer(spec, body, delay)
        finally:
            if self.burst is not None:
                self.wfile.write(b"".join(self.burst))
                self.wfile.flush()
                self.burst = None

    def stream_answer(self, spec, body, delay):
        self.event(self.chunk({"role": "assistant", "content": ""}))
        for piece in spec.get("chunks") or split3(spec.get("text", "")):
            time.sleep(delay)
            self.event(self.chunk({"content": piece}))
        finish = "stop"
        for i, call in enumerate(spec.get("tool_calls") or []):
            finish = "tool_calls"
            self.stream_tool_call(i, call, delay)
        if spec.get("stall_ms"):
            self.wait_watching(spec["stall_ms"] / 1000.0)
        if spec.get("reset"):
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if "garbage_after" in spec:
            self.event(spec["garbage_after"])
            return
        if spec.get("error"):
            self.event({"error": {"message": spec["error"], "type": "server_error"}})
            return
        if spec.get("truncate"):
            return
        self.event(self.chunk({}, finish))
        if spec.get("usage") and (body.get("stream_options") or {}).get("include_usage"):
            self.event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": "fake-model", "choices": [], "usage": spec["usage"]})
        self.event("[DONE]")

    def stream_tool_call(self, i, call, delay):
        args = call.get("arguments", {})
        args = args if isinstance(args, str) else json.dumps(args)
        head = {"index": i, "id": call.get("id", "call_fake_%d" % i), "type": "function",
                "function": {"name": call["name"], "arguments": ""}}
        self.event(self.chunk({"tool_calls": [head]}))
        for k in range(0, len(args), 4):
            time.sleep(delay)
            self.event(self.chunk({"tool_calls": [{"index": i, "function": {"arguments": args[k:k + 4]}}]}))


class Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--script", help="JSON script file (see the module docstring)")
    args = ap.parse_args()
    if args.script:
        with open(args.script) as f:
            STATE.load(json.load(f))
    server = Server((args.host, args.port), Handler)
    print("fake_openai listening on http://%s:%d/v1" % (args.host, server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
