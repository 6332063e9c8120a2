#!/usr/bin/env bash
# bench/store.sh BINARY - the store benchmark: items.list and threads.list
# (limit 20, newest first) through the server, next to pgbench running the
# very same SQL call against the same database (the baseline).
#
#   1. PostgreSQL: $DATABASE_URL if set (the bench replaces the data of user
#      "bench" there), else a throwaway cluster (scripts/pg-local.sh);
#   2. migrations: `BINARY migrate`; data: bench/store_load.sql
#      (1,000 threads x 50 items for user "bench");
#   3. pgbench -M prepared -c $CLIENTS with `SELECT chatkit.op_text(op, 'bench', params)`
#      (the server's own call; BENCH_PG_FUNC=op measures the jsonb dispatcher);
#   4. BINARY serve on 127.0.0.1:$PORT, then h2load over h2c, $CLIENTS
#      clients, one stream each (-m 1), POST /chatkit with X-User-Id: bench.
# Prints one Markdown table row per measurement (rate, mean and p99 latency)
# and the server/pgbench ratio.  Knobs (environment): BENCH_CLIENTS (50),
# BENCH_SECONDS (10, pgbench duration), BENCH_REQUESTS (100000, per h2load run),
# BENCH_PORT (random), BENCH_PG_FUNC (op_text).  Without a runnable BINARY only the pgbench half runs
# (the migrations are then applied with psql).
set -euo pipefail
export PG_LOCAL_FSYNC=${PG_LOCAL_FSYNC:-off} # throwaway cluster, as when the figures were recorded
bin=${1:-build/chatkitd}
root=$(cd "$(dirname "$0")/.." && pwd)
clients=${BENCH_CLIENTS:-50}
seconds=${BENCH_SECONDS:-10}
requests=${BENCH_REQUESTS:-100000}
port=${BENCH_PORT:-$((20000 + RANDOM % 20000))}
pg_func=${BENCH_PG_FUNC:-op_text}
work=$(mktemp -d /tmp/chatkitd-bench.XXXXXX)
chmod 0755 "$work"
server_pid=
own_pg=

