#!/usr/bin/env bash
# `make run`: creates a development instance in DIR on first use, then runs
# the platform and the vault in the foreground until Ctrl-C.
#
#   scripts/dev-run.sh BIN DIR
#
# Ctrl-C (SIGINT) or SIGTERM: both services get SIGTERM (they drain and exit),
# the script waits for both and exits 0; a second Ctrl-C kills them. If one
# service exits by itself, the other is stopped and the script exits non-zero.
set -uo pipefail

bin=${1:?usage: dev-run.sh BIN DIR}
dir=${2:?usage: dev-run.sh BIN DIR}
conf=$dir/strongroom.conf

if [ ! -x "$bin" ]; then
  echo "dev-run: $bin is not an executable (run 'make build' first)" >&2
  exit 1
fi
if [ ! -f "$conf" ]; then
  "$bin" init --dir "$dir" || exit 1
fi
dir_abs=$(cd "$dir" && pwd)

platform_pid=
vault_pid=
live=()
stopping=0

# Background children of a non-interactive shell ignore SIGINT, and the
# services treat SIGTERM as "drain and exit", so SIGTERM is what we forward.
stop() {
  if [ "$stopping" = 1 ]; then
    echo "dev-run: stopping now" >&2
    [ ${#live[@]} -gt 0 ] && kill -KILL "${live[@]}" 2>/dev/null
    return
  fi
  stopping=1
  echo "dev-run: stopping platform and vault" >&2
  [ ${#live[@]} -gt 0 ] && kill -TERM "${live[@]}" 2>/dev/null
}
trap stop INT TERM

"$bin" platform --config "$conf" &
platform_pid=$!
"$bin" vault --config "$conf" &
vault_pid=$!
live=("$platform_pid" "$vault_pid")

cat <<EOF
strongroom development instance ($dir_abs)
  platform:    https://localhost:8443
  vault:       https://localhost:8444
  trust CA:    $dir_abs/tls/ca.crt
  credentials: $dir_abs/credentials.json
  email:       $dir_abs/mail/new/   (maildir: every email the platform sends)
  sms:         $dir_abs/sms.log     (one JSON line per text message)
  card form:   https://localhost:8444/v1/strongroom.js (see docs/elements.md)
  staff:       $bin user create --config $conf --role admin --email you@localhost
Ctrl-C stops both.
EOF

name_of() {
  if [ "$1" = "$platform_pid" ]; then echo platform; else echo vault; fi
}

# Wait for the children one by one. A trap interrupts `wait` (status > 128,
# no pid reported); the loop then goes on waiting, now for the drain.
status=0
while [ ${#live[@]} -gt 0 ]; do
  exited=
  wait -n -p exited "${live[@]}"
  rc=$?
  if [ -z "${exited:-}" ]; then
    [ "$rc" -eq 127 ] && break # nothing left to wait for
    continue
  fi
  rest=()
  for p in "${live[@]}"; do [ "$p" = "$exited" ] || rest+=("$p"); done
  live=("${rest[@]}")
  if [ "$stopping" = 0 ]; then
    echo "dev-run: $(name_of "$exited") exited unexpectedly (status $rc); stopping the other" >&2
    status=$(( rc == 0 ? 1 : rc ))
    stopping=1
    [ ${#live[@]} -gt 0 ] && kill -TERM "${live[@]}" 2>/dev/null
  elif [ "$rc" != 0 ]; then
    echo "dev-run: $(name_of "$exited") exited with status $rc while stopping" >&2
  fi
done
exit "$status"
