#!/usr/bin/env bash
# bench/turns/run.sh BINARY - turns per second against an instant fake model
# (bench/streams/fake_model.py, 3 tokens, no delay), and the SQL round trips
# each turn costs.
#
#   threads.create            a new thread per turn;
#   threads.add_user_message  a random thread of bench/reads/load.sql
#                             (1,000 threads x 50 items, 100 users) with its
#                             owner's identity;
#   threads.retry_after_item, threads.custom_action (a random thread of
#   load.sql) and threads.add_client_tool_output (prepared threads whose
#   newest item is a pending client tool call, one per turn) when
#   BENCH_TURNS names them (turns.lua);
# wrk -t1 -c$CONNECTIONS -d$SECONDS with turns.lua (HTTP/1.1 keep-alive; a
# request is one whole streamed turn).  Round trips: every store call is one
# pipeline slot, i.e. one implicit transaction, so the growth of
# pg_stat_database.xact_commit + xact_rollback over the run (read 11 s after
# the load stopped: PostgreSQL 15 backends publish their counts late), divided by the
# turns, is the number of SQL round trips per turn (the migration checks of
# the admin thread, every 10 s, add a few); it includes the background
# writes a turn causes after its stream ended (the rolling summary).  A
# second table names the ops behind them.  CPU split as in bench/reads.
# Knobs: BENCH_SECONDS (20), BENCH_CONNECTIONS (20), BENCH_TURNS (which
# turns: "threads.create threads.add_user_message"; "all" adds the three
# above), BENCH_OPS_SECONDS (3; 0 skips the ops table).
set -euo pipefail
bin=$(realpath "${1:-build/chatkitd}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${BENCH_SECONDS:-20}
conns=${BENCH_CONNECTIONS:-20}
turns=${BENCH_TURNS:-threads.create threads.add_user_message}
[ "$turns" = all ] && turns="threads.create threads.add_user_message threads.retry_after_item threads.custom_action threads.add_client_tool_output"
ops_seconds=${BENCH_OPS_SECONDS:-3}
pgport=$((20000 + RANDOM % 20000))
port=$((20000 + RANDOM % 20000))
fake_port=$((20000 + RANDOM % 20000))
work=$(mktemp -d /tmp/chatkitd-turns.XXXXXX)
chmod 0755 "$work"
server_pid=
fake_pid=

cleanup() {
  set +e
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  "$root/scripts/pg-local.sh" stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT

for tool in psql wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench/turns: $tool is missing (make bench installs it)" >&2; exit 1; }
done
db=$(PG_LOCAL_FSYNC=off "$root/scripts/pg-local.sh" start "$work/pg" "$pgport")
DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$root/bench/reads/load.sql" >/dev/null
case " $turns " in
*" threads.add_client_tool_output "*)
  # one thread per tool-output turn (thread 2000000 + n of user 1000 + n % 100:
  # a user message, then a pending client tool call), enough for every run
  pool=$(( (seconds + ops_seconds + 3) * 2000 ))
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v pool="$pool" >/dev/null <<'SQL'
BEGIN;
INSERT INTO chatkit.threads (id, user_id, created_at, title)
SELECT (2000000 + k)::text, (1000 + k % 100)::text, timestamptz '2026-02-01 00:00:00+00', 'Tool thread ' || k
  FROM generate_series(0, :pool - 1) AS k;
INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data)
SELECT t.id, t.id || '-' || n, t.user_id, t.created_at + n * interval '1 second', i.type,
       jsonb_build_object('id', t.id || '-' || n, 'thread_id', t.id,
                          'created_at', to_char((t.created_at + n * interval '1 second') AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'type', i.type) || i.data
  FROM chatkit.threads t
 CROSS JOIN (VALUES (0, 'user_message', '{"content":[{"type":"input_text","text":"bench:tokens=3,interval_ms=0,first_ms=0 pick"}],"attachments":[],"inference_options":{}}'::jsonb),
                    (1, 'client_tool_call', '{"status":"pending","call_id":"call_1","name":"get_selection","arguments":{}}'::jsonb)) AS i(n, type, data)
 WHERE t.id ~ '^2[0-9]{6}$';
COMMIT;
ANALYZE chatkit.threads;
ANALYZE chatkit.items;
SQL
  ;;
esac
tool_base=0  # the next prepared tool-output thread (turns.lua: TURNS_BASE)
pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
hz=$(getconf CLK_TCK)

/usr/bin/python3 "$root/bench/streams/fake_model.py" --port "$fake_port" --tokens 3 --interval-ms 0 --first-ms 0 \
  >"$work/fake.log" 2>&1 &
fake_pid=$!
env -u CHATKITD_JWT_SECRET -u CHATKITD_JWT_PUBLIC_KEY CHATKITD_LISTEN=127.0.0.1:$port "DATABASE_URL=$db" \
  CHATKITD_LOG_LEVEL=warn OPENAI_BASE_URL=http://127.0.0.1:$fake_port/v1 OPENAI_API_KEY=bench \
  CHATKITD_RATE_TURNS_PER_MIN=0 CHATKITD_RATE_REQUESTS_PER_MIN=0 CHATKITD_MAX_STREAMS_PER_USER=0 \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$fake_port/_stats" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server not ready" >&2; cat "$work/server.log" >&2; exit 1; }

