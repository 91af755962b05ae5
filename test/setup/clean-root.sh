#!/usr/bin/env bash
# README's start command on a fresh Debian 12: a minbase root made by mmdebstrap from this
# machine's apt sources gets a clean copy of the checkout (git archive of a revision, never the
# working tree's .tools, node_modules or var) and runs `bash run.sh start` until the bootserver
# answers its health check. Catches set-up steps that only work because the host happens to
# have something installed (issue #9: the boot image build asked the host's dpkg for libntfs-3g).
#
#   bash test/setup/clean-root.sh [REV]      (default HEAD; root only; needs apt and npm reachable)
#
# NETIMAGE_CLEAN_ROOT_TIMEOUT (s, default 2400) caps the wait for the health answer: a cap, not a
# target. Measured on 2 shared cores at load ~20: 26 min in all (bare root 161 s, run.sh start
# 1293 s of which the boot image build 836 s, 753 s of it zstd -19, cleanup ~2 min).
#
# It needs the network (apt, npm registry), so it runs in this machine's network namespace: the
# server gets free high ports, HTTP and TFTP bound to 127.0.0.1, proxy DHCP answering loopback only.
# Cached under var/cache/clean-root, keyed by the apt lists: the bare minbase root (a tarball),
# the root's apt archives, and the checkout's .tools/debs (boot loaders, boot image packages).
# Node, npm and node_modules are always fetched afresh. Ends with `clean-root: ok|FAILED (N s)`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rev=${1:-HEAD}
started=$(date +%s)
say() { echo "clean-root: $*"; }

[ "$(id -u)" = 0 ] || { say "needs root (mmdebstrap, chroot, mounts)"; exit 1; }
command -v mmdebstrap >/dev/null || { say "mmdebstrap missing: bash run.sh setup full"; exit 1; }

