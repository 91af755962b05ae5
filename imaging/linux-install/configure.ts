// Make the unpacked tree this PC's system: fstab by UUID, hostname, a fresh identity (empty
// machine-id, no SSH host keys), root and `user` with the server's hashes, locale, keymap, time
// zone, networkd DHCP, apt proxy and sources, the first-boot report unit.
import { chmod, lstat, mkdir, readFile, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { OsInstallPlan } from '../../lib/agent-protocol.ts';
import { archiveHasLocale } from '../../lib/locales.ts';
import { aptProxyConf } from '../../lib/apt-proxy.ts';
import { ImagingError } from '../errors.ts';
import type { Chroot } from './chroot.ts';
import {
  aptLogLine,
  aptSourcesText,
  checkPasswordHash,
  checkTimezone,
  defaultGrubText,
  FIRST_BOOT_CONFIG,
  FIRST_BOOT_SCRIPT,
  FIRST_BOOT_UNIT,
  firstBootConfigText,
  firstBootScriptText,
  firstBootUnitText,
  fstabText,
  hostsText,
  keyboardText,
  localeFor,
  localeGenText,
  type FsUuids,
} from './settings.ts';

const DHCP_NETWORK = '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n';

async function put(root: string, path: string, text: string, mode = 0o644): Promise<void> {
  const file = join(root, path);
  await mkdir(join(file, '..'), { recursive: true });
  await rm(file, { force: true });
  await writeFile(file, text, { mode });
  await chmod(file, mode);
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function link(root: string, path: string, to: string): Promise<void> {
  const file = join(root, path);
  await mkdir(join(file, '..'), { recursive: true });
  await rm(file, { force: true });
  await symlink(to, file);
}

export async function configureSystem(root: string, plan: OsInstallPlan, uuids: FsUuids, chroot: Chroot, log: (l: string) => void): Promise<void> {
  // Validate everything before the first write: bad input changes nothing more.
  const locale = localeFor(plan.language);
  const timezone = checkTimezone(plan.timezone);
  if (!(await exists(join(root, 'usr/share/zoneinfo', timezone)))) throw new ImagingError(`timezone "${timezone}" is not in the image's tzdata`);
  const rootHash = checkPasswordHash(plan.rootPasswordHash, 'root_password');
  const userHash = checkPasswordHash(plan.userPasswordHash, 'user_password');
  const keyboard = keyboardText(plan.consoleKeymap);
  const sources = plan.aptSources.length ? aptSourcesText(plan.aptSources) : null;
  const proxy = plan.proxy ? aptProxyConf(plan.proxy, 'written by netimage (opsi-local-image-debian property proxy)') : null;

  await put(root, 'etc/fstab', fstabText(uuids));
  if (uuids.esp) await mkdir(join(root, 'boot/efi'), { recursive: true });
  await put(root, 'etc/hostname', `${plan.hostname}\n`);
  await put(root, 'etc/hosts', hostsText(plan.hostname));
  log(`fstab by UUID (root ${uuids.root}${uuids.esp ? `, ESP ${uuids.esp}` : ''}${uuids.swap ? `, swap ${uuids.swap}` : ''}), hostname ${plan.hostname}`);

  // Identity: systemd makes a machine-id at first boot from an empty file; sshd's keys come from
  // the image's netimage-ssh-host-keys.service. Remove whatever the image might still carry.
  await put(root, 'etc/machine-id', '', 0o444);
  await rm(join(root, 'var/lib/dbus/machine-id'), { force: true });
  await rm(join(root, 'var/lib/systemd/random-seed'), { force: true });
  for (const f of await readdir(join(root, 'etc/ssh')).catch(() => [] as string[])) if (/^ssh_host_.*_key(\.pub)?$/.test(f)) await rm(join(root, 'etc/ssh', f));

  // Users: hashes only, through stdin (never on a command line).
  await chroot.run('useradd', ['--create-home', '--shell', '/bin/bash', '--groups', 'sudo', '--comment', 'user', 'user']);
  await chroot.run('chpasswd', ['--encrypted'], { input: `root:${rootHash}\nuser:${userHash}\n` });
  log('users: root and user with the server\'s password hashes');

  const gen = join(root, 'etc/locale.gen');
  await put(root, 'etc/locale.gen', localeGenText(await readFile(gen, 'utf8').catch(() => ''), locale));
  // The server compiled the short-code languages' locales into the image (lib/locales.ts).
  const archived = await chroot.run('localedef', ['--list-archive']).then((r) => archiveHasLocale(r.stdout, locale), () => false);
  if (archived) log(`locale ${locale}: compiled on the server, locale-gen skipped`);
  else await chroot.run('locale-gen', []);
  await put(root, 'etc/default/locale', `LANG=${locale}\n`);
  await put(root, 'etc/default/keyboard', keyboard);
  await put(root, 'etc/vconsole.conf', `KEYMAP=${plan.consoleKeymap}\n`);
  await link(root, 'etc/localtime', `/usr/share/zoneinfo/${timezone}`);
  await put(root, 'etc/timezone', `${timezone}\n`);
  log(`locale ${locale}, keymap ${plan.consoleKeymap}, time zone ${timezone}`);

  if (!(await exists(join(root, 'etc/systemd/network/80-netimage-dhcp.network')))) await put(root, 'etc/systemd/network/80-netimage-dhcp.network', DHCP_NETWORK);
  await link(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service', '/lib/systemd/system/systemd-networkd.service');
  if (sources) {
    await put(root, 'etc/apt/sources.list', sources);
    await rm(join(root, 'etc/apt/sources.list.d/debian.sources'), { force: true });
  }
  // 0600: a proxy URL may carry a password. apt reads its configuration as root and hands it to
  // its download methods (user _apt) itself, so they need no read access to the file.
  if (proxy) await put(root, 'etc/apt/apt.conf.d/80netimage-proxy', proxy, 0o600);
  else await rm(join(root, 'etc/apt/apt.conf.d/80netimage-proxy'), { force: true });
  log(aptLogLine(plan.aptSources.length, plan.proxy));

  await put(root, 'etc/default/grub', defaultGrubText());
  await put(root, FIRST_BOOT_CONFIG, firstBootConfigText(plan.firstBoot.url, plan.firstBoot.token), 0o600);
  await chmod(join(root, 'etc/netimage'), 0o700);
  await put(root, FIRST_BOOT_SCRIPT, firstBootScriptText(), 0o755);
  await put(root, `etc/systemd/system/${FIRST_BOOT_UNIT}`, firstBootUnitText());
  await link(root, `etc/systemd/system/multi-user.target.wants/${FIRST_BOOT_UNIT}`, `/etc/systemd/system/${FIRST_BOOT_UNIT}`);
  log(`first-boot report unit ${FIRST_BOOT_UNIT} enabled (token file ${FIRST_BOOT_CONFIG}, 0600)`);
}