# ticks PID, pg_ticks: CPU ticks of a process and of PostgreSQL
. "$here/../cpu.sh"
xacts() { psql -X -At -d "$db" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }
# turns OP SECONDS OUT: one wrk run; moves tool_base past the prepared
# threads it may have used (requests counted, plus those cut off at the end)
turns_run() {
  TURNS_OP=$1 TURNS_BASE=$tool_base wrk -t1 -c"$conns" -d"$2s" -s "$here/turns.lua" "http://127.0.0.1:$port/chatkit" >"$3" 2>&1
  local n
  n=$(sed -nE 's/^RESULT .* requests=([0-9]+).*/\1/p' "$3")
  tool_base=$((tool_base + ${n:-0} + conns + 1))
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores before the runs" >&2
echo "| turn | turns/s | p50 ms | p99 ms | SQL round trips per turn | server CPU | PostgreSQL CPU | PostgreSQL µs/turn |"
echo "|---|---|---|---|---|---|---|---|"
for op in $turns; do
  turns_run "$op" 3 "$work/warm.out"
  sleep 11  # backends publish their transaction counts within 1 s while busy, 10 s once idle
  x0=$(xacts); s0=$(ticks "$server_pid"); p0=$(pg_ticks); t0=$(date +%s.%N)
  turns_run "$op" "$seconds" "$work/wrk.out"
  s1=$(ticks "$server_pid"); p1=$(pg_ticks); t1=$(date +%s.%N)
  sleep 11  # the background writes the turns started, then the counts
  x1=$(xacts)
  res=$(sed -nE 's/^RESULT rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+) non2xx=([0-9]+) errors=([0-9]+) requests=([0-9]+).*/\1 \2 \3 \4 \5 \6/p' "$work/wrk.out")
  read -r rps p50 p99 bad errs n <<<"$res"
  [ "$bad" = 0 ] && [ "$errs" = 0 ] || echo "WARNING: $op: $bad non-2xx, $errs socket errors" >&2
  awk -v op="$op" -v r="$rps" -v p50="$p50" -v p99="$p99" -v n="$n" -v x="$((x1 - x0))" -v s="$((s1 - s0))" \
      -v p="$((p1 - p0))" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN { dt = t1 - t0
    printf "| %s | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.0f |\n", op, r, p50, p99, x / n, s / hz / dt, p / hz / dt, p / hz * 1e6 / n }'
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after the runs" >&2

# Which store ops make those transactions: a short extra run per kind of turn
# with PostgreSQL's function statistics on (they cost a little CPU, so not
# during the measured runs): calls of each op function per turn.  The ops a
# turn.write runs (item.add, thread.save, usage.add, ...) are counted under
# their own names too: they are part of that one transaction.  Backends
# publish these statistics when idle for 10 s, hence the waits.
[ "$ops_seconds" != 0 ] || exit 0
psql -X -q -d "$db" -c "ALTER SYSTEM SET track_functions = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 11
snap() {
  psql -X -q -d "$db" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench_calls_$1" \
    -c "CREATE TABLE bench_calls_$1 AS SELECT funcname, calls FROM pg_stat_user_functions
        WHERE (funcname LIKE 'op\_%' OR funcname IN ('usage_insert', 'ops_audit_add'))
          AND funcname NOT IN ('op_text', 'op_bytes', 'op_write')"
}
echo
echo "| turn | store ops per turn (PostgreSQL function calls / turns, $ops_seconds s run) |"
echo "|---|---|"
snap before
for op in $turns; do
  turns_run "$op" "$ops_seconds" "$work/wrk.out"
  sleep 11   # background writes (the summary job), then the backends' statistics
  snap after
  n=$(sed -nE 's/^RESULT .* requests=([0-9]+).*/\1/p' "$work/wrk.out")
  ops=$(psql -X -At -d "$db" -v n="$n" <<'SQL'
SELECT string_agg(format('%s %s', name, to_char(calls::numeric / :n, 'FM990.00')), ', ' ORDER BY calls DESC, name)
  FROM (SELECT replace(regexp_replace(regexp_replace(a.funcname, '^ops?_', ''), '_', '.'), 'usage.insert', 'usage.add') AS name,
               a.calls - coalesce(b.calls, 0) AS calls
          FROM bench_calls_after a LEFT JOIN bench_calls_before b USING (funcname)) f
 WHERE calls > 0
SQL
)
  echo "| $op | ${ops:-none} |"
  psql -X -q -d "$db" -c "DROP TABLE bench_calls_before" -c "ALTER TABLE bench_calls_after RENAME TO bench_calls_before"
done
psql -X -q -d "$db" -c "ALTER SYSTEM RESET track_functions" -c "SELECT pg_reload_conf()" >/dev/null
grep -E ' (error|fatal) ' "$work/server.log" | sort | uniq -c | sort -rn | head -n 5 >&2 || true
