#!/usr/bin/env bash
# Runs the type check and the test suite; ends with one line `tests: N passed, M failed`.
# Called by `bash run.sh test` after set-up (PATH already has Node 24).
#   pass 1: everything but test/vm/ (no QEMU), 2 files at a time
#   pass 2: the whole VM matrix (QEMU under TCG), one file at a time, so VMs never compete with
#           the timing-sensitive tests of pass 1; then the two OS install scenarios side by side
#   clean root: README's start command in a fresh Debian 12 root (test/setup/clean-root.sh; most
#               of its time is the boot image build, see that file for measured figures)
# NETIMAGE_TEST_VM=0 skips pass 2, NETIMAGE_TEST_CLEAN_ROOT=0 the clean root (quick local runs).
# Extra arguments go to both ava runs.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p var/test-results
ava=(node node_modules/ava/entrypoints/cli.mjs --tap)

pass=0 fail=0 skip=0
count() { # TAP file, ava exit code
  local p f s
  p=$(grep -E '^# pass ' "$1" | tail -1 | awk '{print $3}')
  f=$(grep -E '^# fail ' "$1" | tail -1 | awk '{print $3}')
  s=$(grep -E '^# skip ' "$1" | tail -1 | awk '{print $3}')
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$2" != 0 ] && [ "$f" = 0 ]; then f=1; fi # ava crashed before reporting
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

echo "== type check (tsc --noEmit)"
if ! node node_modules/typescript/bin/tsc --noEmit -p .; then
  echo "type check failed"
  fail=$((fail + 1))
fi

echo "== tests"
start=$(date +%s)
"${ava[@]}" "$@" | tee var/test-results/main.tap
count var/test-results/main.tap "${PIPESTATUS[0]}"
echo "== tests took $(( $(date +%s) - start )) s"

if [ "${NETIMAGE_TEST_CLEAN_ROOT:-1}" != 0 ]; then
  # README's `bash run.sh start` in a fresh Debian 12 root (a set-up step that only works because
  # this machine has something installed fails here); counts as one test.
  echo "== clean root: bash run.sh start on a fresh Debian 12 (test/setup/clean-root.sh)"
  bash test/setup/clean-root.sh | tee var/test-results/clean-root.log
  if [ "${PIPESTATUS[0]}" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
fi

if [ "${NETIMAGE_TEST_VM:-1}" != 0 ]; then
  echo "== VM matrix (QEMU/TCG, one at a time)"
  start=$(date +%s)
  rm -rf var/test-results/vm-logs
  NETIMAGE_VM_LOG_DIR="$ROOT/var/test-results/vm-logs" "${ava[@]}" --config ava.vm.config.js "$@" | tee var/test-results/vm.tap
  count var/test-results/vm.tap "${PIPESTATUS[0]}"
  echo "== VM matrix took $(( $(date +%s) - start )) s"
  # The two real OS install scenarios (issue 11), side by side: each keeps one core busy under TCG.
  echo "== OS install scenarios (UEFI + Secure Boot, BIOS; both at once)"
  start=$(date +%s)
  NETIMAGE_VM_LOG_DIR="$ROOT/var/test-results/vm-logs" "${ava[@]}" --config ava.os-install.config.js "$@" | tee var/test-results/os-install.tap
  count var/test-results/os-install.tap "${PIPESTATUS[0]}"
  echo "== OS install scenarios took $(( $(date +%s) - start )) s"
fi

echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
