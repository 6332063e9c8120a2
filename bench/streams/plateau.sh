#!/usr/bin/env bash
# bench/streams/plateau.sh SERVER_PID FAKE_PID URL OUTDIR LABEL - one
# snapshot of the server for bench/streams/run.sh: once with no stream open
# (LABEL idle) and once at every step of the hold while that many streams are
# open (LABEL open-N, run by sse_client.py --plateau-cmd, so the streams keep
# flowing meanwhile):
#   OUTDIR/LABEL.mem       VmRSS and smaps_rollup of the server
#   OUTDIR/LABEL.fds       the server's file descriptors by kind, its
#                          established TCP sockets (all, and from clients)
#   OUTDIR/LABEL.healthz.* h2load against URL/healthz at a fixed rate
#                          (BENCH_HEALTHZ_RPS per client x 2 clients, for
#                          BENCH_HEALTHZ_SECONDS): output, per-request log
#   OUTDIR/LABEL.control.* the same h2load, at the same time, against the
#                          /healthz of an idle chatkitd (BENCH_CONTROL_URL,
#                          started by run.sh): the machine's own share
#   OUTDIR/LABEL.cpu       CPU % of one core used over the h2load run by the
#                          server, the fake model, the load client
#                          (BENCH_CLIENT_PID, set by sse_client.py) and
#                          PostgreSQL (BENCH_PG_PID: the postmaster and its
#                          children); server_waiting: the time the server's
#                          threads were runnable but waited for a CPU
#                          (/proc schedstat), in % of the run; then
#                          /proc/loadavg
#   OUTDIR/LABEL.fake      the fake model's /_stats (BENCH_FAKE_STATS URL):
#                          answers in flight, connections, HTTP/2 ones
set -euo pipefail
pid=$1 fake=$2 url=$3 out=$4/$5
rps=${BENCH_HEALTHZ_RPS:-100}
seconds=${BENCH_HEALTHZ_SECONDS:-10}
client=${BENCH_CLIENT_PID:-}
pg=${BENCH_PG_PID:-}

# ticks PID... -> utime + stime of the processes, in clock ticks (0 for a gone one)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
# pg_pids -> the postmaster and its children (backends come and go)
pg_pids() { [ -z "$pg" ] || { echo "$pg"; ps -o pid= --ppid "$pg" 2>/dev/null || true; }; }

[ -z "${BENCH_FAKE_STATS:-}" ] || curl -sf "$BENCH_FAKE_STATS" >"$out.fake" || true
{ grep -E '^VmRSS' "/proc/$pid/status"; grep -E '^(Rss|Pss|Pss_Anon|Anonymous):' "/proc/$pid/smaps_rollup"; } >"$out.mem"
{
  echo "# fds by kind"
  # an fd closed during the scan makes find fail: the counts are still right
  { find "/proc/$pid/fd" -mindepth 1 -printf '%l\n' 2>/dev/null || true; } | sed 's/:.*//' | sort | uniq -c
  echo "# established TCP sockets by local port (server port = clients) / peer port (fake model)"
  ss -tanH state established "( sport = :${url##*:} )" | wc -l | sed 's/^/from clients: /'
  ss -tanpH state established | { grep -c "pid=$pid," || true; } | sed 's/^/all of the server: /'
} >"$out.fds" 2>&1

# waited PID -> ns the process's threads spent runnable without a CPU (schedstat field 2)
waited() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ n += $2 } END { printf "%.0f", n }'; }

pgs0=$(pg_pids)
s0=$(ticks "$pid") f0=$(ticks "$fake") c0=$(ticks $client) p0=$(ticks $pgs0) w0=$(waited "$pid") t0=$(date +%s.%N)
# a failed probe shows in the log and the report (non-2xx), it must not cut the snapshot short
if [ -n "${BENCH_CONTROL_URL:-}" ]; then
  h2load -c 2 -m 1 --rps "$rps" -D "$seconds" --log-file="$out.control.log" "$BENCH_CONTROL_URL/healthz" >"$out.control.out" 2>&1 &
  control=$!
fi
h2load -c 2 -m 1 --rps "$rps" -D "$seconds" --log-file="$out.healthz.log" "$url/healthz" >"$out.healthz.out" 2>&1 ||
  echo "plateau.sh: h2load exited with status $? (see $out.healthz.out)" >&2
[ -z "${control:-}" ] || wait "$control" || echo "plateau.sh: the control h2load exited with status $?" >&2
# a backend that ended meanwhile took its ticks with it: count the ones alive at both ends
s1=$(ticks "$pid") f1=$(ticks "$fake") c1=$(ticks $client) p1=$(ticks $pgs0) w1=$(waited "$pid") t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
awk -v s="$((s1 - s0))" -v f="$((f1 - f0))" -v c="$((c1 - c0))" -v p="$((p1 - p0))" -v w="$((w1 - w0))" \
  -v t0="$t0" -v t1="$t1" -v hz="$hz" \
  'BEGIN { d = t1 - t0; printf "server %.0f%%\nfake_model %.0f%%\nclient %.0f%%\npostgresql %.0f%%\nserver_waiting %.1f%%\n",
           100 * s / hz / d, 100 * f / hz / d, 100 * c / hz / d, 100 * p / hz / d, 100 * w / 1e9 / d }' >"$out.cpu"
cat /proc/loadavg >>"$out.cpu"
