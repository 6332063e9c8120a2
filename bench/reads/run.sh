#!/usr/bin/env bash
# bench/reads/run.sh BINARY - the read benchmark of BENCHMARKS.md ("Reads"):
# items.list and threads.list through chatkitd against pgbench running the
# plain SELECT of the same page, side by side in one run on one cluster.
#
#   data      bench/reads/load.sql: 1,000 threads x 50 items, 100 users;
#   server    BINARY (its defaults: one worker per core, 2 store connections
#             each), HTTP/1.1 keep-alive, wrk -t1 -c$CONNECTIONS with
#             reads.lua: every request reads a random thread (items.list) or
#             a random user's threads (threads.list), sending the owner's id;
#   baseline  pgbench -M prepared -c$CONNECTIONS -j1, random ids the same way:
#               items.pgbench    SELECT data FROM chatkit.items WHERE user_id=$1
#                                AND thread_id=$2 ORDER BY created_at DESC, id DESC LIMIT 21
#               threads.pgbench  the threads twin (the columns the server reads)
#             as the superuser (no row-level security), and *_rls.pgbench:
#             the same SELECT as chatkit_owner after set_config of the user,
#             pipelined (what the server sends), i.e. the cost of RLS.
# For each run: requests/s, p50/p90/p99 (wrk --latency; pgbench from a 5%
# sample of its transaction log), the CPU used meanwhile by the server and
# by PostgreSQL (postmaster + backends, from /proc/<pid>/stat) in cores
# (1.00 = one core busy) and in microseconds per request, and the context
# switches per request of the server's threads and of the backends
# (voluntary + involuntary, /proc/<pid>/task/*/status): the figures that do
# not depend on what else runs on the machine.  Prints a Markdown table.
# BENCH_PERF=1 then records the server's CPU profile (perf record -g)
# during one more items.list run and prints where its time goes: shares by
# library and the heaviest functions (self time).
# Knobs: BENCH_SECONDS (30 per run, after a 3 s warm-up), BENCH_CONNECTIONS
# (50), BENCH_PERF (0).
set -euo pipefail
bin=$(realpath "${1:-build/chatkitd}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${BENCH_SECONDS:-30}
conns=${BENCH_CONNECTIONS:-50}
pgport=$((20000 + RANDOM % 20000))
port=$((20000 + RANDOM % 20000))
work=$(mktemp -d /tmp/chatkitd-reads.XXXXXX)
chmod 0755 "$work"
server_pid=

cleanup() {
  set +e
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  "$root/scripts/pg-local.sh" stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

for tool in psql pgbench wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/reads: $tool is missing (make bench installs it)" >&2; exit 1; }
done
db=$(PG_LOCAL_FSYNC=off "$root/scripts/pg-local.sh" start "$work/pg" "$pgport")
DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/load.sql" >/dev/null
pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
hz=$(getconf CLK_TCK)

DATABASE_URL=$db CHATKITD_LISTEN=127.0.0.1:$port CHATKITD_RATE_REQUESTS_PER_MIN=0 \
  CHATKITD_LOG_LEVEL=warn "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server not ready" >&2; cat "$work/server.log" >&2; exit 1; }

# ticks PID, pg_ticks: CPU ticks of a process and of PostgreSQL
. "$here/../cpu.sh"
now() { date +%s.%N; }

# switches OUT: "pid tag count" per thread group of the server (tag s) and
# of PostgreSQL (tag p: postmaster and children), context switches
# (voluntary + involuntary) of all their threads, written to OUT.
switches() {
  local p
  for p in "$server_pid" "$pg_pid" $(ps -o pid= --ppid "$pg_pid"); do
    cat /proc/"$p"/task/*/status 2>/dev/null | awk -v p="$p" -v t="$([ "$p" = "$server_pid" ] && echo s || echo p)" \
      '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { printf "%s %s %d\n", p, t, n }'
  done >"$1"
}
# sample OUT: "time server_ticks pg_ticks" (and the switches in OUT.sw)
sample() {
  switches "$1.sw"
  echo "$(now) $(ticks "$server_pid") $(pg_ticks)"
}

# measure NAME CMD...: runs CMD, samples the CPU at 20% and 80% of its
# duration (connections are set up, CMD is still running); leaves CMD's
# output in $work/NAME.out and "cores_server cores_pg switches_server/s
# switches_pg/s" in $work/NAME.cpu.
measure() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 &
  local pid=$! a b
  sleep $((seconds / 5))
  a=$(sample "$work/$name.a")
  sleep $((seconds * 3 / 5))
  b=$(sample "$work/$name.b")
  wait "$pid" || { echo "$name failed:" >&2; cat "$work/$name.out" >&2; exit 1; }
  # switches: the processes alive at both samples (backends come and go)
  sw=$(awk 'NR == FNR { a[$1] = $3; next } ($1 in a) { d[$2] += $3 - a[$1] } END { printf "%d %d", d["s"], d["p"] }' \
    "$work/$name.a.sw" "$work/$name.b.sw")
  echo "$a $b $sw" | awk -v hz="$hz" '{ dt = $4 - $1
    printf "%.3f %.3f %.1f %.1f\n", ($5-$2)/hz/dt, ($6-$3)/hz/dt, $7/dt, $8/dt }' >"$work/$name.cpu"
}

# pgbench_run NAME SCRIPT [PGOPTIONS]: rate and p50/p90/p99 (from a 5%
# sample of the transaction log) -> "rps p50_ms p90_ms p99_ms"
pgbench_run() {
  local name=$1 script=$2 opts=${3:-}
  PGOPTIONS=$opts pgbench -n -M prepared -c "$conns" -j 1 -T 3 -f "$script" -d "$db" >/dev/null 2>&1
  rm -f "$work"/pgb_"$name"*
  measure "$name" env PGOPTIONS="$opts" pgbench -n -M prepared -c "$conns" -j 1 -T "$seconds" -f "$script" \
    --log --sampling-rate=0.05 --log-prefix="$work/pgb_$name" -d "$db"
  local rps pct
  rps=$(sed -nE 's/^tps = ([0-9.]+) .*without initial.*/\1/p' "$work/$name.out")
  pct=$(cat "$work"/pgb_"$name"* | awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 }
    function at(q) { i = int(NR * q); if (i < 1) i = 1; return a[i] / 1000 }
    END { printf "%.2f %.2f %.2f", at(0.5), at(0.9), at(0.99) }')
  echo "$rps $pct"
}

# wrk_run NAME OP -> "rps p50_ms p90_ms p99_ms non2xx"
wrk_run() {
  local name=$1 op=$2
  READS_OP=$op wrk -t1 -c"$conns" -d3s -s "$here/reads.lua" "http://127.0.0.1:$port/chatkit" >/dev/null 2>&1
  measure "$name" env READS_OP="$op" wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$here/reads.lua" \
    "http://127.0.0.1:$port/chatkit"
  sed -nE 's/^RESULT rps=([0-9.]+) p50_ms=([0-9.]+) p90_ms=([0-9.]+) p99_ms=([0-9.]+) non2xx=([0-9]+).*/\1 \2 \3 \4 \5/p' \
    "$work/$name.out"
}

# Checks that the server answers what the bench expects before measuring.
body=$(curl -sf -H 'Content-Type: application/json' -H 'X-User-Id: 1007' \
  -d '{"type":"items.list","params":{"thread_id":"1000007"}}' "http://127.0.0.1:$port/chatkit")
case "$body" in *'"has_more":true'*) ;; *) echo "unexpected items.list answer: ${body:0:300}" >&2; exit 1 ;; esac

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores before the runs" >&2
row() { # row LABEL "rps p50 p90 p99 [non2xx]" NAME BASE_RPS
  local label=$1 res=$2 name=$3 base=$4 rps p50 p90 p99 cs cp ws wp
  read -r rps p50 p90 p99 _ <<<"$res"
  read -r cs cp ws wp <"$work/$name.cpu"
  awk -v l="$label" -v r="$rps" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v b="$base" -v cs="$cs" -v cp="$cp" \
    -v ws="$ws" -v wp="$wp" 'BEGIN {
    server = (cs > 0.005) ? sprintf("%.2f | %.0f", cs, cs * 1e6 / r) : "- | -"
    printf "| %s | %.0f | %.2f / %.2f / %.2f | %.2fx | %s | %.2f | %.0f | %s%.2f |\n", l, r, p50, p90, p99, r / b,
      server, cp, cp * 1e6 / r, (cs > 0.005 ? sprintf("%.2f / ", ws / r) : "- / "), wp / r }'
}
echo "| run | req/s | p50 / p90 / p99 ms | vs pgbench | server CPU | server µs/req | PostgreSQL CPU | PostgreSQL µs/req | context switches/req (server / PostgreSQL) |"
echo "|---|---|---|---|---|---|---|---|---|"
for op in items threads; do
  base=$(pgbench_run "pg_$op" "$here/$op.pgbench")
  rls=$(pgbench_run "pg_${op}_rls" "$here/${op}_rls.pgbench" "-c role=chatkit_owner")
  srv=$(wrk_run "srv_$op" "$op.list")
  b=${base%% *}
  row "$op: pgbench plain SELECT (superuser, no RLS)" "$base" "pg_$op" "$b"
  row "$op: pgbench, same SELECT under RLS (set_config + SELECT, pipelined)" "$rls" "pg_${op}_rls" "$b"
  row "$op.list: chatkitd (wrk, HTTP/1.1)" "$srv" "srv_$op" "$b"
  n=$(echo "$srv" | awk '{ print $5 }')
  [ "${n:-0}" = 0 ] || echo "WARNING: $n non-2xx answers during $op.list" >&2
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after the runs" >&2

