#!/usr/bin/env bash
# bench/streams/run.sh BINARY - the stream benchmark (BENCHMARKS.md "Streams"):
#
#   1. a throwaway PostgreSQL (scripts/pg-local.sh), `BINARY migrate`;
#   2. bench/streams/fake_model.py (asyncio fake Chat Completions endpoint,
#      one "@<time_ns>;" token per chunk) and `BINARY serve` pointed at it,
#      every rate limit and stream cap off (0 = unlimited).  BENCH_UPSTREAM
#      picks how the server reaches the model: h2 (the default: https with a
#      throwaway certificate, HTTP/2 by ALPN as a hosted endpoint offers it,
#      so turns share connections) or http1 (plain http, HTTP/1.1: one
#      connection per turn, the set-up of the figures before 2026-12-02);
#   3. idle snapshot: server memory, then /healthz latency (plateau.sh idle);
#   4. hold: BENCH_STREAMS (2000) concurrent threads.create turns, each
#      streaming BENCH_HOLD_PACING (120 tokens, one per 500 ms: ~60 s);
#      once all are open, plateau.sh open-N: memory, fds, /healthz latency,
#      CPU; every stream is checked (all tokens, no error event, clean end).
#      BENCH_STEPS=1000,2000,5000 also stops the ramp at those counts for a
#      snapshot each (the plateau: memory and CPU against open streams);
#   5. added latency: the model's token write -> the client's read of the
#      text_delta, BENCH_LATENCY_STREAMS (100) concurrent turns x
#      BENCH_LATENCY_TURNS (10) each, first vs later tokens; the same load
#      straight from the fake model to the client gives the floor (the
#      measuring tools' own cost);
#   6. prints a Markdown table; stops everything.
# Knobs (environment): BENCH_STREAMS, BENCH_STEPS, BENCH_UPSTREAM, BENCH_RAMP (streams/s, 400),
# BENCH_CLIENT_PROCS (hold client processes: 1, or 4 above 2,000 streams),
# BENCH_HOLD_PACING, BENCH_LATENCY_STREAMS, BENCH_LATENCY_TURNS,
# BENCH_LATENCY_PACING (20 tokens, 100 ms apart, first after 200 ms),
# BENCH_HEALTHZ_RPS, BENCH_HEALTHZ_SECONDS (see plateau.sh), BENCH_PG_PORT,
# BENCH_KEEP=1 (keep the work directory: logs, per-request files),
# BENCH_HOLD=0 (skip steps 3-4: latency only), BENCH_LATENCY=0 (skip step 5),
# BENCH_RT=PRIO (run every process of the benchmark - PostgreSQL, the fake
# model, the server, the client, h2load - under SCHED_FIFO priority PRIO, so
# that other jobs on a shared machine cannot preempt them; needs root or
# CAP_SYS_NICE; the kernel's RT throttling still leaves 5% to the rest).
set -euo pipefail
export PG_LOCAL_FSYNC=${PG_LOCAL_FSYNC:-off} # throwaway cluster, as when the figures were recorded
bin=$(realpath "${1:-build/chatkitd}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
streams=${BENCH_STREAMS:-2000}
ramp=${BENCH_RAMP:-400}
hold_pacing=${BENCH_HOLD_PACING:-tokens=120,interval_ms=500,first_ms=500}
lat_streams=${BENCH_LATENCY_STREAMS:-100}
lat_turns=${BENCH_LATENCY_TURNS:-10}
lat_pacing=${BENCH_LATENCY_PACING:-tokens=20,interval_ms=100,first_ms=200}
base_port=$((20000 + RANDOM % 20000))
pg_port=${BENCH_PG_PORT:-$((base_port + 2))}
rt=() # command prefix of every benchmark process (a prefix, not a function: $! must be the process itself)
[ -z "${BENCH_RT:-}" ] || rt=(chrt -f "$BENCH_RT")
port=$base_port fake_port=$((base_port + 1)) fake_tls_port=$((base_port + 3)) control_port=$((base_port + 4))
upstream=${BENCH_UPSTREAM:-h2}
case "$upstream" in h2|http1) ;; *) echo "bench/streams: BENCH_UPSTREAM must be h2 or http1, not '$upstream'" >&2; exit 2 ;; esac
work=$(mktemp -d /tmp/chatkitd-streams.XXXXXX)
chmod 0755 "$work"
server_pid= fake_pid= control_pid=

