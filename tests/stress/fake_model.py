#!/usr/bin/python3
"""fake_model.py - a misbehaving fake of the OpenAI HTTP API for the stress
harness (tests/stress/stress.py).

One asyncio loop serves many concurrent requests (HTTP/1.1, keep-alive,
Content-Length or chunked request bodies, `Expect: 100-continue`).  Every
answer is drawn at random (seeded by --seed) from a menu of good and bad
behaviours, so that a stress run exercises the server's upstream paths:

  POST .../chat/completions "stream": true
      text       role chunk, 1..12 content chunks 0..80 ms apart, stop, [DONE]
      long       60..200 chunks 5..30 ms apart (long streams: slow readers, cuts)
      flood      1500..3000 chunks of 1 KB as fast as the server takes them
                 (more than the server buffers for a slow client: it must pause)
      search     a `search` tool call (arguments split over chunks); a request
                 that already carries a tool answer gets `text` instead
      unknown    a call of a tool the server does not have
      status     HTTP 500, 503 or 429 (Retry-After 0) with a JSON error body
      garbage    one `data:` line that is not JSON
      truncate   some chunks, then the body ends (no finish_reason, no [DONE])
      error      some chunks, then an {"error":...} chunk
      hang       headers, then silence for 4 s (first-token timeout)
      stall      some chunks, then silence for 4 s (stall timeout)
      reset      some chunks, then the connection is closed mid-frame
  POST .../chat/completions (not streamed: the title call)
      "Stress Title" after 0..300 ms, or HTTP 500, or a reset
  POST .../audio/transcriptions
      {"text": "transcribed N bytes"} after 0..500 ms, or HTTP 500, or a reset
  GET /_stats   counters per behaviour (JSON)

    fake_model.py --port PORT [--seed N]
"""
import argparse
import asyncio
import json
import random
import re
import sys

STREAM_MENU = [("text", 40), ("long", 8), ("flood", 3), ("search", 12), ("unknown", 2), ("status", 8), ("garbage", 3),
               ("truncate", 5), ("error", 4), ("hang", 2), ("stall", 2), ("reset", 5)]
STATS = {}
RNG = random.Random(0)
STREAMED = re.compile(rb'"stream"\s*:\s*true')
HAS_TOOL_ANSWER = re.compile(rb'"role"\s*:\s*"tool"')


def pick(menu):
    total = sum(w for _, w in menu)
    r = RNG.uniform(0, total)
    for name, w in menu:
        r -= w
        if r <= 0:
            return name
    return menu[-1][0]


def count(name):
    STATS[name] = STATS.get(name, 0) + 1


def chunk(delta, finish=None):
    ev = json.dumps({"id": "chatcmpl-stress", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}, separators=(",", ":"))
    return frame(b"data: " + ev.encode() + b"\n\n")


def frame(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def reply(status, obj, extra=b""):
    data = json.dumps(obj).encode()
    return (b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
            % (status, len(data), extra, data))


async def read_request(reader, writer):
    """One request: (method, path, body) or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"expect", b"").lower() == b"100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += data[:-2]
    else:
        n = int(headers.get(b"content-length", b"0") or 0)
        body = await reader.readexactly(n) if n else b""
    return parts[0], parts[1], body


async def text_chunks(writer, n, lo, hi):
    for i in range(n):
        await asyncio.sleep(RNG.uniform(lo, hi))
        writer.write(chunk({"content": "word%d " % i}))
        await writer.drain()


async def answer_stream(writer, body):
    kind = pick(STREAM_MENU)
    if kind == "search" and HAS_TOOL_ANSWER.search(body):
        kind = "text"
    count("stream." + kind)
    if kind == "status":
        status = RNG.choice([500, 503, 429])
        writer.write(reply(status, {"error": {"message": "stress failure"}},
                           b"Retry-After: 0\r\n" if status == 429 else b""))
        return True
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    if kind == "hang":
        await asyncio.sleep(4)
        return False
    if kind == "garbage":
        writer.write(frame(b"data: <html>502 Bad Gateway</html>\n\n") + b"0\r\n\r\n")
        return True
    writer.write(chunk({"role": "assistant", "content": ""}))
    if kind == "long":
        await text_chunks(writer, RNG.randint(60, 200), 0.005, 0.03)
    elif kind == "flood":
        piece = chunk({"content": "flood " * 170})
        for _ in range(RNG.randint(1500, 3000)):
            writer.write(piece)
            await writer.drain()
    elif kind in ("search", "unknown"):
        name = "search" if kind == "search" else "launch_rockets"
        args = json.dumps({"query": "stress query %d" % RNG.randint(0, 99)})
        writer.write(chunk({"tool_calls": [{"index": 0, "id": "call_%d" % RNG.randint(0, 1 << 30), "type": "function",
                                            "function": {"name": name, "arguments": ""}}]}))
        for k in range(0, len(args), 5):
            await asyncio.sleep(RNG.uniform(0, 0.01))
            writer.write(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[k:k + 5]}}]}))
        writer.write(chunk({}, "tool_calls") + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        return True
    else:
        await text_chunks(writer, RNG.randint(1, 12), 0, 0.08)
    if kind == "truncate":
        writer.write(b"0\r\n\r\n")
        return False
    if kind == "error":
        writer.write(frame(b'data: {"error":{"message":"stress","type":"server_error"}}\n\n') + b"0\r\n\r\n")
        return True
    if kind == "stall":
        await writer.drain()
        await asyncio.sleep(4)
        return False
    if kind == "reset":
        writer.write(b"1f\r\ndata: {\"choi")
        return False
    writer.write(chunk({}, "stop") + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return True


async def answer_title(writer):
    kind = pick([("ok", 85), ("status", 10), ("reset", 5)])
    count("title." + kind)
    if kind == "reset":
        return False
    if kind == "status":
        writer.write(reply(500, {"error": {"message": "stress failure"}}))
        return True
    await asyncio.sleep(RNG.uniform(0, 0.3))
    writer.write(reply(200, {"id": "chatcmpl-stress", "object": "chat.completion", "created": 0, "model": "fake",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "Stress Title"},
                                          "finish_reason": "stop"}]}))
    return True


async def answer_transcription(writer, body):
    kind = pick([("ok", 80), ("status", 12), ("reset", 8)])
    count("transcribe." + kind)
    await asyncio.sleep(RNG.uniform(0, 0.5))
    if kind == "reset":
        return False
    if kind == "status":
        writer.write(reply(500, {"error": {"message": "stress failure"}}))
        return True
    writer.write(reply(200, {"text": "transcribed %d bytes" % len(body)}))
    return True


async def handle(reader, writer):
    try:
        while True:
            req = await read_request(reader, writer)
            if req is None:
                break
            method, path, body = req
            if method == b"GET" and path == b"/_stats":
                writer.write(reply(200, STATS))
                keep = True
            elif path.endswith(b"/chat/completions") and STREAMED.search(body):
                keep = await answer_stream(writer, body)
            elif path.endswith(b"/chat/completions"):
                keep = await answer_title(writer)
            elif path.endswith(b"/audio/transcriptions"):
                keep = await answer_transcription(writer, body)
            else:
                writer.write(reply(404, {"error": {"message": "not found"}}))
                keep = True
            await writer.drain()
            if not keep:
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def serve(host, port):
    server = await asyncio.start_server(handle, host, port, backlog=4096, limit=1 << 22, reuse_address=True)
    print("stress fake model listening on http://%s:%d/v1" % (host, port), flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    RNG.seed(args.seed)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
