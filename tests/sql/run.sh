#!/usr/bin/env bash
# tests/sql/run.sh CONNINFO - the SQL tests of the store (sql/).
#
# Applies every sql/schema/NNN_*.sql in order (one transaction per file), then
# every sql/functions/*.sql (all in one transaction with check_function_bodies
# off), as the C migration runner does, to a fresh template database on the
# server CONNINFO
# points at, then runs each tests/sql/test_*.sql in its own copy of that
# template (plus tests/sql/reads_ref.sql, the oracle of the reads the server
# answers in C, and tests/sql/lib.sql, the assertion helpers).  Assertions are
# recorded in sqltest.results; a test file that stops on an SQL error counts
# as one failure.  Prints each failure, then a final line "N passed, N failed",
# and exits non-zero when anything failed.  The databases it creates are
# dropped on exit.
set -uo pipefail
conn=${1:?usage: tests/sql/run.sh CONNINFO}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tag="ck_sqltest_$$"

# conninfo for database $1 on the same server (key=value strings or URIs).
conn_db() {
  case "$conn" in
    postgres://*|postgresql://*)
      local base=${conn%%\?*} query=
      [ "$base" != "$conn" ] && query="?${conn#*\?}"
      local scheme=${base%%://*} rest=${base#*://}
      echo "$scheme://${rest%%/*}/$1$query" ;;
    *) echo "$conn dbname=$1" ;;
  esac
}
psql_to() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -d "$(conn_db "$db")" "$@"; }
admin() { psql_to postgres -At -c "$1"; }

cleanup() {
  for db in $(admin "SELECT datname FROM pg_database WHERE datname LIKE '${tag}%'" 2>/dev/null); do
    admin "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1
  done
}
trap cleanup EXIT

passed=0
failed=0
admin "CREATE DATABASE ${tag}_tmpl" >/dev/null || { echo "cannot create a database"; echo "0 passed, 1 failed"; exit 1; }
for f in "$root"/sql/schema/[0-9]*.sql; do
  if ! psql_to "${tag}_tmpl" -1 -f "$f" >/dev/null; then
    echo "FAIL migration $(basename "$f")"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
if ! { echo "SET check_function_bodies = off;"; cat "$root"/sql/functions/*.sql; } |
     psql_to "${tag}_tmpl" -1 -f - >/dev/null; then
  echo "FAIL sql/functions/"
  echo "0 passed, 1 failed"
  exit 1
fi
for f in reads_ref.sql lib.sql; do
  psql_to "${tag}_tmpl" -1 -f "$here/$f" >/dev/null || { echo "FAIL $f"; echo "0 passed, 1 failed"; exit 1; }
done

n=0
for t in "$here"/test_*.sql; do
  n=$((n + 1))
  db="${tag}_$n"
  name=$(basename "$t" .sql)
  admin "CREATE DATABASE $db TEMPLATE ${tag}_tmpl" >/dev/null || { echo "FAIL $name: cannot create database"; failed=$((failed + 1)); continue; }
  if ! out=$(psql_to "$db" -f "$t" 2>&1 >/dev/null); then
    echo "FAIL $name: stopped on an SQL error:"
    echo "$out" | sed 's/^/    /' | head -n 20
    failed=$((failed + 1))
  fi
  counts=$(psql_to "$db" -At -F ' ' -c "SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) FROM sqltest.results")
  p=${counts% *}; q=${counts#* }
  passed=$((passed + p)); failed=$((failed + q))
  psql_to "$db" -At -c "SELECT format('FAIL %s: %s%s', '$name', name, coalesce(E'\n    ' || detail, '')) FROM sqltest.results WHERE NOT ok ORDER BY n"
  echo "  $name: $p passed, $q failed"
  admin "DROP DATABASE $db" >/dev/null
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
