#!/usr/bin/env bash
# bench/retrieval/run.sh [BINARY] - the retrieval benchmark (`make bench-retrieval`).
#
# Installs the corpus if missing (Debian package postgresql-doc-15: the
# PostgreSQL 15 manual, ~1170 HTML pages nobody on this team wrote), starts a
# throwaway PostgreSQL cluster (no fsync), ingests the manual with `chatkitd
# ingest`, times a re-ingest (every file unchanged), then runs eval.py: the
# judged questions of questions.tsv through chatkit.corpus_search and through
# an Okapi BM25 baseline over the same chunks, on both halves.  Then search
# latency (server-side, see eval.py) of chatkit.corpus_search and of the
# previous ranking (bench.corpus_search_v0, tune.sql) at each corpus size of
# BENCH_SCALES (default "1 10 100": the manual, then synthetic copies of it
# added by scale.sql; 100x needs ~9 GB of disk).
# BENCH_RT=20 runs the measuring backend under SCHED_FIFO 20 (root), which
# takes other jobs' CPU contention out of the percentiles.  Prints what
# BENCHMARKS.md ("Retrieval") quotes.  Exits non-zero if chatkitd does not
# beat BM25 on recall@5 and MRR@10 on both halves.
# Duration on 2 busy cores: ~3 min for BENCH_SCALES=1, ~6 min for "1 10", ~20
# min for the default "1 10 100" (building the 100x copies takes ~15);
# the last line prints the elapsed time.
set -euo pipefail
bench_start=$(date +%s)
export PGOPTIONS=${PGOPTIONS:--c client_min_messages=warning} # no NOTICEs of scale.sql's IF NOT EXISTS
export PG_LOCAL_FSYNC=${PG_LOCAL_FSYNC:-off} # throwaway cluster, as when the figures were recorded
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/chatkitd}
corpus=/usr/share/doc/postgresql-doc-15/html

if [ ! -d "$corpus" ]; then
  echo "installing postgresql-doc-15 (the benchmark corpus)"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-doc-15
fi
[ -x "$bin" ] || { echo "run.sh: $bin not found (make first)" >&2; exit 1; }

work=$(mktemp -d /tmp/chatkitd-bench-retrieval.XXXXXX)
chmod 0755 "$work"
cleanup() { "$root/scripts/pg-local.sh" stop "$work/pg"; rm -rf "$work"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
DATABASE_URL=$(PG_LOCAL_FSYNC=off "$root/scripts/pg-local.sh" start "$work/pg" "$port")
export DATABASE_URL

echo "== ingest $corpus"
start=$(date +%s.%N)
"$bin" ingest "$corpus" > "$work/ingest.log"
end=$(date +%s.%N)
tail -n 1 "$work/ingest.log"
printf 'first ingest: %.1f s\n' "$(echo "$end - $start" | bc)"
start=$(date +%s.%N)
"$bin" ingest "$corpus" | tail -n 1
end=$(date +%s.%N)
printf 're-ingest (all unchanged): %.1f s\n' "$(echo "$end - $start" | bc)"

echo "== evaluate"
shift $(( $# > 0 ? 1 : 0 ))
status=0
/usr/bin/python3 "$root/bench/retrieval/eval.py" --db "$DATABASE_URL" "$@" || status=1

echo "== latency (server-side, per search; load average: $(cut -d' ' -f1-3 /proc/loadavg)${BENCH_RT:+; SCHED_FIFO $BENCH_RT})"
psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f "$root/bench/retrieval/tune.sql"
done_to=0
for scale in ${BENCH_SCALES:-1 10 100}; do
  if [ "$scale" -gt 1 ]; then
    start=$(date +%s)
    psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v from=$((done_to + 1)) -v to=$((scale - 1)) \
      -f "$root/bench/retrieval/scale.sql" > /dev/null
    echo "(${scale}x built in $(( $(date +%s) - start )) s; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  fi
  done_to=$((scale - 1))
  also=(--also bench.corpus_search_v0)
  [ "$scale" -ge 100 ] && also=()   # the old ranking takes seconds per search there
  /usr/bin/python3 "$root/bench/retrieval/eval.py" --db "$DATABASE_URL" --latency "${scale}x" "${also[@]}"
done
echo "== done in $(( $(date +%s) - bench_start )) s (BENCH_SCALES=\"${BENCH_SCALES:-1 10 100}\"; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
