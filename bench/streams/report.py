#!/usr/bin/python3
"""report.py WORKDIR STREAMS - the Markdown summary of bench/streams/run.sh
from the files it left in WORKDIR (see run.sh and plateau.sh for what each
file holds; with BENCH_HOLD=0 hold.json is empty and only the latency part
is printed).  Prints to stdout; memory per stream is (held - idle) / STREAMS;
with BENCH_STEPS the plateau table has one row per step (open-N files).
"""
import json
import os
import sys


def read(work, name):
    """The file's text; "" when it is missing (a snapshot cut short)."""
    path = os.path.join(work, name)
    if not os.path.exists(path):
        print("report.py: %s is missing" % path, file=sys.stderr)
        return ""
    with open(path) as f:
        return f.read()


def mem(work, label):
    """{field: kB} from a LABEL.mem file (VmRSS, Rss, Pss, Pss_Anon, Anonymous)."""
    out = {}
    for line in read(work, label + ".mem").splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


def healthz(work, label, probe="healthz"):
    """(requests, non-2xx, p50 ms, p99 ms, max ms) of LABEL.healthz.log
    (h2load: start, status, microseconds); probe="control": the same of the
    idle chatkitd probed at the same time (LABEL.control.log)."""
    lat, bad = [], 0
    if probe == "control" and not os.path.exists(os.path.join(work, label + ".control.log")):
        return 0, 0, None, None, None  # a run without the control
    for line in read(work, label + "." + probe + ".log").splitlines():
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        bad += not cols[1].startswith("2")
        lat.append(int(cols[2]))
    lat.sort()
    if not lat:
        return 0, 0, None, None, None
    pick = lambda p: round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] / 1000.0, 2)
    return len(lat), bad, pick(50), pick(99), round(lat[-1] / 1000.0, 2)


def cpu(work, label):
    """{process: % of one core} and the loadavg line of a LABEL.cpu file."""
    out, load = {}, ""
    for line in read(work, label + ".cpu").splitlines():
        k, _, v = line.partition(" ")
        if v.endswith("%"):
            out[k] = v[:-1]
        elif line:
            load = " ".join(line.split()[:3])
    return out, load


def fds(work, label):
    """(socket fds, established TCP sockets of the server) of LABEL.fds."""
    lines = read(work, label + ".fds").splitlines()
    sockets = next((l.split()[0] for l in lines if l.strip().endswith("socket")), "?")
    tcp = next((l.split(": ")[1] for l in lines if l.startswith("all of the server")), "?")
    return sockets, tcp


def fake(work, label):
    """"answers in flight / HTTP/2 connections (all connections)" of the
    fake model at LABEL (its /_stats), or "?"."""
    path = os.path.join(work, label + ".fake")
    if not os.path.exists(path) or not read(work, label + ".fake").strip():
        return "?"
    st = json.loads(read(work, label + ".fake"))
    return "%s / %s (%s)" % (st.get("active"), st.get("h2_connections"), st.get("connections"))


