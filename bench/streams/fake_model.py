#!/usr/bin/python3
"""fake_model.py - an asyncio fake of the OpenAI Chat Completions endpoint for
the stream benchmark (bench/streams/run.sh).

Unlike tests/acceptance/fake_openai.py (one thread per request), this one
holds thousands of concurrent streamed answers in one event loop.  It speaks
just enough HTTP/1.1 for libcurl: Content-Length request bodies,
`Expect: 100-continue`, keep-alive, chunked `text/event-stream` answers.
With --tls-port (and --tls-cert/--tls-key) it also serves TLS there,
offering h2 and http/1.1 by ALPN as a hosted endpoint does.  A connection
that negotiated h2, or that opens with the HTTP/2 preface in clear text,
speaks HTTP/2 (Debian's python3-h2): many answers multiplexed on one
connection, at most 100 at once per connection (SETTINGS, as a hosted
endpoint would say), flow control honoured.

  POST .../chat/completions  "stream": true  -> role chunk, then `tokens`
        content chunks, one every `interval_ms` (the first after
        `first_ms`), each gap drawn uniformly from [0.5, 1.5] x the
        nominal one so that concurrent streams do not tick in lockstep,
        then finish_reason "stop" and `data: [DONE]`.
        Each content chunk is "@<time_ns>;" where time_ns is
        time.time_ns() taken right before the chunk is written to the
        socket, so a client can compute the latency of every token from
        the text alone.
                             "stream": false -> {"choices":[{"message":
        {"content":"Bench Title"}}]} at once (the title call).
  GET /_stats  {"active","started","finished","title_calls","bad_requests",
               "connections","h2_connections"}

Per-request pacing: the last user message may contain
"bench:tokens=N,interval_ms=M,first_ms=F,pad=P" (any subset; pad: P bytes
of "x" after each token's stamp, for large answers); the command line gives
the defaults.

    fake_model.py --port 8090 [--tokens 120 --interval-ms 500 --first-ms 500]
                  [--tls-port 8091 --tls-cert cert.pem --tls-key key.pem]
"""
import argparse
import asyncio
import json
import random
import re
import sys
import time

PACING = re.compile(rb"bench:([a-z_=0-9,]+)")
STREAMED = re.compile(rb'"stream":\s*true')
STATS = {"active": 0, "started": 0, "finished": 0, "title_calls": 0, "bad_requests": 0,
         "connections": 0, "h2_connections": 0}
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEFAULTS = {"tokens": 120, "interval_ms": 500, "first_ms": 500, "pad": 0}

TITLE = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bench Title"},
                                 "finish_reason": "stop"}]}).encode()


def event(delta, finish=None):
    """One chat.completion.chunk as an SSE event."""
    ev = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}, separators=(",", ":"))
    return b"data: " + ev.encode() + b"\n\n"


def chunk(delta, finish=None):
    """One chat.completion.chunk as a chunked-encoding frame of an SSE event."""
    return frame(event(delta, finish))


