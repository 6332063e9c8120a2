#!/usr/bin/env bash
# pg-local.sh - a private PostgreSQL cluster for `make run` and the tests.
#
#   pg-local.sh start DIR [PORT]   initdb DIR if needed, start it, create database
#                                  "chatkitd", print a libpq conninfo on stdout
#   pg-local.sh stop DIR           stop it (fast shutdown)
#   pg-local.sh restart DIR        restart it (same port and socket)
#
# The cluster listens only on a unix socket inside DIR (no TCP) and trusts
# local connections.  It is durable (fsync on) unless PG_LOCAL_FSYNC=off:
# the tests and benchmarks ask for that (throwaway data, faster); `make
# run` does not, since its database may hold conversations someone keeps
# (PG_LOCAL_FSYNC=off make run trades that for speed: a crash of the
# machine can then lose or corrupt the data).  initdb refuses to run as root, so as root the cluster
# runs as the `postgres` user; DIR must then be reachable by that user (the
# caller picks a place outside a 0700 home, see scripts/run-local.sh).
set -euo pipefail
cmd=${1:?usage: pg-local.sh start|stop|restart DIR [PORT]}
dir=${2:?usage: pg-local.sh start|stop|restart DIR [PORT]}
port=${3:-5432}
dir=$(realpath -m "$dir")
fsync=${PG_LOCAL_FSYNC:-on}
case "$fsync" in on|off) ;; *) echo "pg-local.sh: PG_LOCAL_FSYNC must be on or off, not '$fsync'" >&2; exit 2 ;; esac
cd /   # the postgres user may not be able to enter the caller's directory

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg-local.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  chmod 0700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -p $port -c listen_addresses='' -c fsync=$fsync -c max_connections=200 -c shared_buffers=128MB" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; exit 1; }
  fi
  as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname='chatkitd'" | grep -q 1 \
    || as_owner "$bindir/createdb" -h "$dir" -p "$port" -U postgres chatkitd
  echo "host=$dir port=$port user=postgres dbname=chatkitd"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
restart)
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
  ;;
*) echo "pg-local.sh: unknown command $cmd" >&2; exit 2 ;;
esac
