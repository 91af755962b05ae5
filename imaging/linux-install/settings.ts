// Per-PC settings of an installed Debian as file contents (pure): fstab, hosts, locale, keyboard,
// apt, grub configs, the first-boot report. configure.ts writes them into the unpacked tree.
import { ImagingError } from '../errors.ts';
import { hideUrlPasswords } from '../../lib/redact.ts';
import { LANGUAGE_LOCALES } from '../../lib/locales.ts';

/**
 * What differs on the PC between the OSes the server builds (plan.os "debian-12", "ubuntu-22.04"):
 * the ESP directory is the one the vendor's signed grub has built in as its prefix (it reads
 * grub.cfg there), and the menu title.
 */
export interface Vendor {
  efiDir: 'debian' | 'ubuntu';
  title: string;
}

export const DEBIAN_VENDOR: Vendor = { efiDir: 'debian', title: 'Debian GNU/Linux' };
const VENDORS: Record<string, Vendor> = { debian: DEBIAN_VENDOR, ubuntu: { efiDir: 'ubuntu', title: 'Ubuntu' } };

export function vendorOf(os: string): Vendor {
  const v = VENDORS[os.split('-')[0]!];
  if (!v) throw new ImagingError(`the agent does not know how to make ${JSON.stringify(os)} bootable (it knows ${Object.keys(VENDORS).join(', ')})`);
  return v;
}

export interface FsUuids {
  root: string;
  esp: string | null;
  swap: string | null;
}

export function fstabText(u: FsUuids): string {
  return [
    '# /etc/fstab: written by netimage (opsi-local-image-debian); file systems by UUID',
    '# <file system> <mount point> <type> <options> <dump> <pass>',
    `UUID=${u.root} / ext4 errors=remount-ro 0 1`,
    ...(u.esp ? [`UUID=${u.esp} /boot/efi vfat umask=0077 0 1`] : []),
    ...(u.swap ? [`UUID=${u.swap} none swap sw 0 0`] : []),
    '',
  ].join('\n');
}

export function hostsText(hostname: string): string {
  return `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`;
}

/** opsi's `language` (de, en, fr, or a full de_AT) as a glibc UTF-8 locale. */
export function localeFor(language: string): string {
  const l = language.trim();
  const short = LANGUAGE_LOCALES[l];
  if (short) return short;
  const base = (/^[a-z]{2,3}_[A-Z]{2}$/.test(l.split('.')[0] ?? '') ? l.split('.')[0]! : /^[a-z]{2}$/.test(l) ? `${l}_${l.toUpperCase()}` : null);
  if (!base) throw new ImagingError(`language "${language}" is not a language code (de, en, fr) or locale (de_AT)`);
  return `${base}.UTF-8`;
}