def plateau_report(work, hold):
    """One row per step: memory and CPU against open streams."""
    idle = mem(work, "idle")
    print("### Plateau: memory and CPU against open streams\n")
    print("| open streams | VmRSS MiB | per stream KiB (vs idle) | per stream KiB (vs previous step) | "
          "CPU % of one core: server / fake model / client / PostgreSQL | /healthz p50 / p99 / max ms (non-2xx) | "
          "server socket fds / TCP | fake model: answers in flight / HTTP/2 connections (all) | load avg | "
          "idle chatkitd's /healthz meanwhile p50 / p99 / max ms | server threads waiting for a CPU % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    prev_n, prev_rss = 0, idle["VmRSS"]
    print("| 0 (idle) | %.1f | | | %s | %s / %s / %s (%s) | %s / %s | %s | %s | %s / %s / %s | %s |" % (
        (idle["VmRSS"] / 1024.0, " / ".join(cpu(work, "idle")[0].get(k, "?")
                                            for k in ("server", "fake_model", "client", "postgresql")))
        + tuple(healthz(work, "idle")[i] for i in (2, 3, 4, 1)) + fds(work, "idle")
        + (fake(work, "idle"), cpu(work, "idle")[1])
        + tuple(healthz(work, "idle", "control")[i] for i in (2, 3, 4))
        + (cpu(work, "idle")[0].get("server_waiting", "?"),)))
    for rec in hold.get("steps") or []:
        label = "open-%d" % rec["step"]
        if not os.path.exists(os.path.join(work, label + ".mem")):
            continue
        m, (c, load), h = mem(work, label), cpu(work, label), healthz(work, label)
        n = rec["open_before"]
        ctl = healthz(work, label, "control")
        print("| %s%s | %.1f | %.1f | %s | %s | %s / %s / %s (%s) | %s / %s | %s | %s | %s / %s / %s | %s |" % (
            n, "" if n == rec["step"] else " of %d" % rec["step"], m["VmRSS"] / 1024.0,
            (m["VmRSS"] - idle["VmRSS"]) / max(n, 1),
            "%.1f" % ((m["VmRSS"] - prev_rss) / (n - prev_n)) if n > prev_n else "",
            " / ".join(c.get(k, "?") for k in ("server", "fake_model", "client", "postgresql")),
            h[2], h[3], h[4], h[1], *fds(work, label), fake(work, label), load,
            ctl[2], ctl[3], ctl[4], c.get("server_waiting", "?")))
        prev_n, prev_rss = n, m["VmRSS"]
    print()


def hold_report(work, streams, hold):
    """The concurrent-streams part (steps 3-4 of run.sh)."""
    idle, held, after = mem(work, "idle"), mem(work, "held"), mem(work, "after")
    per = lambda k: (held[k] - idle[k]) * 1024 / streams / 1024.0
    print("### Concurrent streams\n")
    print("| streams | failed | open during snapshot | server VmRSS idle / held / after MiB | "
          "VmRSS per stream KiB | Pss_Anon per stream KiB |")
    print("|---|---|---|---|---|---|")
    plateau = hold.get("plateau") or {}
    print("| %d | %s | %s..%s | %.1f / %.1f / %.1f | %.1f | %.1f |" % (
        streams, hold.get("failed"), plateau.get("open_before"), plateau.get("open_after"),
        idle["VmRSS"] / 1024.0, held["VmRSS"] / 1024.0, after["VmRSS"] / 1024.0, per("VmRSS"), per("Pss_Anon")))
    print("\n| /healthz (h2load, fixed rate) | requests | non-2xx | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for label, name in (("idle", "no stream open"), ("held", "%d streams open" % streams)):
        print("| %s | %s | %s | %s | %s | %s |" % ((name,) + healthz(work, label)))
        print("| %s: an idle chatkitd at the same time | %s | %s | %s | %s | %s |" % (
            (name,) + healthz(work, label, "control")))
    c, load = cpu(work, "held")
    print("\nCPU during the held /healthz run (% of one core): " + ", ".join("%s %s%%" % kv for kv in c.items())
          + "; loadavg " + load)
    fds = [l.split() for l in read(work, "held.fds").splitlines() if l.strip().endswith("socket")]
    print("Server socket fds while held: %s (%s)" % (fds[0][0] if fds else "?", ", ".join(
        l for l in read(work, "held.fds").splitlines() if l.startswith(("from clients", "all of the server")))))
    print("Stream failures (first error of each kind): %s" % (hold.get("errors") or "none"))
    print("\n| token latency while holding (write -> read) | tokens | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, r in (("first tokens (during the ramp)", hold.get("first_token_ms", {})),
                    ("later tokens (whole run)", hold.get("later_tokens_ms", {})),
                    ("all tokens while all streams were open", plateau.get("tokens_ms", {}))):
        print("| %s | %s | %s | %s | %s |" % (name, r.get("n"), r.get("p50"), r.get("p99"), r.get("max")))


def main():
    work, streams = sys.argv[1], int(sys.argv[2])
    hold, floor, lat = (json.loads(read(work, f) or "{}") for f in ("hold.json", "floor.json", "latency.json"))
    if not os.path.exists(os.path.join(work, "held.mem")):
        hold = {}
    if os.path.exists(os.path.join(work, "setup")):
        print("Set-up: " + read(work, "setup").strip() + "\n")
    print("Load average (1/5/15 min) at each step: " + "; ".join(read(work, "loadavg").splitlines()) + "\n")
    if hold:
        plateau_report(work, hold)
        hold_report(work, streams, hold)
    print("\nClient CPU (sse_client.py, s): hold %s, floor %s, latency %s" % (
        hold.get("client_cpu_s"), floor.get("client_cpu_s"), lat.get("client_cpu_s")))
    if not lat:
        return 0
    print("\n### Added latency (model token write -> client read of the text_delta)\n")
    print("| path | turns | failed | first token p50 / p99 / max ms | later tokens p50 / p99 / max ms |")
    print("|---|---|---|---|---|")
    for name, r in (("fake model -> client (floor)", floor), ("fake model -> chatkitd -> client", lat)):
        f, l = r.get("first_token_ms", {}), r.get("later_tokens_ms", {})
        print("| %s | %s | %s | %s / %s / %s | %s / %s / %s |" % (
            name, r.get("streams"), r.get("failed"), f.get("p50"), f.get("p99"), f.get("max"),
            l.get("p50"), l.get("p99"), l.get("max")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
