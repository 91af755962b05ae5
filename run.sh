#!/usr/bin/env bash
# netimage's two commands (see README):
#   bash run.sh start [serve options]   set up whatever is missing, then run the bootserver
#   bash run.sh test  [ava options]     set up whatever is missing, then run the test suite
#   bash run.sh setup                   only the set-up (idempotent; fast when done)
# Works on a fresh Debian 12 as root: it bootstraps apt packages, Node 24 and npm deps itself.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NETIMAGE_ROOT="$ROOT"
export NETIMAGE_TOOLS="$ROOT/.tools"

cmd=${1:-start}
[ $# -gt 0 ] && shift

# Each step in scripts/setup.d is idempotent and prints one line when it has nothing to do.
# Steps are sourced in name order so later ones see PATH with Node 24 on it.
run_setup() {
  local profile=$1 step
  export NETIMAGE_SETUP_PROFILE=$profile
  for step in "$ROOT"/scripts/setup.d/*.sh; do
    # shellcheck source=/dev/null
    source "$step"
  done
}

case "$cmd" in
  setup)
    run_setup "${1:-full}"
    ;;
  start)
    run_setup start
    exec node "$ROOT/bootserver/cli/main.ts" serve "$@"
    ;;
  test)
    # Built artefacts kept by input hash outside the checkout, so a fresh clone on this machine
    # does not rebuild what has not changed (the clean-root test still builds from nothing).
    export NETIMAGE_BOOTIMAGE_CACHE="${NETIMAGE_BOOTIMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netimage-test/bootimage}"
    run_setup full
    exec bash "$ROOT/scripts/run-tests.sh" "$@"
    ;;
  *)
    echo "usage: bash run.sh start|test|setup" >&2
    exit 2
    ;;
esac