cleanup() {
  set +e   # `wait` returns the killed server's status; cleanup must go on
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$own_pg" ] && "$root/scripts/pg-local.sh" stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

for tool in psql pgbench h2load curl; do
  command -v "$tool" >/dev/null || { echo "bench/store.sh: $tool is missing (make bench installs it)" >&2; exit 1; }
done

if [ -n "${DATABASE_URL:-}" ]; then
  db=$DATABASE_URL
else
  own_pg=1
  db=$("$root/scripts/pg-local.sh" start "$work/pg" $((port + 1)))
fi

server_ok=0
if [ -x "$bin" ] && DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1; then
  server_ok=1
else
  echo "note: $bin is missing or its migrate failed (see below); applying sql/ with psql, pgbench only" >&2
  [ -f "$work/migrate.log" ] && tail -n 5 "$work/migrate.log" >&2
  if ! psql -X -q -d "$db" -At -c "SELECT to_regclass('chatkit.items') IS NOT NULL" | grep -q t; then
    for f in "$root"/sql/schema/[0-9]*.sql; do psql -X -q -v ON_ERROR_STOP=1 -1 -d "$db" -f "$f" >/dev/null; done
    { echo "SET check_function_bodies = off;"; cat "$root"/sql/functions/*.sql; } | psql -X -q -v ON_ERROR_STOP=1 -1 -d "$db" -f - >/dev/null
  fi
fi
echo "loading 1,000 threads x 50 items for user bench..." >&2
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$root/bench/store_load.sql" >/dev/null

items_params='{"thread_id":"thr_0500","limit":20,"order":"desc"}'
threads_params='{"limit":20,"order":"desc"}'

# p99 (ms) of a file of latencies in microseconds, one per line.
p99_ms() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
                                  i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 }'; }

# pgbench OP PARAMS -> "tps mean_ms p99_ms"
run_pgbench() {
  local op=$1 params=$2 dir="$work/pgb_${1//./_}"
  mkdir -p "$dir"
  printf "SELECT chatkit.%s('%s', 'bench', '%s');\n" "$pg_func" "$op" "$params" >"$dir/script.sql"
  pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -l --log-prefix="$dir/log" -f "$dir/script.sql" "$db" \
    >"$dir/out.txt" 2>&1 || { cat "$dir/out.txt" >&2; return 1; }
  cat "$dir"/log* | awk '{ print $3 }' >"$dir/lat.txt"
  local tps mean
  tps=$(awk '/^tps/ { printf "%.0f", $3 }' "$dir/out.txt")
  mean=$(awk '/^latency average/ { print $4 }' "$dir/out.txt")
  echo "$tps $mean $(p99_ms "$dir/lat.txt")"
}

# h2load TYPE PARAMS -> "rps mean_ms p99_ms"
run_h2load() {
  local type=$1 params=$2 dir="$work/h2_${1//./_}"
  mkdir -p "$dir"
  printf '{"type":"%s","params":%s}' "$type" "$params" >"$dir/body.json"
  # A short warm-up, then the measured run.
  h2load -n 2000 -c "$clients" -m 1 -d "$dir/body.json" -H 'content-type: application/json' -H 'x-user-id: bench' \
    "http://127.0.0.1:$port/chatkit" >/dev/null 2>&1 || true
  h2load -n "$requests" -c "$clients" -m 1 -d "$dir/body.json" -H 'content-type: application/json' -H 'x-user-id: bench' \
    --log-file="$dir/log.tsv" "http://127.0.0.1:$port/chatkit" >"$dir/out.txt" 2>&1 || { cat "$dir/out.txt" >&2; return 1; }
  if ! grep -q "status codes: $requests 2xx" "$dir/out.txt"; then
    echo "h2load $type: not every request succeeded:" >&2
    grep -E 'requests:|status codes:' "$dir/out.txt" >&2
    return 1
  fi
  awk -F'\t' '{ print $3 }' "$dir/log.tsv" >"$dir/lat.txt"
  local rps mean
  rps=$(awk '/^finished in/ { gsub(",", "", $4); printf "%.0f", $4 }' "$dir/out.txt")
  mean=$(awk '{ s += $1 } END { printf "%.3f", s / NR / 1000 }' "$dir/lat.txt")
  echo "$rps $mean $(p99_ms "$dir/lat.txt")"
}

echo "pgbench: chatkit.$pg_func, $clients clients, ${seconds}s per op..." >&2
read -r pg_items_tps pg_items_mean pg_items_p99 < <(run_pgbench items.list "$items_params")
read -r pg_threads_tps pg_threads_mean pg_threads_p99 < <(run_pgbench threads.list "$threads_params")

srv_items="n/a n/a n/a"
srv_threads="n/a n/a n/a"
if [ "$server_ok" = 1 ]; then
  echo "server: $bin on 127.0.0.1:$port..." >&2
  CHATKITD_LISTEN=127.0.0.1:$port DATABASE_URL=$db CHATKITD_RATE_REQUESTS_PER_MIN=0 CHATKITD_LOG_LEVEL=warn \
    "$bin" serve >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    echo "h2load: $requests requests per op, $clients clients, -m 1..." >&2
    srv_items=$(run_h2load items.list "$items_params") || srv_items="failed failed failed"
    srv_threads=$(run_h2load threads.list "$threads_params") || srv_threads="failed failed failed"
  else
    echo "server did not become ready; log:" >&2
    tail -n 20 "$work/server.log" >&2
  fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
read -r s_items_rps s_items_mean s_items_p99 <<<"$srv_items"
read -r s_threads_rps s_threads_mean s_threads_p99 <<<"$srv_threads"
echo
echo "| op (limit 20, desc) | pgbench tps | pgbench mean / p99 ms | server req/s | server mean / p99 ms | server / pgbench |"
echo "|---|---|---|---|---|---|"
echo "| items.list | $pg_items_tps | $pg_items_mean / $pg_items_p99 | $s_items_rps | $s_items_mean / $s_items_p99 | $(ratio "$s_items_rps" "$pg_items_tps") |"
echo "| threads.list | $pg_threads_tps | $pg_threads_mean / $pg_threads_p99 | $s_threads_rps | $s_threads_mean / $s_threads_p99 | $(ratio "$s_threads_rps" "$pg_threads_tps") |"
