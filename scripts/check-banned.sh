#!/usr/bin/env bash
# Rejects calls CONVENTIONS.md bans in src/: unbounded string functions,
# atoi, rand, system, and memcmp (secrets are compared with sodium_memcmp;
# memcmp on public data is spelled sr_memeq_public or justified inline with
# "banned-ok:" and a reason).
set -u
root=${1:-.}
status=0
hits=$(grep -rnE --include='*.c' --include='*.h' \
  '(^|[^_a-zA-Z0-9.>])(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gets|rand|srand|system|memcmp)[[:space:]]*\(' \
  "$root/src" | grep -v 'banned-ok:' || true)
if [ -n "$hits" ]; then
  echo "banned calls (see CONVENTIONS.md):"
  echo "$hits"
  status=1
fi
exit $status
