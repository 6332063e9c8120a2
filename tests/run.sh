#!/usr/bin/env bash
# tests/run.sh BUILD_DIR - the whole suite behind `make test`:
#   0. checks the include rules between src/ folders (scripts/check-layers.sh)
#      and the documentation's links (tests/check_doc_links.py),
#   1. starts a throwaway PostgreSQL cluster (scripts/pg-local.sh) for the unit
#      tests that need one (CHATKITD_TEST_DATABASE_URL) and the SQL tests,
#   2. runs every Check unit-test binary (BUILD_DIR/tests/test_*),
#   3. checks that every SQL function is defined once, in sql/functions/
#      (tests/sql/check_defined_once.sh, and its self-test), runs the SQL
#      tests (tests/sql/run.sh) and the token estimator's check against the
#      reference tokenizer (bench/tokens),
#   4. runs the acceptance suite (tests/acceptance/run.py, which starts its own
#      cluster and servers),
# and stops everything it started, whatever happens.
# CHATKITD_VALGRIND=1 (make test-valgrind) runs every unit-test binary under
# valgrind (a memory error or a definite leak fails it; Check's timeouts are
# multiplied by 20) and makes the acceptance suite do the same to its servers.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
pgdir=$(mktemp -d /tmp/chatkitd-unit-pg.XXXXXX)
chmod 0755 "$pgdir"
cleanup() { "$root/scripts/pg-local.sh" stop "$pgdir/pg"; rm -rf "$pgdir"; }
trap cleanup EXIT

export PG_LOCAL_FSYNC=${PG_LOCAL_FSYNC:-off} # throwaway clusters: no need to sync (scripts/pg-local.sh)
port=$((20000 + RANDOM % 20000))
CHATKITD_TEST_DATABASE_URL=$("$root/scripts/pg-local.sh" start "$pgdir/pg" "$port") || { echo "cannot start PostgreSQL"; exit 1; }
export CHATKITD_TEST_DATABASE_URL

wrap=()
if [ -n "${CHATKITD_VALGRIND:-}" ]; then
  wrap=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=42
        "--suppressions=$root/tests/valgrind.supp")
  export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-20}
fi

failed=0
echo "== layers"
"$root/scripts/check-layers.sh" "$root/src" || failed=1
echo "== doc links"
/usr/bin/python3 "$root/tests/check_doc_links.py" "$root" || failed=1
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  "${wrap[@]}" "$t" || failed=1
done
echo "== sql"
"$root/tests/sql/check_defined_once.sh" || failed=1
"$root/tests/sql/check_defined_once.sh" --self-test || failed=1
"$root/tests/sql/run.sh" "$CHATKITD_TEST_DATABASE_URL" || failed=1
if [ -x "$build/bench/token_estimate" ] && [ -d "$root/bench/tokens/node_modules" ]; then
  echo "== token estimator"
  node "$root/bench/tokens/compare.mjs" "$build/bench/token_estimate" "$root" --check || failed=1
fi
echo "== acceptance"
/usr/bin/python3 "$root/tests/acceptance/run.py" --binary "$build/chatkitd" || failed=1
exit $failed
