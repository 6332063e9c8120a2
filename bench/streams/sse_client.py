#!/usr/bin/python3
"""sse_client.py - the load client of the stream benchmark
(bench/streams/run.sh): many concurrent streamed turns over HTTP/1.1, one
connection each, every stream checked and every token timed.

Each turn is `POST /chatkit` {"type":"threads.create"} whose user message
carries a pacing directive for bench/streams/fake_model.py
("bench:tokens=N,interval_ms=M,first_ms=F").  The fake model writes each
token as "@<time_ns>;" (its clock right before the write); the client takes
time.time_ns() as soon as a read returns, so for every
`assistant_message.content_part.text_delta` it knows how long the token took
from the model's socket write to the client's read.

A stream passes when: HTTP 200 text/event-stream, the first event is
thread.created, every frame is `data: <json>\\n\\n`, no `error` event, all N
tokens arrived (in text_delta events), the assistant message was closed
(thread.item.done of an assistant_message) and the chunked body ended
cleanly.

Modes:
  hold     --streams N: open N turns (at --ramp streams/s), wait until all N
           have received their first token, run --plateau-cmd (a shell
           command; the streams keep being served meanwhile), then let them
           finish.  Reports how many were open while the command ran and
           the latency of the tokens read meanwhile (steady state: no
           turn starting or ending).  --steps 1000,2000,5000: the same in
           steps (the last step is --streams): open streams up to the step,
           wait until all have their first token, run the command with
           BENCH_OPEN=<step> in its environment, go on to the next step.
  latency  --streams N --turns-per-stream K: N loops (started at --ramp
           loops/s), each running K turns back to back (so about N turns
           are always in flight).
  --procs N (hold): spread the streams over N client processes (stream i
           in process i mod N, each ramping at --ramp/N), so that one
           Python process's CPU does not limit thousands of streams; the
           parent runs the plateau command when every process has its share
           of the step open, and merges the results.
  --direct URL: instead of chatkitd, stream straight from the fake model's
           /v1/chat/completions (same pacing): the measurement floor, i.e.
           the fake model's and this client's own overhead.

Prints one JSON object (summary, including this process's own CPU seconds)
on stdout; progress on stderr.
"""
import argparse
import asyncio
import json
import os
import re
import sys
import time
from urllib.parse import urlsplit

MARK = re.compile(rb"@(\d+);")


