#!/usr/bin/env bash
# Installs the Debian 12 packages strongroom needs, and nothing when all are
# present. Called by `make run` (profile "run"), `make test` (profile "test")
# and `make bench` (profile "bench"). Runs apt-get as root, or through sudo.
#
#   scripts/deps.sh [run|test|bench]
set -euo pipefail

profile=${1:-run}

# Building the binary.
build_pkgs=(
  build-essential cmake pkg-config ca-certificates openssl
  libssl-dev libevent-dev libhttp-parser-dev libjansson-dev libsodium-dev
  libinih-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev libopendkim-dev
  liboath-dev libqrencode-dev libgfshare-dev
)
# Running the test suite: unit tests, fuzz targets (clang + libFuzzer), the
# black-box tests (node), a real PostgreSQL started in a temporary directory,
# Debian's Chromium for the browser tests (Playwright drives it; it never
# downloads a browser of its own).
test_pkgs=(
  libcmocka-dev clang libclang-rt-14-dev nodejs postgresql sqlite3 python3 procps clang-format
  gdb
  python3-dkim python3-aiosmtpd
  chromium
)
# Benchmarks: reference servers and load generators.
bench_pkgs=(nginx-light wrk postgresql-contrib)

pkgs=("${build_pkgs[@]}")
case "$profile" in
  run) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "deps.sh: unknown profile '$profile' (run, test, bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Debian's nodejs ships npm separately; other nodejs builds include it.
if [ "$profile" != run ] && ! command -v npm >/dev/null; then
  missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once if needed.
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
