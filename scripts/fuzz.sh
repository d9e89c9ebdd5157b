#!/usr/bin/env bash
# Runs every libFuzzer target of a -DSR_FUZZ=ON build for SECONDS each,
# starting from its checked-in corpus. New interesting inputs go to a scratch
# corpus (not the repository); crashes are written to build-fuzz/crashes/.
#
#   scripts/fuzz.sh BUILD_FUZZ_DIR [SECONDS]
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/crashes"
status=0
for src in "$root"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  scratch="$build/corpus/$name"
  mkdir -p "$scratch"
  echo "== $name: ${seconds}s"
  if ! "$build/$name" -max_total_time="$seconds" -artifact_prefix="$build/crashes/$name-" \
      -print_final_stats=1 "$scratch" "$root/tests/fuzz/corpus/$name" 2>"$build/$name.log"; then
    echo "!! $name found a failure; see $build/$name.log and $build/crashes/" >&2
    tail -n 30 "$build/$name.log" >&2
    status=1
  else
    grep -E 'stat::number_of_executed_units|cov:' "$build/$name.log" | tail -n 2
  fi
done
exit $status
