# The TFTP server's native sender (bootserver/tftp/native/tftpsend.c): compiled into
# var/native/<source hash>/ for the server and the tests. Sourced by run.sh.

netimage_tftp_sender_setup() {
  if ! node "$NETIMAGE_ROOT/bootserver/tftp/build-sender.ts"; then
    echo "setup: building the TFTP native sender failed (see above); TFTP transfers run in Node (slower in lock-step)" >&2
    return 1
  fi
}

netimage_tftp_sender_setup
