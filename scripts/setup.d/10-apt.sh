# Debian packages the appliance and its tests need. Sourced by run.sh.
# `start` needs only what the running bootserver uses; `full` adds the tools the test suite and
# benchmarks drive (real peers: dnsmasq, atftp, tftp-hpa, perfdhcp, QEMU/OVMF, partclone, ...).

netimage_apt_start=(ca-certificates apt-utils dpkg xz-utils zstd cpio kmod binutils iproute2 curl
  squashfs-tools # mksquashfs: the boot image's stage 2 as fetched by stage 1 (bootimage/builder/archive.ts)
  libdevmapper1.02.1 liblzma5 # libs the unpacked grub-mknetdir links (40-loaders.sh)
  mmdebstrap debian-archive-keyring e2fsprogs partclone # root filesystem builds for Linux installs (bootserver/os-images/: mmdebstrap, mke2fs -d, partclone cuts the chunked image); also the clean-root test
  7zip wimtools # depot: Windows ISOs (UDF) read by 7zz, editions of install.wim and uploaded WIMs by wimlib-imagex (bootserver/depot/)
  gcc libc6-dev libzstd-dev libssl-dev libext2fs-dev ntfs-3g-dev) # the chunk helpers (imaging/chunked/native/, 35-chunk-helpers.sh), also built into the boot image
netimage_apt_full=(
  "${netimage_apt_start[@]}"
  partclone gdisk fdisk util-linux e2fsprogs ntfs-3g dosfstools wimtools
  genisoimage # stand-in Windows media (UDF + ISO 9660 bridge) for the depot import tests
  mtools # the OS install writes the ESP without mounting it (imaging/linux-install/bootloader.ts)
  libcap2-bin # getcap: file capabilities kept in the built root filesystem (test/os-images/build-real.test.ts)
  attr libxml2-utils libhivex-bin # WIM/Windows tests: getfattr/setfattr (NTFS ACLs, streams), xmllint (unattend.xml), hivexsh (registry hives)
  dnsmasq-base atftp tftp-hpa tftpd-hpa busybox isc-dhcp-client kea-admin tcpdump iptables
  qemu-system-x86 qemu-utils ovmf ipxe-qemu git
  postgresql-15 # the store tests' throwaway cluster (test/helpers/pg-cluster.ts runs initdb/postgres itself, as nobody; no service)
  chromium # the web UI's browser tests (test/ui/, driven by playwright-core)
)

netimage_apt_missing() {
  local pkg status missing=()
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

netimage_apt_setup() {
  local wanted missing
  if [ "${NETIMAGE_SETUP_PROFILE:-full}" = start ]; then
    wanted=("${netimage_apt_start[@]}")
  else
    wanted=("${netimage_apt_full[@]}")
  fi
  missing=$(netimage_apt_missing "${wanted[@]}")
  # Loaders and the boot image are fetched with apt-get download: that needs package lists,
  # which a minimal install (or a container) may not have even when every package is present.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: no apt package lists yet: apt-get update"
    apt-get update -qq
  fi
  if [ -z "${missing// /}" ]; then
    echo "setup: apt packages present"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: $missing (run as root, or install them: apt-get install $missing)" >&2
    return 1
  fi
  echo "setup: installing Debian packages: $missing"
  # Keep services we only use as test peers (tftpd-hpa) from starting on install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    NETIMAGE_REMOVE_POLICY_RC=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  if [ "${NETIMAGE_REMOVE_POLICY_RC:-}" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  echo "setup: Debian packages installed"
}

netimage_apt_setup
