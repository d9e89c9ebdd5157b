#!/usr/bin/env bash
# Starts a throw-away PostgreSQL for the test suite: initdb in a temporary
# folder, listening only on 127.0.0.1 at a free port, trust auth for the
# 'strongroom' role on loopback. Prints shell assignments to eval:
#
#   eval "$(scripts/pg-test.sh start)"   # sets SR_TEST_PG_URL, SR_TEST_PG_DIR
#   scripts/pg-test.sh stop "$SR_TEST_PG_DIR"
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# 'postgres' system user that Debian's package creates.
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$pgbin/initdb" ] || { echo "pg-test.sh: PostgreSQL server binaries not found (scripts/deps.sh test)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/strongroom-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$pgbin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # Durability stays on (fsync) so crash tests mean something.
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=128MB" >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  as_pg "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
    -c "CREATE ROLE strongroom LOGIN CREATEDB" >/dev/null
  echo "export SR_TEST_PG_DIR=$dir"
  echo "export SR_TEST_PG_URL=postgresql://strongroom@127.0.0.1:$port/postgres"
  echo "export SR_TEST_PG_PORT=$port"
  ;;
stop)
  dir=${2:?usage: pg-test.sh stop DIR}
  [ -d "$dir/data" ] && as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg-test.sh start | stop DIR" >&2
  exit 2
  ;;
esac
