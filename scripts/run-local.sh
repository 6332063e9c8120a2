#!/usr/bin/env bash
# run-local.sh BINARY - what `make run` does after building:
#   - with DATABASE_URL unset, starts a PostgreSQL cluster of its own whose
#     files live under var/pg (or, when the postgres user cannot reach var/ -
#     e.g. a clone inside root's 0700 home - under /var/tmp, with var/pg a
#     symlink to it);
#   - applies the migrations, ingests docs/ and README.md so the server can
#     answer questions about itself (the Docker instructions are in README.md),
#     and serves on CHATKITD_LISTEN (default 127.0.0.1:8000).
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ -z "${DATABASE_URL:-}" ]; then
  mkdir -p var
  pgdir="$root/var/pg"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root/var" 2>/dev/null; then
    pgdir="/var/tmp/chatkitd-pg-$(printf '%s' "$root" | md5sum | cut -c1-12)"
    ln -sfn "$pgdir" var/pg
    echo "run-local: $root is not reachable by the postgres user; cluster files in $pgdir (var/pg links there)"
  fi
  DATABASE_URL=$(scripts/pg-local.sh start "$pgdir" 54329)
  export DATABASE_URL
  echo "run-local: local PostgreSQL up ($DATABASE_URL); stop it with: scripts/pg-local.sh stop $pgdir"
fi

"$bin" migrate
"$bin" ingest docs README.md || echo "run-local: ingesting docs/ and README.md failed; serving anyway"
echo "run-local: serving on http://${CHATKITD_LISTEN:-127.0.0.1:8000}/"
exec "$bin"
