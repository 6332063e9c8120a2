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
# For each run: requests/s, p99, and the CPU used meanwhile by the server
# and by PostgreSQL (postmaster + backends, from /proc/<pid>/stat), in cores
# (1.00 = one core busy), and PostgreSQL CPU microseconds per request.
# Prints a Markdown table.
# Knobs: BENCH_SECONDS (30 per run, after a 3 s warm-up), BENCH_CONNECTIONS (50).
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

# sample: "time server_ticks pg_ticks"
sample() { echo "$(now) $(ticks "$server_pid") $(pg_ticks)"; }

# measure NAME CMD...: runs CMD, samples the CPU at 20% and 80% of its
# duration (connections are set up, CMD is still running); leaves CMD's
# output in $work/NAME.out and "cores_server cores_pg" in $work/NAME.cpu.
measure() {
  local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 &
  local pid=$! a b
  sleep $((seconds / 5))
  a=$(sample)
  sleep $((seconds * 3 / 5))
  b=$(sample)
  wait "$pid" || { echo "$name failed:" >&2; cat "$work/$name.out" >&2; exit 1; }
  echo "$a $b" | awk -v hz="$hz" '{ dt = $4 - $1; printf "%.2f %.2f\n", ($5-$2)/hz/dt, ($6-$3)/hz/dt }' \
    >"$work/$name.cpu"
}

# pgbench_run NAME SCRIPT [PGOPTIONS]: rate and p99 (from a 5% sample of the
# transaction log) -> "rps p99_ms"
pgbench_run() {
  local name=$1 script=$2 opts=${3:-}
  PGOPTIONS=$opts pgbench -n -M prepared -c "$conns" -j 1 -T 3 -f "$script" -d "$db" >/dev/null 2>&1
  rm -f "$work"/pgb_"$name"*
  measure "$name" env PGOPTIONS="$opts" pgbench -n -M prepared -c "$conns" -j 1 -T "$seconds" -f "$script" \
    --log --sampling-rate=0.05 --log-prefix="$work/pgb_$name" -d "$db"
  local rps p99
  rps=$(sed -nE 's/^tps = ([0-9.]+) .*without initial.*/\1/p' "$work/$name.out")
  p99=$(cat "$work"/pgb_"$name"* | awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i] / 1000 }')
  echo "$rps $p99"
}

# wrk_run NAME OP -> "rps p99_ms non2xx"
wrk_run() {
  local name=$1 op=$2
  READS_OP=$op wrk -t1 -c"$conns" -d3s -s "$here/reads.lua" "http://127.0.0.1:$port/chatkit" >/dev/null 2>&1
  measure "$name" env READS_OP="$op" wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$here/reads.lua" \
    "http://127.0.0.1:$port/chatkit"
  sed -nE 's/^RESULT rps=([0-9.]+) p50_ms=[0-9.]+ p99_ms=([0-9.]+) non2xx=([0-9]+).*/\1 \2 \3/p' "$work/$name.out"
}

# Checks that the server answers what the bench expects before measuring.
body=$(curl -sf -H 'Content-Type: application/json' -H 'X-User-Id: 1007' \
  -d '{"type":"items.list","params":{"thread_id":"1000007"}}' "http://127.0.0.1:$port/chatkit")
case "$body" in *'"has_more":true'*) ;; *) echo "unexpected items.list answer: ${body:0:300}" >&2; exit 1 ;; esac

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores before the runs" >&2
row() { # row LABEL "rps p99 [non2xx]" NAME BASE_RPS
  local label=$1 res=$2 name=$3 base=$4 rps p99 cs cp
  read -r rps p99 _ <<<"$res"
  read -r cs cp <"$work/$name.cpu"
  awk -v l="$label" -v r="$rps" -v p="$p99" -v b="$base" -v cs="$cs" -v cp="$cp" 'BEGIN {
    printf "| %s | %.0f | %.2f | %.2fx | %.2f | %.2f | %.0f |\n", l, r, p, r / b, cs, cp, cp * 1e6 / r }'
}
echo "| run | req/s | p99 ms | vs pgbench | server CPU | PostgreSQL CPU | PostgreSQL µs/req |"
echo "|---|---|---|---|---|---|---|"
for op in items threads; do
  base=$(pgbench_run "pg_$op" "$here/$op.pgbench")
  rls=$(pgbench_run "pg_${op}_rls" "$here/${op}_rls.pgbench" "-c role=chatkit_owner")
  srv=$(wrk_run "srv_$op" "$op.list")
  b=${base%% *}
  row "$op: pgbench plain SELECT (superuser, no RLS)" "$base" "pg_$op" "$b"
  row "$op: pgbench, same SELECT under RLS (set_config + SELECT, pipelined)" "$rls" "pg_${op}_rls" "$b"
  row "$op.list: chatkitd (wrk, HTTP/1.1)" "$srv" "srv_$op" "$b"
  n=$(echo "$srv" | awk '{ print $3 }')
  [ "${n:-0}" = 0 ] || echo "WARNING: $n non-2xx answers during $op.list" >&2
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after the runs" >&2
