#!/usr/bin/env bash
# Runs the type check and the ava suite; ends with one line `tests: N passed, M failed`.
# Called by `bash run.sh test` after set-up (PATH already has Node 24).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p var/test-results
tap=var/test-results/ava.tap

failed_extra=0
echo "== type check (tsc --noEmit)"
if ! node node_modules/typescript/bin/tsc --noEmit -p .; then
  echo "type check failed"
  failed_extra=1
fi

echo "== ava"
node node_modules/ava/entrypoints/cli.mjs --tap "$@" | tee "$tap"
ava_rc=${PIPESTATUS[0]}

pass=$(grep -E '^# pass ' "$tap" | tail -1 | awk '{print $3}')
fail=$(grep -E '^# fail ' "$tap" | tail -1 | awk '{print $3}')
skip=$(grep -E '^# skip ' "$tap" | tail -1 | awk '{print $3}')
pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
fail=$((fail + failed_extra))
if [ "$ava_rc" != 0 ] && [ "$fail" = 0 ]; then fail=1; fi  # ava crashed before reporting
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
