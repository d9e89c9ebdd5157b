#!/usr/bin/env bash
# Store insert benchmark: durable single-row insert transactions per second
# through strongroom's store, against references measured in the same run:
#   - SQLite: a raw sqlite3 C loop, WAL + synchronous=FULL, same transactions
#     (inside store_bench);
#   - PostgreSQL: pgbench on the same server, one client, a custom script
#     doing the same BEGIN; INSERT one row; COMMIT (prepared protocol, as
#     the store uses).
# Prints:
#   store.sqlite.inserts_per_s=N raw=N ratio=R
#   store.postgres.inserts_per_s=N pgbench=N ratio=R
#   store.sqlite.threads8.inserts_per_s=N nogroup=N ratio=R   (group commit gain)
#
#   bench/store.sh BUILD_DIR [SECONDS]
# Uses SR_TEST_PG_URL when set, otherwise starts a throw-away PostgreSQL.
# The machine is shared and noisy, so each measurement runs in ROUNDS short
# slices (SR_BENCH_ROUNDS, default 3) alternating with its reference, and the
# rates are averaged: drift hits both sides alike.
set -euo pipefail
build=${1:?usage: bench/store.sh BUILD_DIR [SECONDS]}
secs=${2:-${SR_BENCH_SECONDS:-2}}
rounds=${SR_BENCH_ROUNDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/store_bench"
[ -x "$bin" ] || { echo "bench/store.sh: $bin not built" >&2; exit 1; }

work=$(mktemp -d /tmp/sr-store-bench.XXXXXX)
started_pg=""
dbname="sr_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
admin_url=${SR_TEST_PG_URL:-}
cleanup() {
  if [ -n "$admin_url" ]; then
    psql "$admin_url" -qAt -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$started_pg" ]; then "$root/scripts/pg-test.sh" stop "$started_pg"; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$admin_url" ]; then
  eval "$("$root/scripts/pg-test.sh" start)"
  started_pg=$SR_TEST_PG_DIR
  admin_url=$SR_TEST_PG_URL
fi
psql "$admin_url" -qAt -c "CREATE DATABASE $dbname" >/dev/null
# Same URL, the bench database instead of the admin one.
pg_url=$(printf '%s' "$admin_url" | sed -E "s#^(postgres(ql)?://[^/?]*)/?[^?]*#\\1/$dbname#")

printf '%s\n' '\set id random(1, 9000000000000000000)' 'BEGIN;' \
  "INSERT INTO bench_pgbench (id, payload) VALUES (:id, 'bench-payload-0123456789abcdef0123456789abcdef0123456789abcdef');" \
  'COMMIT;' >"$work/insert.sql"
psql "$pg_url" -qAt -c "CREATE TABLE bench_pgbench (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)" >/dev/null

: >"$work/store_sqlite"
: >"$work/raw_sqlite"
: >"$work/store_pg"
: >"$work/pgbench"
: >"$work/conc_group"
: >"$work/conc_nogroup"
for _ in $(seq "$rounds"); do
  out=$("$bin" --seconds "$secs" --sqlite-dir "$work" --pg-url "$pg_url")
  printf '%s\n' "$out" | sed -n 's/^store\.sqlite\.inserts_per_s=//p' >>"$work/store_sqlite"
  printf '%s\n' "$out" | sed -n 's/^raw\.sqlite\.inserts_per_s=//p' >>"$work/raw_sqlite"
  printf '%s\n' "$out" | sed -n 's/^store\.postgres\.inserts_per_s=//p' >>"$work/store_pg"
  printf '%s\n' "$out" | sed -n 's/^store\.sqlite\.threads8\.group\.inserts_per_s=//p' >>"$work/conc_group"
  printf '%s\n' "$out" | sed -n 's/^store\.sqlite\.threads8\.nogroup\.inserts_per_s=//p' >>"$work/conc_nogroup"
  pgb=$(PGOPTIONS="-c synchronous_commit=on" pgbench -n -c1 -T "$secs" -M prepared \
    -f "$work/insert.sql" "$pg_url" 2>&1) || true
  tps=$(printf '%s\n' "$pgb" | sed -n -E 's/^tps = ([0-9.]+).*/\1/p' | head -n1)
  [ -n "$tps" ] || { echo "bench/store.sh: pgbench failed:" >&2; echo "$pgb" >&2; exit 1; }
  echo "$tps" >>"$work/pgbench"
done

mean() { awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else print 0 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
store_sqlite=$(mean "$work/store_sqlite")
raw_sqlite=$(mean "$work/raw_sqlite")
store_pg=$(mean "$work/store_pg")
pgbench_tps=$(mean "$work/pgbench")
conc_group=$(mean "$work/conc_group")
conc_nogroup=$(mean "$work/conc_nogroup")
echo "store.sqlite.inserts_per_s=$store_sqlite raw=$raw_sqlite ratio=$(ratio "$store_sqlite" "$raw_sqlite")"
echo "store.postgres.inserts_per_s=$store_pg pgbench=$pgbench_tps ratio=$(ratio "$store_pg" "$pgbench_tps")"
echo "store.sqlite.threads8.inserts_per_s=$conc_group nogroup=$conc_nogroup ratio=$(ratio "$conc_group" "$conc_nogroup")"