# Cache key: the apt lists' release files (new lists = new candidate versions = new cache).
key=$(cat /var/lib/apt/lists/*Release 2>/dev/null | sha256sum | cut -c1-16)
cache="$HERE/var/cache/clean-root"
apt_cache="$cache/apt-archives-$key"
debs_cache="$cache/tools-debs-$key"
# Old keys are stale: drop them so the cache does not grow without bound.
if [ -d "$cache" ]; then
  find "$cache" -mindepth 1 -maxdepth 1 ! -name "*-$key*" -exec rm -rf {} +
fi
mkdir -p "$apt_cache/partial" "$debs_cache"

work=$(mktemp -d /var/tmp/netimage-clean-root-XXXXXX)
target="$work/root"
log="$work/start.log"
server_pid=""
mounted=()
cleanup() {
  local rc=$? i
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  # Anything else still running inside the root (a build's children) goes too.
  for i in /proc/[0-9]*; do
    if [ "$(readlink "$i/root" 2>/dev/null)" = "$target" ]; then kill -KILL "${i#/proc/}" 2>/dev/null || true; fi
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[$i]}" 2>/dev/null || umount -lR "${mounted[$i]}" || true; done
  if findmnt -R -n -o TARGET "$target" >/dev/null 2>&1; then
    say "mounts left under $target: not removing it"
  else
    rm -rf "$work"
  fi
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bind() { # src dst
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
}

# 1. The root: this machine's Debian apt sources (deb822 or one-line), only enabled files.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && grep -q '^[^#]*debian' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { say "no Debian apt sources in /etc/apt"; exit 1; }
# The bare root is a function of the apt lists alone: made once per key and kept as a tarball
# (mmdebstrap takes minutes here; unpacking the tarball seconds). Nothing of ours is in it.
root_tar="$cache/minbase-$key.tar"
t=$(date +%s)
if [ ! -s "$root_tar" ]; then
  say "mmdebstrap bookworm minbase from ${sources[*]} (apt cache $(ls "$apt_cache" | grep -c '\.deb$' || true) debs)"
  mmdebstrap --quiet --variant=minbase --mode=root \
    --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && mount --bind '$apt_cache' \"\$1/var/cache/apt/archives\"" \
    --customize-hook="umount \"\$1/var/cache/apt/archives\"" \
    --skip=download/empty \
    bookworm "$target" "${sources[@]}"
  tar --numeric-owner -C "$target" -cf "$root_tar.part" . && mv "$root_tar.part" "$root_tar"
else
  mkdir -p "$target"
  tar --numeric-owner -C "$target" -xpf "$root_tar"
fi
say "root made in $(( $(date +%s) - t )) s"

# 2. How this machine reaches the registries: resolver, CA trust, npm client config.
cp -L /etc/resolv.conf "$target/etc/resolv.conf"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$target/usr/local/share"
  cp -a /usr/local/share/ca-certificates "$target/usr/local/share/"
fi
mkdir -p "$target/etc/ssl"
cp -a /etc/ssl/certs "$target/etc/ssl/"
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  mkdir -p "$target$(dirname "$NODE_EXTRA_CA_CERTS")"
  cp -L "$NODE_EXTRA_CA_CERTS" "$target$NODE_EXTRA_CA_CERTS"
fi
npmrcs=(/etc/npmrc /root/.npmrc)
if command -v npm >/dev/null; then
  npmrcs+=("$(npm config get userconfig 2>/dev/null || true)" "$(npm config get globalconfig 2>/dev/null || true)")
fi
for f in "${npmrcs[@]}"; do
  [ -n "$f" ] && [ -f "$f" ] || continue
  # user config -> the root user's, global configs keep their path (Debian's npm reads /etc/npmrc).
  case "$f" in "${HOME:-/root}"/*) dst="/root/${f#"${HOME:-/root}"/}" ;; *) dst=$f ;; esac
  mkdir -p "$target$(dirname "$dst")"
  install -m 600 "$f" "$target$dst"
done
# Environment that points clients at registries, proxies and CA files passes through.
passenv=()
while IFS='=' read -r name _; do
  case "$name" in
    NPM_CONFIG_*|npm_config_*|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY)
      passenv+=("$name=${!name}") ;;
  esac
done < <(env)

# 3. A clean copy of the checkout; the .tools/debs cache is the only thing brought in.
git -C "$HERE" rev-parse --verify -q "$rev^{commit}" >/dev/null || { say "no such revision: $rev"; exit 1; }
mkdir -p "$target/root/netimage"
git -C "$HERE" archive "$rev" | tar -x -C "$target/root/netimage"
bind "$debs_cache" "$target/root/netimage/.tools/debs"
bind "$apt_cache" "$target/var/cache/apt/archives"
mount -t proc proc "$target/proc" && mounted+=("$target/proc")
mount -t sysfs sys "$target/sys" && mounted+=("$target/sys")
mount --rbind /dev "$target/dev" && mount --make-rslave "$target/dev" && mounted+=("$target/dev")

# 4. Free high ports; HTTP/TFTP on loopback, proxy DHCP only for loopback's network.
used=$(ss -Htuan | awk '{print $5}' | sed 's/.*://' | sort -u)
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    grep -qx "$p" <<<"$used" || { used+=$'\n'"$p"; echo "$p"; return; }
  done
}
http_port=$(free_port)
serverenv=(
  NETIMAGE_HTTP_HOST=127.0.0.1 "NETIMAGE_HTTP_PORT=$http_port"
  NETIMAGE_TFTP_HOST=127.0.0.1 "NETIMAGE_TFTP_PORT=$(free_port)"
  NETIMAGE_DHCP_MODE=proxy NETIMAGE_DHCP_INTERFACE=lo "NETIMAGE_DHCP_PORT=$(free_port)"
  "NETIMAGE_DHCP_PXE_PORT=$(free_port)" "NETIMAGE_DHCP_CLIENT_PORT=$(free_port)"
)

# 5. README's start command, as a fresh machine's root would type it.
say "bash run.sh start (${rev}) in $target, HTTP on 127.0.0.1:$http_port"
t=$(date +%s)
setsid chroot "$target" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  "${passenv[@]}" "${serverenv[@]}" \
  bash -c 'cd /root/netimage && exec bash run.sh start' >"$log" 2>&1 </dev/null &
server_pid=$!
ok=0
deadline=$(( $(date +%s) + ${NETIMAGE_CLEAN_ROOT_TIMEOUT:-2400} ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  if curl -fsS --max-time 2 "http://127.0.0.1:$http_port/api/v1/health" >/dev/null 2>&1; then ok=1; break; fi
  sleep 2
done
took=$(( $(date +%s) - started ))
if [ "$ok" = 1 ]; then
  say "server healthy after $(( $(date +%s) - t )) s of run.sh start"
  grep -E '^(setup|bootimage):' "$log" | sed 's/^/  /'
  # For comparing with a build of the same revision elsewhere (reproducible but for the agent's V8
  # snapshot blob, docs/bootimage.md "Agent snapshot": its few varying bytes change this hash too).
  manifest="$target/root/netimage/var/boot/netimage/manifest.json"
  say "initrd sha256 $(sed -n '/"initrd"/,/}/s/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$manifest")"
  say "ok ($took s)"
  exit 0
fi
if kill -0 "$server_pid" 2>/dev/null; then
  say "no health answer within the time limit"
else
  wait "$server_pid" && rc=0 || rc=$?
  say "run.sh start exited with $rc before the server answered"
fi
echo "---- last lines of run.sh start ----"
tail -n 40 "$log"
say "FAILED ($took s)"
exit 1
