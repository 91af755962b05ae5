# The chunked image format's C helpers (imaging/chunked/native/): compiled into var/native/<source
# hash>/ for the server and the tests (the boot image builds its own copy). Sourced by run.sh.

netimage_chunk_helpers_setup() {
  if ! node "$NETIMAGE_ROOT/imaging/chunked/build-helpers.ts"; then
    echo "setup: building the chunk helpers failed (see above); backups and restores use the slower Node path" >&2
    return 1
  fi
}

netimage_chunk_helpers_setup