def frame(data):
    """`data` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def pacing(body):
    """The stream's pacing: DEFAULTS overridden by a bench:... directive in
    the body (the user's message reaches the model verbatim)."""
    p = dict(DEFAULTS)
    for m in PACING.finditer(body):
        for kv in m.group(1).split(b","):
            k, _, v = kv.partition(b"=")
            if k.decode() in p and v.isdigit():
                p[k.decode()] = int(v)
    return p


async def read_request(reader, writer):
    """Reads one request; returns (method, path, body) or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.split(b"\r\n")
    method, path = lines[0].split(b" ")[:2]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"expect", b"").lower() == b"100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    n = int(headers.get(b"content-length", b"0") or 0)
    body = await reader.readexactly(n) if n else b""
    return method, path, body


async def answer_stream(writer, body):
    p = pacing(body)
    STATS["active"] += 1
    STATS["started"] += 1
    try:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunk({"role": "assistant", "content": ""}))
        await writer.drain()
        for i in range(p["tokens"]):
            gap = p["first_ms"] if i == 0 else p["interval_ms"]
            await asyncio.sleep(gap * random.uniform(0.5, 1.5) / 1000.0)
            writer.write(chunk({"content": "@%d;%s" % (time.time_ns(), "x" * p["pad"])}))
            await writer.drain()
        writer.write(chunk({}, "stop") + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        STATS["finished"] += 1
    finally:
        STATS["active"] -= 1


class H2Conn:
    """One HTTP/2 connection: requests are read by run(), each streamed
    answer is a task writing DATA frames (waiting for window updates)."""

    def __init__(self, reader, writer):
        import h2.config
        import h2.connection
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.requests = {}  # stream id -> [headers dict, body bytearray]
        self.tasks = {}     # stream id -> answering task
        self.window = asyncio.Event()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    async def run(self, first):
        import h2.events
        import h2.exceptions
        self.conn.initiate_connection()
        self.flush()
        try:
            data = first or await self.reader.read(65536)
            while data:
                for ev in self.conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        self.requests[ev.stream_id] = [dict(ev.headers), bytearray()]
                    elif isinstance(ev, h2.events.DataReceived):
                        self.requests[ev.stream_id][1] += ev.data
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        headers, body = self.requests.pop(ev.stream_id)
                        self.tasks[ev.stream_id] = asyncio.ensure_future(self.answer(ev.stream_id, headers, bytes(body)))
                    elif isinstance(ev, h2.events.StreamReset):
                        self.requests.pop(ev.stream_id, None)
                        task = self.tasks.pop(ev.stream_id, None)
                        if task:
                            task.cancel()
                    elif isinstance(ev, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                        self.window.set()
                self.flush()
                await self.writer.drain()
                data = await self.reader.read(65536)
        except ConnectionError:
            pass
        except h2.exceptions.ProtocolError as exc:
            print("fake_model: HTTP/2 connection closed: %r" % exc, file=sys.stderr, flush=True)
            self.flush()
        finally:
            for task in self.tasks.values():
                task.cancel()

    async def send(self, sid, data, end=False):
        """Sends `data` on stream `sid`, as flow control allows."""
        while data:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.conn.send_data(sid, data[:room])
            data = data[room:]
        if end:
            self.conn.end_stream(sid)
        self.flush()
        await self.writer.drain()

    async def answer(self, sid, headers, body):
        try:
            method, path = headers.get(b":method"), headers.get(b":path", b"")
            if method == b"POST" and path.endswith(b"/chat/completions") and STREAMED.search(body):
                await self.answer_stream(sid, body)
            elif method == b"POST" and path.endswith(b"/chat/completions"):
                STATS["title_calls"] += 1
                self.conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/json"),
                                             (b"content-length", b"%d" % len(TITLE))])
                await self.send(sid, TITLE, end=True)
            elif method == b"GET" and path == b"/_stats":
                data = json.dumps(STATS).encode()
                self.conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/json")])
                await self.send(sid, data, end=True)
            else:
                STATS["bad_requests"] += 1
                self.conn.send_headers(sid, [(b":status", b"404")], end_stream=True)
                self.flush()
        except Exception:  # noqa: BLE001 - a reset or closed stream ends the answer
            pass
        finally:
            self.tasks.pop(sid, None)

    async def answer_stream(self, sid, body):
        p = pacing(body)
        STATS["active"] += 1
        STATS["started"] += 1
        try:
            self.conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/event-stream"),
                                         (b"cache-control", b"no-cache")])
            await self.send(sid, event({"role": "assistant", "content": ""}))
            for i in range(p["tokens"]):
                gap = p["first_ms"] if i == 0 else p["interval_ms"]
                await asyncio.sleep(gap * random.uniform(0.5, 1.5) / 1000.0)
                await self.send(sid, event({"content": "@%d;%s" % (time.time_ns(), "x" * p["pad"])}))
            await self.send(sid, event({}, "stop") + b"data: [DONE]\n\n", end=True)
            STATS["finished"] += 1
        finally:
            STATS["active"] -= 1


async def handle(reader, writer):
    STATS["connections"] += 1
    tls = writer.get_extra_info("ssl_object")
    if tls is not None and tls.selected_alpn_protocol() == "h2":
        STATS["h2_connections"] += 1
        await H2Conn(reader, writer).run(b"")
        writer.close()
        return
    try:
        first = await reader.read(len(H2_PREFACE))
        while first and H2_PREFACE.startswith(first) and len(first) < len(H2_PREFACE):
            more = await reader.read(len(H2_PREFACE) - len(first))
            if not more:
                break
            first += more
        if first == H2_PREFACE:
            STATS["h2_connections"] += 1
            await H2Conn(reader, writer).run(first)
            writer.close()
            return
    except ConnectionError:
        writer.close()
        return
    await handle_http1(Prefixed(reader, first), writer)


class Prefixed:
    """A reader whose first bytes were already read (to look for the
    HTTP/2 preface): serves them again before the socket's."""

    def __init__(self, reader, prefix):
        self.reader, self.buf = reader, bytearray(prefix)

    async def fill(self):
        data = await self.reader.read(65536)
        if not data:
            raise asyncio.IncompleteReadError(bytes(self.buf), None)
        self.buf += data

    async def readuntil(self, sep):
        while sep not in self.buf:
            await self.fill()
        end = self.buf.index(sep) + len(sep)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def readexactly(self, n):
        while len(self.buf) < n:
            await self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


async def handle_http1(reader, writer):
    try:
        while True:
            req = await read_request(reader, writer)
            if req is None:
                break
            method, path, body = req
            if method == b"GET" and path == b"/_stats":
                data = json.dumps(STATS).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(data), data))
            elif method == b"POST" and path.endswith(b"/chat/completions") and STREAMED.search(body):
                await answer_stream(writer, body)
            elif method == b"POST" and path.endswith(b"/chat/completions"):
                STATS["title_calls"] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(TITLE), TITLE))
            else:
                STATS["bad_requests"] += 1
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host, port, tls_port=None, cert=None, key=None):
    servers = [await asyncio.start_server(handle, host, port, backlog=8192, limit=1 << 20)]
    print("fake_model listening on http://%s:%d/v1" % (host, port), flush=True)
    if tls_port:
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        servers.append(await asyncio.start_server(handle, host, tls_port, backlog=8192, limit=1 << 20, ssl=ctx))
        print("fake_model listening on https://%s:%d/v1" % (host, tls_port), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tokens", type=int, default=DEFAULTS["tokens"])
    ap.add_argument("--interval-ms", type=int, default=DEFAULTS["interval_ms"])
    ap.add_argument("--first-ms", type=int, default=DEFAULTS["first_ms"])
    ap.add_argument("--tls-port", type=int)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    DEFAULTS.update(tokens=args.tokens, interval_ms=args.interval_ms, first_ms=args.first_ms)
    try:
        asyncio.run(serve(args.host, args.port, args.tls_port, args.tls_cert, args.tls_key))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
