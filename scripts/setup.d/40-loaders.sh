# Network boot loaders into the boot root (layout: docs/loaders.md). Sourced by run.sh for both
# profiles. The Debian packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`:
# never installed, because grub-efi/shim maintainer scripts could touch this host's own boot setup.
# Fast no-op when loaders.json lists files that are all present; NETIMAGE_LOADERS_REFRESH=1 redoes it.

# Bump when the layout written here changes, so existing boot roots get redone.
NETIMAGE_LOADERS_LAYOUT=1
netimage_loader_pkgs=(shim-signed grub-efi-amd64-signed grub-efi-amd64-bin grub-pc-bin grub-common libefivar1 libefiboot1)

netimage_loaders_present() {
  local boot=$1 json="$1/loaders.json" f
  [ -f "$json" ] || return 1
  grep -q "\"layout\": $NETIMAGE_LOADERS_LAYOUT," "$json" || return 1
  for f in shimx64.efi grubx64.efi grub/i386-pc/core.0 grub/x86_64-efi/http.mod grub/x86_64-efi/moddep.lst; do
    [ -s "$boot/$f" ] || return 1
  done
}

# Prints the path of the .deb for a package in the debs dir (newest version), downloading the
# candidate version when none is there yet.
netimage_loader_deb() {
  local pkg=$1 debs=$2 found
  found=$(ls -1 "$debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$found" ]; then
    # A fresh machine may have no package lists yet: update once, then retry. apt's own messages
    # are kept and shown when it still fails.
    local err
    if ! err=$(cd "$debs" && apt-get download -qq "$pkg" 2>&1 >/dev/null); then
      if ! err=$(apt-get update -qq 2>&1 >/dev/null && cd "$debs" && apt-get download -qq "$pkg" 2>&1 >/dev/null); then
        echo "setup: apt-get download $pkg failed (is apt reachable? try: apt-get update):" >&2
        printf '%s\n' "$err" | sed 's/^/  /' >&2
        return 1
      fi
    fi
    found=$(ls -1 "$debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1)
  fi
  echo "$found"
}

netimage_loaders_setup() {
  local boot=${NETIMAGE_BOOT_ROOT:-$NETIMAGE_ROOT/var/boot}
  local debs="$NETIMAGE_TOOLS/debs" pkg deb stage unpack
  if [ "${NETIMAGE_LOADERS_REFRESH:-}" != 1 ] && netimage_loaders_present "$boot"; then
    echo "setup: boot loaders present"
    return 0
  fi
  echo "setup: placing boot loaders into $boot"
  mkdir -p "$debs" "$boot"
  chmod 755 "$debs" 2>/dev/null || true
  declare -A deb_of ver_of
  for pkg in "${netimage_loader_pkgs[@]}"; do
    deb=$(netimage_loader_deb "$pkg" "$debs") || return 1
    deb_of[$pkg]=$deb
    ver_of[$pkg]=$(dpkg-deb -f "$deb" Version)
  done

  # The signed grub image and the unsigned modules must come from the same grub build: the
  # modules are loaded into that image (http.mod without Secure Boot).
  local built_using want_grub
  built_using=$(dpkg-deb -f "${deb_of[grub-efi-amd64-signed]}" Built-Using)
  want_grub=$(sed -n 's/.*grub2 (= \([^)]*\)).*/\1/p' <<<"$built_using")
  if [ "$want_grub" != "${ver_of[grub-efi-amd64-bin]}" ]; then
    echo "setup: grub-efi-amd64-signed is built from grub2 $want_grub but grub-efi-amd64-bin is ${ver_of[grub-efi-amd64-bin]}: remove old debs from $debs and retry" >&2
    return 1
  fi

  unpack=$(mktemp -d "${TMPDIR:-/tmp}/netimage-loaders-XXXXXX")
  stage="$boot/.loaders.new"
  rm -rf "$stage"
  mkdir -p "$stage/grub"
  for pkg in "${netimage_loader_pkgs[@]}"; do
    dpkg-deb -x "${deb_of[$pkg]}" "$unpack"
  done

  install -m 644 "$unpack/usr/lib/shim/shimx64.efi.signed" "$stage/shimx64.efi"
  # shim loads grubx64.efi from the directory of the BOOTP file field (shared/notes/pxe-chain.md).
  install -m 644 "$unpack/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed" "$stage/grubx64.efi"
  mkdir -p "$stage/grub/x86_64-efi"
  cp "$unpack"/usr/lib/grub/x86_64-efi/*.mod "$unpack"/usr/lib/grub/x86_64-efi/*.lst "$stage/grub/x86_64-efi/"

  # BIOS: grub-mknetdir from the unpacked grub-common, against the unpacked i386-pc files. It links
  # libefivar/libefiboot, which we take from their unpacked debs too. No fonts/themes/locales:
  # the served menus are plain text on a serial or VGA console.
  LD_LIBRARY_PATH="$unpack/usr/lib/x86_64-linux-gnu" "$unpack/usr/bin/grub-mknetdir" \
    --net-directory="$stage" --subdir=grub -d "$unpack/usr/lib/grub/i386-pc" \
    --fonts= --themes= --locales= >/dev/null
  rm -rf "$stage/grub/fonts" "$stage/grub/locale" "$stage/grub/themes"
  [ -s "$stage/grub/i386-pc/core.0" ] || { echo "setup: grub-mknetdir made no core.0" >&2; return 1; }

  local sha_shim sha_grub sha_core
  sha_shim=$(sha256sum "$stage/shimx64.efi" | cut -d' ' -f1)
  sha_grub=$(sha256sum "$stage/grubx64.efi" | cut -d' ' -f1)
  sha_core=$(sha256sum "$stage/grub/i386-pc/core.0" | cut -d' ' -f1)
  cat >"$stage/loaders.json" <<EOF
{
  "layout": $NETIMAGE_LOADERS_LAYOUT,
  "packages": {
    "shim-signed": "${ver_of[shim-signed]}",
    "grub-efi-amd64-signed": "${ver_of[grub-efi-amd64-signed]}",
    "grub-efi-amd64-bin": "${ver_of[grub-efi-amd64-bin]}",
    "grub-pc-bin": "${ver_of[grub-pc-bin]}",
    "grub-common": "${ver_of[grub-common]}"
  },
  "loaders": {
    "shimx64.efi": { "package": "shim-signed", "source": "/usr/lib/shim/shimx64.efi.signed", "sha256": "$sha_shim" },
    "grubx64.efi": { "package": "grub-efi-amd64-signed", "source": "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", "sha256": "$sha_grub" },
    "grub/i386-pc/core.0": { "package": "grub-pc-bin", "source": "grub-mknetdir", "sha256": "$sha_core" }
  }
}
EOF

  # Swap in piece by piece; the boot root also holds other parts' files (netimage/, ...).
  rm -rf "$boot/grub/x86_64-efi.old" "$boot/grub/i386-pc.old"
  mkdir -p "$boot/grub"
  [ -e "$boot/grub/x86_64-efi" ] && mv "$boot/grub/x86_64-efi" "$boot/grub/x86_64-efi.old"
  [ -e "$boot/grub/i386-pc" ] && mv "$boot/grub/i386-pc" "$boot/grub/i386-pc.old"
  mv "$stage/grub/x86_64-efi" "$boot/grub/x86_64-efi"
  mv "$stage/grub/i386-pc" "$boot/grub/i386-pc"
  mv -f "$stage/shimx64.efi" "$boot/shimx64.efi"
  mv -f "$stage/grubx64.efi" "$boot/grubx64.efi"
  mv -f "$stage/loaders.json" "$boot/loaders.json"
  rm -rf "$boot/grub/x86_64-efi.old" "$boot/grub/i386-pc.old" "$stage" "$unpack"
  echo "setup: boot loaders placed (shim ${ver_of[shim-signed]}, grub ${ver_of[grub-efi-amd64-bin]})"
}

netimage_loaders_setup
