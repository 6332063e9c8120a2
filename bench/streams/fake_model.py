#!/usr/bin/python3
"""fake_model.py - an asyncio fake of the OpenAI Chat Completions endpoint for
the stream benchmark (bench/streams/run.sh).

Unlike tests/acceptance/fake_openai.py (one thread per request), this one
holds thousands of concurrent streamed answers in one event loop.  It speaks
just enough HTTP/1.1 for libcurl: Content-Length request bodies,
`Expect: 100-continue`, keep-alive, chunked `text/event-stream` answers.

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
  GET /_stats  {"active","started","finished","title_calls","bad_requests"}

Per-request pacing: the last user message may contain
"bench:tokens=N,interval_ms=M,first_ms=F" (any subset); the command line
gives the defaults.

    fake_model.py --port 8090 [--tokens 120 --interval-ms 500 --first-ms 500]
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
STATS = {"active": 0, "started": 0, "finished": 0, "title_calls": 0, "bad_requests": 0}
DEFAULTS = {"tokens": 120, "interval_ms": 500, "first_ms": 500}

TITLE = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bench Title"},
                                 "finish_reason": "stop"}]}).encode()


def chunk(delta, finish=None):
    """One chat.completion.chunk as a chunked-encoding frame of an SSE event."""
    ev = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}, separators=(",", ":"))
    return frame(b"data: " + ev.encode() + b"\n\n")


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
            writer.write(chunk({"content": "@%d;" % time.time_ns()}))
            await writer.drain()
        writer.write(chunk({}, "stop") + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        STATS["finished"] += 1
    finally:
        STATS["active"] -= 1


async def handle(reader, writer):
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


async def serve(host, port):
    server = await asyncio.start_server(handle, host, port, backlog=8192, limit=1 << 20)
    print("fake_model listening on http://%s:%d/v1" % (host, port), flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tokens", type=int, default=DEFAULTS["tokens"])
    ap.add_argument("--interval-ms", type=int, default=DEFAULTS["interval_ms"])
    ap.add_argument("--first-ms", type=int, default=DEFAULTS["first_ms"])
    args = ap.parse_args()
    DEFAULTS.update(tokens=args.tokens, interval_ms=args.interval_ms, first_ms=args.first_ms)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