# BENCH_PERF=1: where the server's CPU goes during items.list.
if [ "${BENCH_PERF:-0}" != 0 ]; then
  if command -v perf >/dev/null && perf record -q -e cpu-clock -o "$work/probe.data" -- true >/dev/null 2>&1; then
    READS_OP=items.list wrk -t1 -c"$conns" -d"${seconds}s" -s "$here/reads.lua" "http://127.0.0.1:$port/chatkit" \
      >"$work/perf_wrk.out" 2>&1 &
    wpid=$!
    sleep $((seconds / 5))
    perf record -q -g -e cpu-clock -F 999 -p "$server_pid" -o "$work/perf.data" -- sleep $((seconds * 3 / 5)) \
      >/dev/null 2>&1 || true
    wait "$wpid" || true
    echo
    echo "perf record -g -e cpu-clock -p <chatkitd> during items.list: share of the server's CPU samples"
    echo
    echo "| where (self time) | share |"
    echo "|---|---|"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null |
      awk '/%/ && $1 ~ /%$/ { printf "| %s | %s |\n", $2, $1 }' | head -n 8 || true
    echo
    echo "| function (self time) | share |"
    echo "|---|---|"
    perf report -i "$work/perf.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
      awk '/%/ && $1 ~ /%$/ { sym = $4; for (i = 5; i <= NF && $i != "-"; i++) sym = sym " " $i
        printf "| %s (%s) | %s |\n", sym, $2, $1 }' | head -n 25 || true
  else
    echo "BENCH_PERF: perf is missing or not permitted here (kernel.perf_event_paranoid); skipped" >&2
  fi
fi
