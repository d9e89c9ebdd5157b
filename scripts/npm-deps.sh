#!/usr/bin/env bash
# Installs the black-box tests' npm packages (tests/e2e/package-lock.json)
# when they are missing or the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
[ -f package.json ] || exit 0
stamp=node_modules/.lock-stamp
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then exit 0; fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
mkdir -p node_modules && cp package-lock.json "$stamp"