cleanup() {
  set +e # `wait` returns the killed process's status; every step must still run
  pkill -P $$ -f sse_client.py 2>/dev/null # a load client still running (the run was interrupted)
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  [ -n "$control_pid" ] && kill "$control_pid" 2>/dev/null && wait "$control_pid" 2>/dev/null
  "$root/scripts/pg-local.sh" stop "$work/pg"
  if [ "${BENCH_KEEP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap stops everything
# note_load LABEL - appends "LABEL <1/5/15 min load average>" to WORK/loadavg
note_load() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/loadavg"; }

for tool in h2load curl ss openssl "$bin"; do
  command -v "$tool" >/dev/null || { echo "bench/streams: $tool is missing" >&2; exit 1; }
done
"$py" -c 'import h2' 2>/dev/null || { echo "bench/streams: python3-h2 is missing (apt-get install python3-h2)" >&2; exit 1; }
# Server: a client socket per stream, and over an HTTP/1.1 upstream also an
# upstream socket and the event loop's dup() of it (over HTTP/2 up to 10,
# CHATKITD_UPSTREAM_MAX_STREAMS, share one); the fake model and the client: one socket per stream
# (or connection).  Every process inherits this shell's limit; the hard
# limit can only be raised with CAP_SYS_RESOURCE.
if [ "$upstream" = http1 ]; then need=$((3 * streams + 1000)); else need=$((streams + streams / 4 + 1000)); fi
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
  ulimit -Hn "$need" 2>/dev/null || {
    echo "bench/streams: the hard open files limit $(ulimit -Hn) is below the $need that $streams streams need (as root: ulimit -Hn $need)" >&2
    exit 1
  }
fi
ulimit -n "$(ulimit -Hn)"

db=$("$root/scripts/pg-local.sh" start "$work/pg" "$pg_port")
# backends fork from the postmaster and inherit its policy
export BENCH_PG_PID=$(head -n 1 "$work/pg/data/postmaster.pid") # plateau.sh counts its CPU
[ -z "${BENCH_RT:-}" ] || chrt -f -p "$BENCH_RT" "$BENCH_PG_PID"
DATABASE_URL=$db "$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/fake-key.pem" -out "$work/fake-cert.pem" >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }
"${rt[@]}" "$py" "$here/fake_model.py" --port "$fake_port" --tls-port "$fake_tls_port" \
  --tls-cert "$work/fake-cert.pem" --tls-key "$work/fake-key.pem" >"$work/fake.log" 2>&1 &
fake_pid=$!
if [ "$upstream" = h2 ]; then
  model_env=(OPENAI_BASE_URL=https://127.0.0.1:$fake_tls_port/v1 CHATKITD_UPSTREAM_CA_FILE=$work/fake-cert.pem)
else
  model_env=(OPENAI_BASE_URL=http://127.0.0.1:$fake_port/v1 CHATKITD_UPSTREAM_HTTP=http1.1)
fi
"${rt[@]}" env -u CHATKITD_JWT_SECRET -u CHATKITD_JWT_PUBLIC_KEY \
  CHATKITD_LISTEN=127.0.0.1:$port "DATABASE_URL=$db" CHATKITD_LOG_LEVEL=warn \
  "${model_env[@]}" OPENAI_API_KEY=bench \
  CHATKITD_RATE_TURNS_PER_MIN=0 CHATKITD_RATE_REQUESTS_PER_MIN=0 CHATKITD_MAX_STREAMS_PER_USER=0 \
  CHATKITD_MAX_STREAM_SECONDS=0 \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
# The control: a second, idle chatkitd (no database, nothing streaming) whose
# /healthz plateau.sh probes at the same time and rate as the server's: its
# latency is what the machine alone (the load generators, the prober's own
# scheduling) adds, so the server's share of the /healthz figure shows.
"${rt[@]}" env -u CHATKITD_JWT_SECRET -u CHATKITD_JWT_PUBLIC_KEY -u DATABASE_URL \
  CHATKITD_LISTEN=127.0.0.1:$control_port CHATKITD_LOG_LEVEL=error "$bin" serve >"$work/control.log" 2>&1 &
control_pid=$!
export BENCH_CONTROL_URL=http://127.0.0.1:$control_port # plateau.sh probes it
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$fake_port/_stats" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server not ready:" >&2; tail -n 20 "$work/server.log" >&2; exit 1; }
curl -sf "$BENCH_CONTROL_URL/healthz" >/dev/null || { echo "control server not ready:" >&2; tail -n 20 "$work/control.log" >&2; exit 1; }
url=http://127.0.0.1:$port
export BENCH_FAKE_STATS=http://127.0.0.1:$fake_port/_stats # plateau.sh records it
client() { "${rt[@]}" "$py" "$here/sse_client.py" "$@"; }

printf 'upstream %s; streams %s; steps %s; ramp %s/s; hold pacing %s; server %s\n' "$upstream" "$streams" \
  "${BENCH_STEPS:-none}" "$ramp" "$hold_pacing" "$("$bin" --version 2>/dev/null | head -n 1)" >"$work/setup"
note_load start
echo "warm-up: 100 short turns..." >&2
client latency --url "$url/chatkit" --streams 20 --turns-per-stream 5 --pacing tokens=3,interval_ms=10,first_ms=10 \
  >"$work/warmup.json" 2>/dev/null || echo "warm-up: some turns failed (kept going; see warmup.json with BENCH_KEEP=1)" >&2
hold_status=0
: >"$work/hold.json"
if [ "${BENCH_HOLD:-1}" != 0 ]; then
  sleep 2
  "${rt[@]}" "$here/plateau.sh" "$server_pid" "$fake_pid" "$url" "$work" idle
  note_load hold
  echo "hold: $streams streams (steps ${BENCH_STEPS:-none}; $hold_pacing)..." >&2
  client hold --url "$url/chatkit" --streams "$streams" --steps "${BENCH_STEPS:-}" --ramp "$ramp" --pacing "$hold_pacing" \
    --procs "${BENCH_CLIENT_PROCS:-$(( streams > 2000 ? 4 : 1 ))}" \
    --plateau-cmd "'$here/plateau.sh' $server_pid $fake_pid $url '$work' open-\$BENCH_OPEN" >"$work/hold.json" || hold_status=$?
  for f in "$work/open-$streams".*; do # the last step is the "held" snapshot of the report
    if [ -e "$f" ]; then cp "$f" "$work/held.${f##*/open-$streams.}"; fi
  done
  [ -e "$work/held.mem" ] || { echo "bench/streams: no snapshot with all $streams streams (see hold.json)" >&2; hold_status=1; }
  sleep 2
  { grep -E '^VmRSS' "/proc/$server_pid/status"; grep -E '^(Rss|Pss|Pss_Anon|Anonymous):' "/proc/$server_pid/smaps_rollup"; } >"$work/after.mem"
fi

: >"$work/floor.json"
: >"$work/latency.json"
if [ "${BENCH_LATENCY:-1}" != 0 ]; then
  note_load latency
  echo "latency: $lat_streams concurrent turns x $lat_turns ($lat_pacing), direct then through chatkitd..." >&2
  client latency --direct "http://127.0.0.1:$fake_port/v1/chat/completions" --streams "$lat_streams" \
    --turns-per-stream "$lat_turns" --pacing "$lat_pacing" >"$work/floor.json" || hold_status=1
  client latency --url "$url/chatkit" --streams "$lat_streams" --turns-per-stream "$lat_turns" \
    --pacing "$lat_pacing" >"$work/latency.json" || hold_status=1
fi
kill -0 "$server_pid" 2>/dev/null || { echo "the server died:" >&2; tail -n 20 "$work/server.log" >&2; hold_status=1; }

note_load end
"$py" "$here/report.py" "$work" "$streams"
grep -E '"level":"(error|fatal)"' "$work/server.log" | sed 's/^{"time":"[^"]*",//' | sort | uniq -c | sort -rn | head -n 5 >&2 || true
exit "$hold_status"