/** Enable exactly this locale in /etc/locale.gen (its line there is commented out in the image). */
export function localeGenText(current: string, locale: string): string {
  const line = `${locale} UTF-8`;
  const lines = current.split('\n').map((l) => (l.replace(/^#\s*/, '') === line ? line : l));
  if (!lines.includes(line)) lines.push(line);
  return lines.join('\n').replace(/\n*$/, '\n');
}

/** kbd keymap names (opsi's console_keymap, e.g. de-latin1-nodeadkeys) as XKB for console-setup. */
export function keyboardFor(keymap: string): { layout: string; variant: string } {
  const k = keymap.trim();
  if (!/^[a-z][a-z0-9_-]*$/i.test(k)) throw new ImagingError(`console_keymap "${keymap}" is not a keymap name like de-latin1-nodeadkeys`);
  const parts = k.split('-');
  const layout = parts[0] === 'uk' ? 'gb' : parts[0]!;
  const variant = parts.includes('nodeadkeys') ? 'nodeadkeys' : parts.includes('dvorak') ? 'dvorak' : parts.includes('mac') ? 'mac' : '';
  return { layout, variant };
}

export function keyboardText(keymap: string): string {
  const { layout, variant } = keyboardFor(keymap);
  return `# written by netimage from console_keymap=${keymap}\nXKBMODEL="pc105"\nXKBLAYOUT="${layout}"\nXKBVARIANT="${variant}"\nXKBOPTIONS=""\nBACKSPACE="guess"\n`;
}

export function checkTimezone(tz: string): string {
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) throw new ImagingError(`timezone "${tz}" is not a zone name like Europe/Berlin`);
  return tz;
}

/** The job log's line about apt: a proxy's password (http://user:password@host) stays out of it. */
export function aptLogLine(sources: number, proxy: string | null): string {
  return `apt: ${sources} sources${proxy ? `, proxy ${hideUrlPasswords(proxy)}` : ', no proxy'}`;
}

export function aptSourcesText(lines: string[]): string {
  const bad = lines.filter((l) => /[\n\r]/.test(l) || !/^deb(-src)?\s+\S+/.test(l.trim()));
  if (bad.length) throw new ImagingError(`not sources.list lines: ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
  return `# written by netimage\n${lines.map((l) => l.trim()).join('\n')}\n`;
}

/**
 * Kernel command line of the installed system. Both consoles: the screen stays the primary
 * (last) one, the serial port gets kernel messages too (VMs and servers log them).
 */
export const KERNEL_CMDLINE = 'console=ttyS0,115200 console=tty0 quiet';

/** /etc/default/grub: so a later update-grub on the PC (kernel updates) keeps the same command line. */
export function defaultGrubText(): string {
  return `# written by netimage\nGRUB_DEFAULT=0\nGRUB_TIMEOUT=2\nGRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200 console=tty0"\nGRUB_DISABLE_OS_PROBER=true\n`;
}

/**
 * /boot/grub/grub.cfg, rendered (not grub-mkconfig: no device probing in the boot image). The
 * /vmlinuz and /initrd.img links follow kernel updates; the kernel's postinst runs update-grub on
 * the PC, which then rewrites this file the Debian way. Under Secure Boot the signed grub has
 * shim verify the signed kernel, so the chain stays enforced.
 */
export function grubCfgText(rootUuid: string, vendor: Vendor = DEBIAN_VENDOR, linksIn: '' | '/boot' = ''): string {
  return `# written by netimage; update-grub on the installed system replaces it
set timeout=2
set default=0
insmod part_gpt
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root ${rootUuid}
menuentry '${vendor.title}' {
  search --no-floppy --fs-uuid --set=root ${rootUuid}
  linux ${linksIn}/vmlinuz root=UUID=${rootUuid} ro ${KERNEL_CMDLINE}
  initrd ${linksIn}/initrd.img
}
menuentry '${vendor.title} (previous kernel)' {
  search --no-floppy --fs-uuid --set=root ${rootUuid}
  linux ${linksIn}/vmlinuz.old root=UUID=${rootUuid} ro ${KERNEL_CMDLINE}
  initrd ${linksIn}/initrd.img.old
}
`;
}

/** \EFI\<vendor>\grub.cfg (and \EFI\BOOT\grub.cfg): the signed grub reads it next to itself, then the root's config. */
export function espGrubCfgText(rootUuid: string): string {
  return `search.fs_uuid ${rootUuid} root\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n`;
}

export const FIRST_BOOT_CONFIG = '/etc/netimage/first-boot.json';
export const FIRST_BOOT_SCRIPT = '/usr/local/sbin/netimage-first-boot';
export const FIRST_BOOT_UNIT = 'netimage-first-boot.service';

/** Only http URLs: the installed image has no curl, the script talks HTTP over bash's /dev/tcp. */
export function firstBootConfigText(url: string, token: string): string {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new ImagingError(`first-boot URL ${url} is not http (the installed system reports with bash /dev/tcp)`);
  if (!/^[0-9a-f]{64}$/.test(token)) throw new ImagingError('first-boot token has an unexpected form');
  return `${JSON.stringify({ url, token })}\n`;
}

export function firstBootUnitText(): string {
  return `# netimage: report the first boot of this installation to the server, once.
[Unit]
Description=netimage first-boot report
Wants=network-online.target
After=network-online.target
ConditionPathExists=${FIRST_BOOT_CONFIG}

[Service]
Type=oneshot
ExecStart=${FIRST_BOOT_SCRIPT}
RemainAfterExit=no
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;
}

/**
 * The report script: bash only (/dev/tcp; no curl in the image). Retries every 10 s for 30 min;
 * on 200 (or 401: the token is spent or expired, retrying cannot help) or when time is up it
 * removes the token file and disables itself. Never prints the token.
 */
export function firstBootScriptText(): string {
  return `#!/bin/bash
# netimage first-boot report (written by opsi-local-image-debian); see docs/linux-install.md
set -u
CONFIG=${FIRST_BOOT_CONFIG}
UNIT=${FIRST_BOOT_UNIT}
finish() {
  rm -f "$CONFIG"
  systemctl disable "$UNIT" >/dev/null 2>&1 || rm -f /etc/systemd/system/multi-user.target.wants/$UNIT
  exit 0
}
[ -r "$CONFIG" ] || finish
json=$(cat "$CONFIG")
url=$(printf '%s' "$json" | sed -n 's/.*"url":"\\([^"]*\\)".*/\\1/p')
token=$(printf '%s' "$json" | sed -n 's/.*"token":"\\([0-9a-f]*\\)".*/\\1/p')
rest=\${url#http://}
hostport=\${rest%%/*}
path=/\${rest#*/}
host=\${hostport%%:*}
port=80
[ "$hostport" != "$host" ] && port=\${hostport##*:}
boot_mode=bios
secure_boot=null
if [ -d /sys/firmware/efi ]; then
  boot_mode=uefi
  secure_boot=false
  var=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  # 4 bytes of attributes, then the value: 1 = Secure Boot on.
  if [ -r "$var" ] && [ "$(od -An -t u1 -j 4 -N 1 "$var" | tr -d ' ')" = 1 ]; then secure_boot=true; fi
fi
body=$(printf '{"hostname":"%s","kernelRelease":"%s","secureBoot":%s,"bootMode":"%s"}' "$(hostname)" "$(uname -r)" "$secure_boot" "$boot_mode")
for i in $(seq 1 180); do
  status=""
  if exec 3<>"/dev/tcp/$host/$port" 2>/dev/null; then
    printf 'POST %s HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Bearer %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' \\
      "$path" "$hostport" "$token" "\${#body}" "$body" >&3
    read -r -t 30 _ status _ <&3
    exec 3<&- 3>&-
  fi
  case "$status" in
    200) echo "netimage: first boot reported ($boot_mode, Secure Boot $secure_boot)"; finish ;;
    401|403|404) echo "netimage: the server refused the first-boot report (HTTP $status); giving up"; finish ;;
  esac
  echo "netimage: first-boot report not delivered (\${status:-no connection}); retry $i in 10 s"
  sleep 10
done
echo "netimage: first-boot report not delivered after 30 min; giving up"
finish
`;
}

/** A crypt(3) hash we accept for chpasswd -e (never a clear-text password). */
export function checkPasswordHash(hash: string, what: string): string {
  if (!/^\$(y|6)\$[^\s:]+$/.test(hash)) throw new ImagingError(`${what} is not a yescrypt/SHA-512 crypt hash`);
  return hash;
}
