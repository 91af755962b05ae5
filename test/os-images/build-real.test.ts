// One real root filesystem build: mmdebstrap against this machine's Debian mirror (the one its
// own apt uses), into a depot that outlives the test and the checkout (NETIMAGE_TEST_CACHE, default
// ~/.cache/netimage-test: a fresh clone on the same machine reuses it), so a re-run with the same
// inputs is a cache hit and takes seconds. The first run takes minutes (measured in
// docs/linux-install.md). The build is keyed by its inputs' hash, so a cached entry is exactly
// what a cold build with the same inputs makes; the cold path runs wherever the cache is empty.
import test from 'ava';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { homedir, tmpdir } from 'node:os';
import { LANGUAGE_LOCALES } from '../../lib/locales.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import { withMount } from '../../imaging/mount.ts';
import { startTestServer } from '../helpers/server.ts';
import { main as cli } from '../../bootserver/cli/main.ts';
import type { CommandResult } from '../../bootserver/cli/command.ts';

const DEPOT = join(process.env['NETIMAGE_TEST_CACHE'] ?? join(homedir(), '.cache', 'netimage-test'), 'os-images-test', 'depot');

interface Build {
  id: string;
  entryId: string;
  state: string;
  percent: number;
  cached: boolean;
  seconds: number | null;
  bytes: number | null;
  error: string | null;
  lines: string[];
  next: number;
}

