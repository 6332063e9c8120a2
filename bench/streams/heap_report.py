#!/usr/bin/python3
"""heap_report.py STACKS STREAMS SRC_DIR - the live heap of the server per
open stream, by call site (bench/streams/heap.sh).

STACKS is heaptrack_print's flame-graph output with the "leaked" cost
(one line per backtrace, outermost frame first, frames separated by ';',
then the bytes still allocated when the server was stopped).  Each
backtrace is charged to its innermost frame in chatkitd's own code (a
function of a file under SRC_DIR) followed by the first frame it called
(the library function, when there is one), so that e.g. "setup_easy
(llm.c) > curl_easy_init" is the easy handle and "on_curl_timer (llm.c) >
curl_multi_socket_action" is what libcurl allocates on its own while it
runs a transfer.  Backtraces with no chatkitd frame (start-up in the
libraries) are "(libraries at start-up)".  Prints bytes per stream (total
/ STREAMS), largest first, and the total.
"""
import os
import re
import sys
from collections import defaultdict

FILE = re.compile(r"\(([A-Za-z0-9_]+\.[ch])\)\s*$")


def ours(src):
    names = set()
    for _, _, files in os.walk(src):
        names.update(f for f in files if f.endswith((".c", ".h")))
    return names


def main():
    stacks, streams, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    mine = ours(src)
    sums = defaultdict(int)
    total = 0
    for line in open(stacks, errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        path, _, value = line.rpartition(" ")
        try:
            n = int(value)
        except ValueError:
            continue
        if n <= 0:
            continue
        frames = [f.strip() for f in path.split(";") if f.strip()]
        key = "(libraries at start-up)"
        for i in range(len(frames) - 1, -1, -1):
            m = FILE.search(frames[i])
            if m and m.group(1) in mine:
                callee = frames[i + 1] if i + 1 < len(frames) else ""
                callee = re.sub(r"^0x[0-9a-f]+$", "(library)", callee)
                key = frames[i] + (" > " + callee if callee else "")
                break
        sums[key] += n
        total += n
    rows = sorted(sums.items(), key=lambda kv: -kv[1])
    print("%10s  %s" % ("B/stream", "innermost chatkitd frame > what it called"))
    shown = 0
    for key, n in rows:
        if n / streams < 16 and shown >= 25:
            break
        print("%10.0f  %s" % (n / streams, key))
        shown += 1
    print("%10.0f  total live heap / %d streams (includes the idle server's own)" % (total / streams, streams))


if __name__ == "__main__":
    main()
