#!/usr/bin/env bash
# Checks scripts/dev-run.sh's control flow with a stand-in binary: init on
# first use, SIGINT and SIGTERM stop both services and exit 0, a service
# that dies takes the other down and the script exits non-zero.
#
#   tests/scripts/test_dev_run.sh [SOURCE_DIR]
set -uo pipefail
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
run=$src/scripts/dev-run.sh
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
set -m # job control: background jobs keep SIGINT, as under a terminal

cat >"$tmp/bin" <<'DUMMY'
#!/usr/bin/env bash
# Stand-in for strongroom: records what it was asked to do in $DUMMY_LOG.
case "$1" in
init) mkdir -p "$3" && echo "[instance]" >"$3/strongroom.conf" && echo "init $3" >>"$DUMMY_LOG" ;;
platform|vault)
  svc=$1
  trap 'echo "$svc stopped" >>"$DUMMY_LOG"; exit 0' TERM
  echo "$svc started $3" >>"$DUMMY_LOG"
  if [ "${DUMMY_CRASH:-}" = "$svc" ]; then sleep 0.3; exit 3; fi
  while :; do sleep 0.05; done ;;
*) exit 2 ;;
esac
DUMMY
chmod +x "$tmp/bin"

fails=0
check() { # description, condition...
  local what=$1; shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
wait_started() {
  for _ in $(seq 100); do
    [ "$(grep -c started "$DUMMY_LOG" 2>/dev/null)" = 2 ] && return 0
    sleep 0.05
  done
  return 1
}
stopped_both() { grep -q 'platform stopped' "$DUMMY_LOG" && grep -q 'vault stopped' "$DUMMY_LOG"; }

for sig in INT TERM; do
  export DUMMY_LOG=$tmp/log-$sig
  : >"$DUMMY_LOG"
  "$run" "$tmp/bin" "$tmp/inst-$sig" >"$tmp/out-$sig" 2>&1 &
  pid=$!
  check "SIG$sig: both services start" wait_started
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  check "SIG$sig: exits 0 (got $rc)" [ "$rc" = 0 ]
  check "SIG$sig: both services got SIGTERM" stopped_both
  check "SIG$sig: ran init for a new folder" grep -q "^init $tmp/inst-$sig\$" "$DUMMY_LOG"
  check "SIG$sig: prints the URLs and the CA" grep -q 'https://localhost:8444' "$tmp/out-$sig"
done

# Second run on the same folder: no init.
export DUMMY_LOG=$tmp/log-again
: >"$DUMMY_LOG"
"$run" "$tmp/bin" "$tmp/inst-INT" >/dev/null 2>&1 &
pid=$!
wait_started
kill -TERM "$pid"
wait "$pid"
check "existing instance: no init" bash -c "! grep -q ^init '$DUMMY_LOG'"

# A service that dies stops the other; the script fails.
export DUMMY_LOG=$tmp/log-crash DUMMY_CRASH=vault
: >"$DUMMY_LOG"
"$run" "$tmp/bin" "$tmp/inst-crash" >"$tmp/out-crash" 2>&1 &
pid=$!
wait "$pid"
rc=$?
check "crash: exits with the service's status (got $rc)" [ "$rc" = 3 ]
check "crash: the platform was stopped" grep -q 'platform stopped' "$DUMMY_LOG"
check "crash: says which one died" grep -q 'vault exited unexpectedly' "$tmp/out-crash"
unset DUMMY_CRASH

[ "$fails" = 0 ]