test('os build debian-12: a real mmdebstrap build lands in the depot without host identity; the same inputs again are a cache hit', async (t) => {
  t.timeout(45 * 60_000);
  await mkdir(DEPOT, { recursive: true });
  const ts = await startTestServer({ overrides: { 'depot.dir': DEPOT } });
  t.teardown(() => ts.stop());

  const started = await ts.api('POST', '/api/v1/os/builds', { os: 'debian-12' });
  t.true(started.status === 200 || started.status === 202, started.text);
  const percents: number[] = [];
  let build: Build = started.body;
  let next = 0;
  const lines: string[] = [];
  while (build.state === 'queued' || build.state === 'running') {
    await new Promise((r) => setTimeout(r, 2000));
    build = (await ts.api('GET', `/api/v1/os/builds/${build.id}?after=${next}`)).body;
    lines.push(...build.lines);
    next = build.next;
    percents.push(build.percent);
  }
  t.is(build.state, 'done', `${build.error}\n${lines.slice(-20).join('\n')}`);
  if (!build.cached) {
    t.log(`built ${build.entryId} in ${build.seconds?.toFixed(0)} s, ${((build.bytes ?? 0) / 1024 / 1024).toFixed(1)} MiB`);
    t.true(lines.some((l) => l.startsWith('I: installing remaining packages')), 'mmdebstrap stages are shown');
    t.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress never goes back');
    t.true(new Set(percents).size >= 5, `progress moved: ${[...new Set(percents)].join(' ')}`);
  }

  const [kind, name] = build.entryId.split('/') as [string, string];
  const verify = await ts.api('POST', `/api/v1/depot/${kind}/${name}/verify`);
  t.true(verify.body.ok, JSON.stringify(verify.body.problems));
  // The artefact is an ext4 file system in the chunked image format; stock tools read it back
  // (zstd -dc | partclone.restore, as for every image netimage writes), and its tree is checked.
  const dir = join(DEPOT, kind, name);
  const meta = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
  t.like(meta, { format: 'netimage-image/2', fsType: 'ext4' });
  const scratch = await mkdtemp(join(tmpdir(), 'ni-rootfs-check-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const raw = join(scratch, 'rootfs.ext4');
  await run('bash', ['-o', 'pipefail', '-c', 'zstd -dc "$1" | partclone.restore -q -s - -O "$2" -W', 'restore', join(dir, 'image.pcl.zst'), raw]);
  t.is((await runAllowFailure('e2fsck', ['-fn', raw])).exitCode, 0, 'the file system checks clean');
  t.notRegex((await run('dumpe2fs', ['-h', raw])).stdout, /has_journal/, 'built without a journal (each PC adds its own)');
  const dev = (await run('losetup', ['-f', '--show', '-r', raw])).stdout.trim();
  t.teardown(async () => void (await runAllowFailure('losetup', ['-d', dev])));
  await withMount(dev, async (root) => {
    const exists = (p: string) => lstat(join(root, p)).then(() => true, () => false);
    const boot = await readdir(join(root, 'boot'));
    t.true(boot.some((f) => /^vmlinuz-\d/.test(f)), 'kernel');
    t.true(boot.some((f) => /^initrd\.img-\d/.test(f)), 'initramfs');
    t.true(await exists('usr/lib/shim/shimx64.efi.signed'), 'signed shim');
    t.true(await exists('usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed'), 'signed grub');
    t.true(await exists('usr/lib/grub/i386-pc/boot.img'), 'BIOS grub');
    t.true((await exists('usr/sbin/sshd')) && (await exists('usr/bin/sudo')) && (await exists('usr/share/zoneinfo/Europe/Berlin')), 'ssh, sudo, time zones');
    t.true((await exists('usr/share/keymaps')) || (await exists('usr/share/console-setup')), 'keymap data');
    t.deepEqual((await readdir(join(root, 'etc/ssh'))).filter((f) => /^ssh_host_.*_key/.test(f)), [], 'no SSH host keys: each PC makes its own');
    t.true(await exists('etc/systemd/system/ssh.service.wants/netimage-ssh-host-keys.service'), 'first boot makes the host keys');
    t.true((await exists('etc/systemd/network/80-netimage-dhcp.network')) && (await exists('etc/systemd/system/multi-user.target.wants/systemd-networkd.service')), 'DHCP by networkd');
    t.false(await exists('etc/apt/apt.conf.d/99mmdebstrap'), 'no build-time apt options (proxy) left');
    const machineId = await stat(join(root, 'etc/machine-id'));
    t.true(machineId.size === 0 && machineId.uid === 0 && (machineId.mode & 0o777) === 0o644, 'machine-id empty: systemd makes one on the PC');
    t.is(await readFile(join(root, 'etc/hostname'), 'utf8'), 'localhost\n');
    t.true((await stat(join(root, 'usr/lib/locale/locale-archive'))).size > 0, 'the short-code languages\' locales compiled on the server');
    const localeGen = await readFile(join(root, 'etc/locale.gen'), 'utf8');
    for (const locale of Object.values(LANGUAGE_LOCALES)) t.regex(localeGen, new RegExp(`^${locale.replace('.', '\\.')} UTF-8$`, 'm'), `${locale} enabled in locale.gen`);
    t.is(await readlink(join(root, 'etc/resolv.conf')), '../run/systemd/resolve/stub-resolv.conf', 'resolv.conf of the build host not in the image');
    // File capabilities survive mke2fs -d (ping works for users without setuid).
    t.regex((await runAllowFailure('getcap', [join(root, 'usr/bin/ping')])).stdout, /cap_net_raw/, 'file capabilities kept');
  }, { fsType: 'ext4', readOnly: true });

  // Entries of older recipes in this cache are never used again (the VM scenarios take the newest).
  for (const other of await readdir(join(DEPOT, 'rootfs'))) {
    if (other.startsWith('debian-12-') && other !== name) await rm(join(DEPOT, 'rootfs', other), { recursive: true, force: true });
  }

  // Same inputs: answered from the depot at once.
  const t0 = Date.now();
  const again = await ts.api('POST', '/api/v1/os/builds', { os: 'debian-12' });
  t.is(again.status, 200);
  t.true(again.body.cached);
  t.is(again.body.entryId, build.entryId);
  t.log(`cache hit answered in ${Date.now() - t0} ms (includes the mirror check)`);

  // The CLI verb says so too.
  let printed = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stdout.write;
  let code: CommandResult;
  try {
    code = await cli(['os', 'build', 'debian-12', '--url', ts.url, '--token', ts.adminToken]);
  } finally {
    process.stdout.write = write;
  }
  t.is(code, 0);
  t.regex(printed, new RegExp(`${build.entryId} is in the depot already`));
});
