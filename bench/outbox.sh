#!/usr/bin/env bash
# Outbox throughput: DKIM-signed notification emails per second that the
# platform's delivery job (claim, render, compose, DKIM rsa-sha256 sign,
# SMTP over libcurl, mark sent; bench/outbox_bench.c) hands to a real SMTP
# server on loopback (tests/tools/smtp_server.py, aiosmtpd), against that
# same server's own acceptance rate measured in the same run with a plain
# client: Python's smtplib sending the same messages, one connection per
# message as the outbox does (no DKIM, no database). Prints
#   outbox.emails_per_s=N smtplib=N
# (the ratio is how much of what the SMTP server can take the outbox
# delivers; 1.0 means the server, not strongroom, is the limit).
#
#   bench/outbox.sh BUILD_DIR [COUNT]
# Rounds (SR_BENCH_ROUNDS, default 3) alternate the two sides; the rates
# are averaged.
set -euo pipefail
build=${1:?usage: bench/outbox.sh BUILD_DIR [COUNT]}
count=${2:-${SR_BENCH_OUTBOX_COUNT:-300}}
rounds=${SR_BENCH_ROUNDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/outbox_bench"
sr="$build/strongroom"
[ -x "$bin" ] || { echo "bench/outbox.sh: $bin not built" >&2; exit 1; }
# Debian's python has python3-aiosmtpd.
py=/usr/bin/python3

work=$(mktemp -d /tmp/sr-outbox-bench.XXXXXX)
smtp_pid=""
cleanup() {
  if [ -n "$smtp_pid" ]; then kill "$smtp_pid" 2>/dev/null || true; wait "$smtp_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/mail"
"$py" "$root/tests/tools/smtp_server.py" --out "$work/mail" >"$work/smtp.out" 2>"$work/smtp.err" &
smtp_pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's/^PORT //p' "$work/smtp.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "${port:-}" ] || { echo "bench/outbox.sh: SMTP server did not start" >&2; cat "$work/smtp.err" >&2; exit 1; }
export STRONGROOM_EMAIL_SMTP_URL="smtp://127.0.0.1:$port"
export STRONGROOM_NOTIFY_BATCH=64
export STRONGROOM_LOG_LEVEL=warn

: >"$work/outbox" ; : >"$work/plain"
for r in $(seq "$rounds"); do
  inst="$work/inst$r"
  "$sr" init --dir "$inst" >/dev/null
  out=$("$bin" --config "$inst/strongroom.conf" --count "$count")
  printf '%s\n' "$out" | sed -n 's/^outbox\.emails_per_s=//p' >>"$work/outbox"
  # The reference sends what the outbox just sent (a DKIM-signed message of
  # the same size), so both sides move the same bytes.
  emls=("$work/mail"/*.eml)
  sample=${emls[0]}
  "$py" - "$port" "$count" "$sample" >>"$work/plain" <<'PY'
import smtplib, sys, time
port, n, sample = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
msg = open(sample, "rb").read()
t0 = time.monotonic()
for i in range(n):
    with smtplib.SMTP("127.0.0.1", port, local_hostname="localhost") as s:
        s.sendmail("no-reply@localhost", ["member@example.org"], msg)
print("%.1f" % (n / (time.monotonic() - t0)))
PY
  rm -f "$work/mail"/*
done

mean() { awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print 0 }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
o=$(mean "$work/outbox"); p=$(mean "$work/plain")
echo "# $count messages per side, $rounds rounds; outbox rounds: $(tr '\n' ' ' <"$work/outbox")smtplib rounds: $(tr '\n' ' ' <"$work/plain")"
echo "outbox.emails_per_s=$o smtplib=$p ratio=$(ratio "$o" "$p")"
