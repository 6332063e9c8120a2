#!/usr/bin/env bash
# tests/sql/check_defined_once.sh [ROOT] - the rules of sql/README.md that a
# grep can check, over ROOT/sql (default: this repository):
#   - every function or procedure name is defined exactly once in the tree;
#   - definitions live in sql/functions/ and say CREATE OR REPLACE (the files
#     are re-applied whenever they change);
#   - migrations in sql/schema/ are named NNN_name.sql with distinct numbers.
# Prints each violation and exits 1 if there is any.  `--self-test` checks
# that a tree breaking each rule is rejected (run by tests/run.sh too).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = --self-test ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mk() { rm -rf "$tmp/sql"; mkdir -p "$tmp/sql/schema" "$tmp/sql/functions"; }
  expect() { # expect OK|FAIL what
    if "$here/check_defined_once.sh" "$tmp" >/dev/null 2>&1; then got=OK; else got=FAIL; fi
    [ "$got" = "$1" ] || { echo "self-test: $2: got $got, want $1"; exit 1; }
  }
  mk
  echo 'CREATE OR REPLACE FUNCTION chatkit.f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;' > "$tmp/sql/functions/a.sql"
  echo 'CREATE TABLE chatkit.t (x int);' > "$tmp/sql/schema/001_t.sql"
  expect OK "a clean tree"
  echo 'create or replace function chatkit.F(b text) RETURNS text LANGUAGE sql AS $$ SELECT b $$;' > "$tmp/sql/functions/b.sql"
  expect FAIL "one name defined in two files (another case, another signature)"
  mk
  printf 'CREATE OR REPLACE FUNCTION chatkit.g() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n%s\n' \
    'CREATE OR REPLACE FUNCTION chatkit.g() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;' > "$tmp/sql/functions/a.sql"
  expect FAIL "one name defined twice in one file"
  mk
  echo 'CREATE FUNCTION chatkit.h() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;' > "$tmp/sql/functions/a.sql"
  expect FAIL "a definition without OR REPLACE"
  mk
  echo 'CREATE OR REPLACE FUNCTION chatkit.k() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;' > "$tmp/sql/schema/001_k.sql"
  expect FAIL "a function in a migration"
  mk
  echo 'SELECT 1;' > "$tmp/sql/schema/002_a.sql"; echo 'SELECT 1;' > "$tmp/sql/schema/002_b.sql"
  expect FAIL "two migrations with one number"
  mk
  echo 'SELECT 1;' > "$tmp/sql/schema/add_x.sql"
  expect FAIL "a migration without a number"
  echo "check_defined_once self-test: ok"
  exit 0
fi

root=${1:-$(cd "$here/../.." && pwd)}
bad=0
# Every definition as "file<TAB>text", the text being CREATE ... (name(.
defs=$(cd "$root" && grep -HoiE 'create[[:space:]]+(or[[:space:]]+replace[[:space:]]+)?(function|procedure)[[:space:]]+[a-z0-9_."]+[[:space:]]*\(' \
         $(find sql -name '*.sql' | sort) 2>/dev/null)
while IFS= read -r line; do
  [ -n "$line" ] || continue
  file=${line%%:*}; text=${line#*:}
  case "$file" in
    sql/functions/*) ;;
    *) echo "$file: $text: functions belong in sql/functions/<area>.sql"; bad=1 ;;
  esac
  if ! echo "$text" | grep -qiE '^create[[:space:]]+or[[:space:]]+replace'; then
    echo "$file: $text: write CREATE OR REPLACE (function files are re-applied)"; bad=1
  fi
done <<< "$defs"
dups=$(echo "$defs" | sed -nE 's/^[^:]*:.*(function|procedure)[[:space:]]+([a-z0-9_."]+)[[:space:]]*\($/\2/Ip' |
       tr 'A-Z' 'a-z' | tr -d '"' | sort | uniq -d)
for name in $dups; do
  echo "$name is defined more than once:"
  echo "$defs" | grep -iE "(function|procedure)[[:space:]]+\"?${name//./\\.}\"?[[:space:]]*\(" | sed 's/^/    /'
  bad=1
done
for f in "$root"/sql/schema/*.sql; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in
    [0-9][0-9][0-9]_*.sql) ;;
    *) echo "sql/schema/$(basename "$f"): migrations are named NNN_name.sql"; bad=1 ;;
  esac
done
nums=$(ls "$root"/sql/schema 2>/dev/null | sed -nE 's/^([0-9]+)_.*\.sql$/\1/p' | sort | uniq -d)
for n in $nums; do echo "sql/schema: more than one migration numbered $n"; bad=1; done
[ "$bad" -eq 0 ] && echo "check_defined_once: $(echo "$defs" | grep -c . ) definitions, each name once"
exit $bad
