# The boot image (kernel + initrd + manifest) in the boot root's netimage/. Sourced by run.sh.
# bootimage/build.ts hashes its inputs (Debian package versions, node, agent bundle, its own
# sources) and returns at once when nothing changed; a full build takes ~2-3 min on 2 cores.

netimage_bootimage_setup() {
  local out="${NETIMAGE_BOOT_ROOT:-$NETIMAGE_ROOT/var/boot}"
  if ! node "$NETIMAGE_ROOT/bootimage/build.ts" --out "$out"; then
    echo "setup: boot image build failed (see above)" >&2
    return 1
  fi
}

netimage_bootimage_setup
