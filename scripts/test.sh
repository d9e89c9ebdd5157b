#!/usr/bin/env bash
# Runs the whole suite against one build folder: starts a temporary
# PostgreSQL (both storage backends are tested on every run), then ctest
# (unit, fuzz-corpus replays, source checks, black-box tests), then stops it.
#
#   scripts/test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)

eval "$("$root/scripts/pg-test.sh" start)"
trap '"$root/scripts/pg-test.sh" stop "$SR_TEST_PG_DIR"' EXIT

cd "$build"
ctest --output-on-failure --no-tests=error -j "${SR_TEST_JOBS:-2}"