def percentile(values, p):
    """The p-th percentile (nearest rank) of a sorted list, or None."""
    if not values:
        return None
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def ms_stats(ns_values):
    """{"n","p50","p90","p99","max"} in milliseconds of latencies in ns."""
    v = sorted(ns_values)
    out = {"n": len(v)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        x = percentile(v, p)
        out[name] = round(x / 1e6, 3) if x is not None else None
    return out


class Chunked:
    """Incremental decoder of an HTTP/1.1 chunked body; feed() returns the
    payload bytes, `done` is set by the last chunk."""

    def __init__(self):
        self.buf = b""
        self.left = 0  # payload bytes still due in the current chunk
        self.skip = 0  # bytes of the CRLF after a chunk still to drop
        self.done = False

    def feed(self, data):
        self.buf += data
        out = []
        while not self.done:
            if self.skip:
                n = min(self.skip, len(self.buf))
                self.buf, self.skip = self.buf[n:], self.skip - n
                if self.skip:
                    break
            if self.left == 0:
                eol = self.buf.find(b"\r\n")
                if eol < 0:
                    break
                size = int(self.buf[:eol].split(b";")[0], 16)
                self.buf = self.buf[eol + 2:]
                if size == 0:
                    self.done = True
                    break
                self.left = size
            if not self.buf:
                break
            take = self.buf[:self.left]
            self.buf, self.left = self.buf[len(take):], self.left - len(take)
            out.append(take)
            if self.left == 0:
                self.skip = 2
        return b"".join(out)


class Stream:
    """One streamed turn: request, response parsing, checks, token latencies."""

    def __init__(self, bench, index):
        self.bench = bench
        self.index = index
        self.errors = []
        self.tokens = 0
        self.events = 0
        self.first_ns = None
        self.latencies = []
        self.assistant_done = False
        self.first_type = None
        self.failed_at = None  # (seconds since the client started, events read) of an exception

    def request(self):
        b = self.bench
        text = "bench:" + b.pacing
        if b.direct:
            body = json.dumps({"model": "fake", "stream": True, "messages": [{"role": "user", "content": text}]})
            user = ""
        else:
            body = json.dumps({"type": "threads.create", "params": {"input": {
                "content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
            user = "X-User-Id: bench-%d\r\n" % self.index
        return ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
                % (b.path, b.host, user, len(body), body)).encode()

    async def run(self):
        b = self.bench
        writer = None
        try:
            reader, writer = await asyncio.open_connection(b.hostname, b.port, limit=1 << 20)
            writer.write(self.request())
            await self.read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
            self.errors.append("%s: %s" % (type(exc).__name__, exc))
            self.failed_at = (round(time.monotonic() - b.t0, 1), self.events)
        finally:
            if writer is not None:
                writer.close()
        self.check_end()

    async def read_response(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            rest = await asyncio.wait_for(reader.read(2000), 5)
            raise ValueError("HTTP status %r %r" % (status, rest[:300]))
        low = head.lower()
        if b"transfer-encoding: chunked" not in low or b"text/event-stream" not in low:
            raise ValueError("not a chunked event stream: %r" % head[:400])
        body, sse = Chunked(), b""
        while not body.done:
            data = await reader.read(65536)
            now = time.time_ns()
            if not data:
                raise ValueError("connection closed before the last chunk")
            sse += body.feed(data)
            while True:
                end = sse.find(b"\n\n")
                if end < 0:
                    break
                self.on_frame(sse[:end], now)
                sse = sse[end + 2:]
        if sse:
            self.errors.append("body ended inside a frame: %r" % sse[:200])

    def on_frame(self, frame, now):
        if self.bench.direct:
            if frame.startswith(b"data: {"):
                self.on_tokens(frame, now)
            return
        if not frame.startswith(b"data: ") or b"\n" in frame:
            if not frame.startswith(b":"):
                self.errors.append("bad frame %r" % frame[:200])
            return
        ev = json.loads(frame[6:])
        self.events += 1
        kind = ev.get("type")
        if self.first_type is None:
            self.first_type = kind
        if kind == "error":
            self.errors.append("error event %s" % json.dumps(ev)[:300])
        elif kind == "thread.item.updated" and ev["update"].get("type") == "assistant_message.content_part.text_delta":
            self.on_tokens(ev["update"]["delta"].encode(), now)
        elif kind == "thread.item.done" and ev["item"].get("type") == "assistant_message":
            self.assistant_done = True

    def on_tokens(self, text, now):
        for m in MARK.finditer(text):
            lat = now - int(m.group(1))
            if self.tokens == 0:
                self.first_ns = lat
                self.bench.first_token_seen(self)
            self.tokens += 1
            self.latencies.append(lat)
            if self.bench.in_plateau:
                self.bench.plateau_latencies.append(lat)

    def check_end(self):
        b = self.bench
        if self.tokens != b.tokens:
            self.errors.append("%d of %d tokens" % (self.tokens, b.tokens))
        if not b.direct and self.first_type != "thread.created":
            self.errors.append("first event %r" % self.first_type)
        if not b.direct and not self.assistant_done:
            self.errors.append("no thread.item.done of the assistant message")
        b.stream_ended(self)


class Bench:
    """Shared state of one run: target, pacing, counters, results."""

    def __init__(self, args):
        url = urlsplit(args.direct or args.url)
        self.direct = bool(args.direct)
        self.hostname, self.port = url.hostname, url.port or 80
        self.host = url.netloc
        self.path = url.path
        self.pacing = args.pacing
        self.tokens = int(dict(kv.split("=") for kv in args.pacing.split(","))["tokens"])
        self.open = 0          # streams that got their first token and have not ended
        self.max_open = 0
        self.all_open = asyncio.Event()  # open (+ ended) reached target_open
        self.target_open = args.streams
        self.done = []
        self.t0 = time.monotonic()
        self.in_plateau = False     # the plateau command is running
        self.plateau_latencies = []  # tokens read meanwhile (all streams open, none starting)

    def first_token_seen(self, stream):
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.check_target()

    def stream_ended(self, stream):
        if stream.first_ns is not None:
            self.open -= 1
        self.done.append(stream)
        self.check_target()

    def check_target(self):
        """Sets all_open once every stream started so far is open or has
        ended (a stream that failed before its first token must not keep a
        step waiting forever); the step then reports how many were open."""
        if self.open + len(self.done) >= self.target_open:
            self.all_open.set()

    def raw(self):
        """What a --procs child hands to the parent (see merge())."""
        failed = [s for s in self.done if s.errors]
        return {"streams": len(self.done), "failed": len(failed), "max_open": self.max_open,
                "events": sum(s.events for s in self.done), "tokens": sum(s.tokens for s in self.done),
                "firsts": [s.first_ns for s in self.done if s.first_ns is not None],
                "later": [x for s in self.done for x in s.latencies[1:]],
                "errors": sorted({e for s in failed for e in s.errors[:1]}),
                "failed_at": sorted(s.failed_at for s in failed if s.failed_at)[:20],
                "cpu": sum(os.times()[:2])}

    def summary(self):
        failed = [s for s in self.done if s.errors]
        firsts = [s.first_ns for s in self.done if s.first_ns is not None]
        later = [x for s in self.done for x in s.latencies[1:]]
        return {
            "streams": len(self.done), "failed": len(failed), "max_open": self.max_open,
            "events": sum(s.events for s in self.done), "tokens": sum(s.tokens for s in self.done),
            "first_token_ms": ms_stats(firsts), "later_tokens_ms": ms_stats(later),
            "errors": sorted({e for s in failed for e in s.errors[:1]})[:10],
            "failed_at": sorted(s.failed_at for s in failed if s.failed_at)[:20],
            "client_cpu_s": round(sum(os.times()[:2]), 2),
        }


def progress(msg):
    print("sse_client: " + msg, file=sys.stderr, flush=True)


async def plateau_step(bench, args, step, t0):
    """Waits until the `step` streams started so far are open (or ended),
    then runs the plateau command; returns the step's record."""
    bench.target_open = step
    bench.all_open.clear()
    bench.check_target()
    await bench.all_open.wait()
    rec = {"step": step, "open_before": bench.open, "seconds": round(time.monotonic() - t0, 1)}
    progress("%d of %d streams open after %.1f s" % (bench.open, step, rec["seconds"]))
    bench.plateau_latencies = []
    bench.in_plateau = True
    if args.plateau_cmd:
        env = dict(os.environ, BENCH_OPEN=str(step), BENCH_CLIENT_PID=str(os.getpid()))
        proc = await asyncio.create_subprocess_shell(args.plateau_cmd, env=env)
        rec["cmd_status"] = await proc.wait()
    bench.in_plateau = False
    rec["open_after"] = bench.open
    rec["tokens_ms"] = ms_stats(bench.plateau_latencies)
    progress("plateau at %d done, %d streams still open" % (step, bench.open))
    return rec


async def hold(bench, args):
    """Opens args.streams turns at args.ramp/s; at every step (all of them
    when there are no --steps) waits until the streams started so far are
    open, then runs the plateau command; waits for every stream to end."""
    steps = sorted({int(x) for x in args.steps.split(",") if x.strip()} | {args.streams}) if args.steps else [args.streams]
    steps = [x for x in steps if x <= args.streams]
    tasks, records = [], []
    t0 = time.monotonic()
    started = 0
    for step in steps:
        t1, first = time.monotonic(), started
        while started < step:
            tasks.append(asyncio.ensure_future(Stream(bench, started).run()))
            started += 1
            delay = t1 + (started - first) / args.ramp - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        records.append(await plateau_step(bench, args, step, t0))
    progress("%d streams started; waiting for them to end" % started)
    await asyncio.gather(*tasks)
    out = bench.summary()
    last = records[-1] if records else None
    if last is not None and last["open_before"] < args.streams:
        progress("only %d of %d streams were open at the last step (max %d)" % (
            last["open_before"], args.streams, bench.max_open))
    out["plateau"] = last
    out["steps"] = records
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


async def latency(bench, args):
    """args.streams loops of args.turns_per_stream sequential turns."""
    bench.target_open = 10 ** 9

    async def loop(k):
        await asyncio.sleep(k / args.ramp)
        for j in range(args.turns_per_stream):
            await Stream(bench, k * args.turns_per_stream + j).run()
            if k == 0:
                progress("round %d/%d" % (j + 1, args.turns_per_stream))

    t0 = time.monotonic()
    await asyncio.gather(*(loop(k) for k in range(args.streams)))
    out = bench.summary()
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def child_main(args, k, conn):
    """A --procs child: streams k, k+N, k+2N, ...; steps on the parent's word."""
    n = args.procs
    args.ramp = args.ramp / n
    bench = Bench(args)

    async def run():
        loop = asyncio.get_running_loop()
        tasks, started = [], 0
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg[0] == "finish":
                await asyncio.gather(*tasks)
                conn.send(bench.raw())
                return
            share = (msg[1] - k + n - 1) // n  # streams i < step with i % n == k
            t1, first = time.monotonic(), started
            while started < share:
                tasks.append(asyncio.ensure_future(Stream(bench, k + n * started).run()))
                started += 1
                delay = t1 + (started - first) / args.ramp - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            bench.target_open = share
            bench.all_open.clear()
            bench.check_target()
            await bench.all_open.wait()
            bench.plateau_latencies = []
            bench.in_plateau = True
            conn.send({"open": bench.open, "max_open": bench.max_open})
            await loop.run_in_executor(None, conn.recv)  # the plateau command is done
            bench.in_plateau = False
            conn.send({"open": bench.open, "tokens": bench.plateau_latencies})

    asyncio.run(run())


def hold_procs(args):
    """hold with --procs: the parent of args.procs children (child_main)."""
    import multiprocessing
    import subprocess
    steps = sorted({int(x) for x in args.steps.split(",") if x.strip()} | {args.streams}) if args.steps else [args.streams]
    steps = [x for x in steps if x <= args.streams]
    conns, procs = [], []
    for k in range(args.procs):
        parent, child = multiprocessing.Pipe()
        p = multiprocessing.Process(target=child_main, args=(args, k, child))
        p.start()
        conns.append(parent)
        procs.append(p)
    t0 = time.monotonic()
    records = []
    for step in steps:
        for c in conns:
            c.send(("step", step))
        ready = [c.recv() for c in conns]
        rec = {"step": step, "open_before": sum(r["open"] for r in ready), "seconds": round(time.monotonic() - t0, 1)}
        progress("%d of %d streams open after %.1f s" % (rec["open_before"], step, rec["seconds"]))
        if args.plateau_cmd:
            env = dict(os.environ, BENCH_OPEN=str(step), BENCH_CLIENT_PID=" ".join(str(p.pid) for p in procs))
            rec["cmd_status"] = subprocess.call(args.plateau_cmd, shell=True, env=env)
        rec["plateau_seconds"] = round(time.monotonic() - t0 - rec["seconds"], 1)
        for c in conns:
            c.send(("plateau done",))
        after = [c.recv() for c in conns]
        rec["open_after"] = sum(r["open"] for r in after)
        rec["tokens_ms"] = ms_stats([x for r in after for x in r["tokens"]])
        progress("plateau at %d done, %d streams still open" % (step, rec["open_after"]))
        records.append(rec)
    progress("%d streams started; waiting for them to end" % args.streams)
    for c in conns:
        c.send(("finish",))
    raws = [c.recv() for c in conns]
    for p in procs:
        p.join()
    out = {
        "streams": sum(r["streams"] for r in raws), "failed": sum(r["failed"] for r in raws),
        "max_open": sum(r["max_open"] for r in raws), "events": sum(r["events"] for r in raws),
        "tokens": sum(r["tokens"] for r in raws),
        "first_token_ms": ms_stats([x for r in raws for x in r["firsts"]]),
        "later_tokens_ms": ms_stats([x for r in raws for x in r["later"]]),
        "errors": sorted({e for r in raws for e in r["errors"]})[:10],
        "failed_at": sorted(x for r in raws for x in r["failed_at"])[:20],
        "client_cpu_s": round(sum(r["cpu"] for r in raws), 2), "procs": args.procs,
        "plateau": records[-1] if records else None, "steps": records,
        "seconds": round(time.monotonic() - t0, 1),
    }
    last = out["plateau"]
    if last is not None and last["open_before"] < args.streams:
        progress("only %d of %d streams were open at the last step" % (last["open_before"], args.streams))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("hold", "latency"))
    ap.add_argument("--url", help="chatkitd endpoint, http://127.0.0.1:PORT/chatkit")
    ap.add_argument("--direct", help="the fake model's http://127.0.0.1:PORT/v1/chat/completions instead")
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--turns-per-stream", type=int, default=1)
    ap.add_argument("--ramp", type=float, default=400.0, help="streams (hold) or loops (latency) started per second")
    ap.add_argument("--pacing", default="tokens=120,interval_ms=500,first_ms=500")
    ap.add_argument("--plateau-cmd")
    ap.add_argument("--steps", help="hold: comma list of open-stream counts to run the plateau command at")
    ap.add_argument("--procs", type=int, default=1, help="hold: client processes sharing the streams")
    args = ap.parse_args()
    if not (args.url or args.direct):
        ap.error("--url or --direct is required")
    if args.mode == "hold" and args.procs > 1:
        result = hold_procs(args)
    else:
        bench = Bench(args)
        result = asyncio.run(hold(bench, args) if args.mode == "hold" else latency(bench, args))
    print(json.dumps(result))
    if args.mode == "hold" and (result["plateau"] or {}).get("open_before") != args.streams:
        return 1  # the last snapshot did not see every stream open
    return 0 if result["failed"] == 0 and result["streams"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
