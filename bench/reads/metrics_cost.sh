#!/usr/bin/env bash
# bench/reads/metrics_cost.sh BINARY - what updating the Prometheus metrics
# costs on the read benchmark (BENCHMARKS.md, "Metrics cost").
#
# Builds the same source with -DCK_METRICS_OFF (every ck_metrics_* update
# returns at once; build/metrics-off/) and runs BINARY and that twin side by
# side on one PostgreSQL cluster with the data of bench/reads/load.sql:
# wrk -t1 -c$CONNECTIONS with reads.lua (items.list, then threads.list),
# BENCH_ROUNDS rounds, the two servers taking turns (on/off, then off/on,
# ...) so that a change in the machine's load hits both alike.  For each
# run: requests/s, p99, and the server's CPU per request (utime + stime of
# the chatkitd process over the run, from /proc/<pid>/stat).  Prints a
# Markdown table of the medians over the rounds, then (when `perf` works)
# the share of the metrics-on server's CPU samples spent in the metrics
# code during one more items.list run (perf record -e cpu-clock).
#
# Knobs: BENCH_SECONDS (10 per run, after a 3 s warm-up per server and op),
# BENCH_ROUNDS (5), BENCH_CONNECTIONS (50), BENCH_PERF (1; 0 skips perf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:-$root/build/chatkitd}")
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
conns=${BENCH_CONNECTIONS:-50}
pgport=$((20000 + RANDOM % 20000))
work=$(mktemp -d /tmp/chatkitd-metrics-cost.XXXXXX)
chmod 0755 "$work"
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  "$root/scripts/pg-local.sh" stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

for tool in psql wrk curl make; do
  command -v "$tool" >/dev/null || { echo "bench/reads: $tool is missing (make bench installs it)" >&2; exit 1; }
done
echo "building the metrics-off twin (build/metrics-off/chatkitd)" >&2
make -C "$root" --no-print-directory BUILD=build/metrics-off OPT="-O2 -g -DCK_METRICS_OFF" \
  build/metrics-off/chatkitd >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
bin_off=$root/build/metrics-off/chatkitd

db=$(PG_LOCAL_FSYNC=off "$root/scripts/pg-local.sh" start "$work/pg" "$pgport")
DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/load.sql" >/dev/null
hz=$(getconf CLK_TCK)

# start NAME BINARY: a server on a free random port (another one is tried
# when the port is taken); its pid in $work/NAME.pid, its port in $work/NAME.port
start() {
  local try port pid
  for try in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    DATABASE_URL=$db CHATKITD_LISTEN=127.0.0.1:$port CHATKITD_RATE_REQUESTS_PER_MIN=0 CHATKITD_LOG_LEVEL=warn \
      "$2" >"$work/$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      # ready, and still ours (a server finding its port taken exits at once)
      if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && sleep 0.5 && kill -0 "$pid" 2>/dev/null; then
        pids+=("$pid")
        echo "$pid" >"$work/$1.pid"
        echo "$port" >"$work/$1.port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  echo "server $1 did not start" >&2
  cat "$work/$1.log" >&2
  exit 1
}
start on "$bin"
start off "$bin_off"
port_on=$(cat "$work/on.port")
port_off=$(cat "$work/off.port")
curl -sf "http://127.0.0.1:$port_on/metrics" | grep -q '^chatkitd_requests_total' ||
  { echo "the metrics-on server exposes no request counter" >&2; exit 1; }
if curl -sf "http://127.0.0.1:$port_off/metrics" | grep -q '^chatkitd_requests_total'; then
  echo "the metrics-off twin still counts requests: not built with -DCK_METRICS_OFF" >&2
  exit 1
