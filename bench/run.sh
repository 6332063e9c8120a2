#!/usr/bin/env bash
# bench/run.sh BINARY - every benchmark behind `make bench`, one after the
# other; each prints its own Markdown table (see BENCHMARKS.md).
set -uo pipefail
bin=${1:-build/chatkitd}
here=$(cd "$(dirname "$0")" && pwd)
failed=0
echo "== reads (bench/reads/run.sh)"
"$here/reads/run.sh" "$bin" || failed=1
echo "== metrics cost on the reads (bench/reads/metrics_cost.sh)"
"$here/reads/metrics_cost.sh" "$bin" || failed=1
echo "== turns (bench/turns/run.sh)"
"$here/turns/run.sh" "$bin" || failed=1
echo "== streams (bench/streams/run.sh)"
"$here/streams/run.sh" "$bin" || failed=1
exit $failed
