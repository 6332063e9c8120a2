#!/usr/bin/env bash
# bench/streams/heap.sh BINARY - what an open stream costs and where the
# memory goes (BENCHMARKS.md "Streams", memory per open stream): a
# throwaway PostgreSQL, the fake model (bench/streams/fake_model.py; https
# + HTTP/2 or plain HTTP/1.1 as run.sh) and `BINARY serve` under heaptrack
# (Debian package heaptrack).  BENCH_STREAMS (500) streams are opened with
# the pacing of the plateau run; once half and then all of them have their
# first token the server's VmRSS is taken, then the server is stopped with
# SIGKILL, so that everything it had allocated and not freed is "leaked"
# in heaptrack's record: the memory of the open streams plus the idle
# server's.  Prints the RSS per stream between N/2 and N open streams, then
# the live heap bytes per open stream grouped by the innermost chatkitd
# frame of their backtraces (heaptrack_print's flame-graph stacks summed by
# bench/streams/heap_report.py).  The idle server's own allocations are in
# the sums too (about 4 MiB / BENCH_STREAMS).
#
# Knobs: BENCH_STREAMS (500), BENCH_UPSTREAM (h2 | http1, as run.sh),
# BENCH_RAMP (100 streams/s), BENCH_HEAPTRACK=0 (no heaptrack: only the RSS
# per stream, ~30 s), BENCH_KEEP=1 (keep the work directory),
# BENCH_SERVER_ENV ("NAME=value ..." added to the server's environment,
# e.g. GLIBC_TUNABLES=glibc.malloc.arena_max=1 or LD_PRELOAD=... of another
# allocator).
set -euo pipefail
export PG_LOCAL_FSYNC=off
bin=$(realpath "${1:-build/chatkitd}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
streams=${BENCH_STREAMS:-500}
ramp=${BENCH_RAMP:-100}
upstream=${BENCH_UPSTREAM:-h2}
base_port=$((20000 + RANDOM % 20000))
port=$base_port fake_port=$((base_port + 1)) pg_port=$((base_port + 2)) fake_tls_port=$((base_port + 3))
[ "${BENCH_HEAPTRACK:-1}" = 0 ] || command -v heaptrack >/dev/null ||
  { echo "bench/streams/heap.sh: heaptrack is missing (apt-get install heaptrack, or BENCH_HEAPTRACK=0)" >&2; exit 1; }
work=$(mktemp -d /tmp/chatkitd-heap.XXXXXX)
chmod 0755 "$work"
ht_pid= fake_pid=
cleanup() {
  set +e
  [ -n "$ht_pid" ] && kill "$ht_pid" 2>/dev/null && wait "$ht_pid" 2>/dev/null
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  "$root/scripts/pg-local.sh" stop "$work/pg" >/dev/null 2>&1
  if [ "${BENCH_KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

db=$("$root/scripts/pg-local.sh" start "$work/pg" "$pg_port")
DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/fake-key.pem" -out "$work/fake-cert.pem" >"$work/openssl.log" 2>&1
"$py" "$here/fake_model.py" --port "$fake_port" --tls-port "$fake_tls_port" \
  --tls-cert "$work/fake-cert.pem" --tls-key "$work/fake-key.pem" >"$work/fake.log" 2>&1 &
fake_pid=$!
if [ "$upstream" = h2 ]; then
  model_env=(OPENAI_BASE_URL=https://127.0.0.1:$fake_tls_port/v1 CHATKITD_UPSTREAM_CA_FILE=$work/fake-cert.pem)
else
  model_env=(OPENAI_BASE_URL=http://127.0.0.1:$fake_port/v1 CHATKITD_UPSTREAM_HTTP=http1.1)
fi
wrap=(heaptrack -o "$work/heap")
[ "${BENCH_HEAPTRACK:-1}" != 0 ] || wrap=(env)
# shellcheck disable=SC2086 # BENCH_SERVER_ENV is a list of words
env -u CHATKITD_JWT_SECRET -u CHATKITD_JWT_PUBLIC_KEY \
  CHATKITD_LISTEN=127.0.0.1:$port "DATABASE_URL=$db" CHATKITD_LOG_LEVEL=warn \
  "${model_env[@]}" OPENAI_API_KEY=bench ${BENCH_SERVER_ENV:-} \
  CHATKITD_RATE_TURNS_PER_MIN=0 CHATKITD_RATE_REQUESTS_PER_MIN=0 CHATKITD_MAX_STREAMS_PER_USER=0 \
  CHATKITD_MAX_STREAM_SECONDS=0 \
  "${wrap[@]}" "$bin" serve >"$work/server.log" 2>&1 &
ht_pid=$!
server_pid=
for _ in $(seq 1 300); do
  if [ "${wrap[0]}" = env ]; then server_pid=$ht_pid; fi # env execs the server
  [ -n "$server_pid" ] || server_pid=$({ ps -o pid= -o comm= --ppid "$ht_pid" || true; } | awk '$2 == "chatkitd" { print $1 }')
  [ -n "$server_pid" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 &&
    curl -sf "http://127.0.0.1:$fake_port/_stats" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server not ready:" >&2; tail -n 20 "$work/server.log" >&2; exit 1; }
url=http://127.0.0.1:$port
"$py" "$here/sse_client.py" latency --url "$url/chatkit" --streams 20 --turns-per-stream 5 \
  --pacing tokens=3,interval_ms=10,first_ms=10 >"$work/warmup.json" 2>/dev/null || true
sleep 1
grep -E '^VmRSS' "/proc/$server_pid/status" >"$work/idle.mem"
echo "heap.sh: $streams streams over $upstream..." >&2
# at half the streams and at all of them: RSS; then SIGKILL (the streams are all open: heaptrack's record ends there)
half=$((streams / 2))
"$py" "$here/sse_client.py" hold --url "$url/chatkit" --streams "$streams" --steps "$half" --ramp "$ramp" \
  --pacing tokens=60,interval_ms=5000,first_ms=1000 \
  --plateau-cmd "grep -E '^VmRSS' /proc/$server_pid/status >'$work/open-'\$BENCH_OPEN.mem; [ \$BENCH_OPEN != $streams ] || kill -9 $server_pid" \
  >"$work/hold.json" 2>"$work/hold.log" || true
{ wait "$ht_pid" || true; } 2>/dev/null
ht_pid=
idle=$(awk '{ print $2 }' "$work/idle.mem") mid=$(awk '{ print $2 }' "$work/open-$half.mem") held=$(awk '{ print $2 }' "$work/open-$streams.mem")
printf 'upstream %s: VmRSS idle %d KiB, %d streams %d KiB, %d streams %d KiB (%s): %.1f KiB per stream from %d to %d\n' \
  "$upstream" "$idle" "$half" "$mid" "$streams" "$held" "${wrap[0]}" "$(echo "($held - $mid) / ($streams - $half)" | bc -l)" "$half" "$streams"
[ "${wrap[0]}" = heaptrack ] || exit 0
file=$(ls "$work"/heap*.zst "$work"/heap*.gz 2>/dev/null | head -n 1 || true)
[ -n "$file" ] || { echo "bench/streams/heap.sh: heaptrack wrote no record" >&2; exit 1; }
heaptrack_print -f "$file" --flamegraph-cost-type leaked -F "$work/leaked.stacks" >/dev/null 2>&1
"$py" "$here/heap_report.py" "$work/leaked.stacks" "$streams" "$root/src"