fi

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME PORT OP: one measured wrk run -> "rps p99_ms cpu_us_per_request" on stdout
run() {
  local name=$1 port=$2 op=$3 pid a b out
  pid=$(cat "$work/$name.pid")
  out=$work/$name.$op.out
  a=$(ticks "$pid")
  READS_OP=$op wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$here/reads.lua" "http://127.0.0.1:$port/chatkit" >"$out" 2>&1
  b=$(ticks "$pid")
  sed -nE 's/^RESULT rps=([0-9.]+) p50_ms=[0-9.]+ p90_ms=[0-9.]+ p99_ms=([0-9.]+) non2xx=([0-9]+).*/\1 \2 \3/p' "$out" |
    awk -v t=$((b - a)) -v hz="$hz" -v s="$seconds" '{
      if ($3 != 0) print "WARNING: " $3 " non-2xx answers" > "/dev/stderr"
      printf "%s %s %.1f\n", $1, $2, t / hz * 1e6 / ($1 * s) }'
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores before the runs" >&2
for op in items.list threads.list; do
  for v in on off; do # warm-up of both servers for this op
    port=$port_on; [ "$v" = off ] && port=$port_off
    READS_OP=$op wrk -t1 -c"$conns" -d3s -s "$here/reads.lua" "http://127.0.0.1:$port/chatkit" >/dev/null 2>&1
  done
  for r in $(seq 1 "$rounds"); do
    order="on off"; [ $((r % 2)) = 0 ] && order="off on"
    for v in $order; do
      port=$port_on; [ "$v" = off ] && port=$port_off
      echo "$(run "$v" "$port" "$op")" >>"$work/$op.$v.results"
    done
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| op | metrics | req/s | p99 ms | server CPU µs/req | runs (req/s; µs/req) |"
echo "|---|---|---|---|---|---|"
for op in items.list threads.list; do
  for v in on off; do
    f=$work/$op.$v.results
    rps=$(awk '{ print $1 }' "$f" | median)
    p99=$(awk '{ print $2 }' "$f" | median)
    cpu=$(awk '{ print $3 }' "$f" | median)
    runs=$(awk '{ printf "%s%.0f; %s", (NR > 1 ? ", " : ""), $1, $3 }' "$f")
    label="compiled in"; [ "$v" = off ] && label="compiled out (-DCK_METRICS_OFF)"
    printf "| %s | %s | %.0f | %.2f | %s | %s |\n" "$op" "$label" "$rps" "$p99" "$cpu" "$runs"
    echo "$cpu" >"$work/$op.$v.cpu"
  done
  awk -v on="$(cat "$work/$op.on.cpu")" -v off="$(cat "$work/$op.off.cpu")" -v op="$op" \
    'BEGIN { printf "| %s | difference (in - out) | | | %+.1f (%+.1f%%) | |\n", op, on - off, (on - off) * 100 / off }'
done

if [ "${BENCH_PERF:-1}" != 0 ] && command -v perf >/dev/null &&
  perf record -q -e cpu-clock -o "$work/probe.data" -- true >/dev/null 2>&1; then
  pid=$(cat "$work/on.pid")
  READS_OP=items.list wrk -t1 -c"$conns" -d"$((seconds + 2))s" -s "$here/reads.lua" \
    "http://127.0.0.1:$port_on/chatkit" >/dev/null 2>&1 &
  wrk_pid=$!
  sleep 1
  perf record -q -e cpu-clock -F 1999 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 || true
  wait "$wrk_pid" || true
  # Self time per symbol; the metrics code: the ck_metrics_* entry points
  # and metrics.c's static helpers (when not inlined).  ck_metrics_now is
  # the monotonic clock read that the access line's duration needs anyway.
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol 2>/dev/null >"$work/perf.txt" || true
  echo
  echo "perf record -e cpu-clock, items.list, metrics compiled in: share of the server's CPU samples (self time)"
  echo
  echo "| symbol | share |"
  echo "|---|---|"
  awk '/^ +[0-9.]+%/ && /ck_metrics_|series_of|hash_labels|same_labels|series_new/ {
         m += $1; if ($3 != "ck_metrics_now") u += $1; printf "| %s | %.2f%% |\n", $3, $1 }
       /^ +[0-9.]+%/ { total += $1 }
       END { printf "| **the updates (all but ck_metrics_now)** | **%.2f%%** |\n", u
             printf "| all of the above | %.2f%% (of %.1f%% of samples listed) |\n", m, total }' "$work/perf.txt"
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after the runs" >&2
