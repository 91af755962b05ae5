// One real root filesystem build: mmdebstrap against this machine's Debian mirror (the one its
// own apt uses), into a depot that outlives the test and the checkout (NETIMAGE_TEST_CACHE, default
// ~/.cache/netimage-test: a fresh clone on the same machine reuses it), so a re-run with the same
// inputs is a cache hit and takes seconds. The first run takes minutes (measured in
// docs/linux-install.md). The build is keyed by its inputs' hash, so a cached entry is exactly
// what a cold build with the same inputs makes; the cold path runs wherever the cache is empty.
import test from 'ava';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { LANGUAGE_LOCALES } from '../../lib/locales.ts';
import { run } from '../../lib/process.ts';
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
  const file = join(DEPOT, kind, name, 'rootfs.tar.zst');
  const listing = (await run('tar', ['--zstd', '-tvf', file], { maxBuffer: 256 * 1024 * 1024 })).stdout.split('\n');
  const has = (re: RegExp) => listing.some((l) => re.test(l));
  t.true(has(/ \.\/boot\/vmlinuz-\d/), 'kernel');
  t.true(has(/ \.\/boot\/initrd\.img-\d/), 'initramfs');
  t.true(has(/ \.\/usr\/lib\/shim\/shimx64\.efi\.signed$/), 'signed shim');
  t.true(has(/ \.\/usr\/lib\/grub\/x86_64-efi-signed\/grubx64\.efi\.signed$/), 'signed grub');
  t.true(has(/ \.\/usr\/lib\/grub\/i386-pc\/boot\.img$/), 'BIOS grub');
  t.true(has(/ \.\/usr\/sbin\/sshd$/) && has(/ \.\/usr\/bin\/sudo$/) && has(/ \.\/usr\/share\/zoneinfo\/Europe\/Berlin$/), 'ssh, sudo, time zones');
  t.true(has(/ \.\/usr\/share\/keymaps\/|\.\/usr\/share\/console-setup\//), 'keymap data');
  t.false(has(/ssh_host_.*_key/), 'no SSH host keys: each PC makes its own');
  t.true(has(/ \.\/etc\/systemd\/system\/ssh\.service\.wants\/netimage-ssh-host-keys\.service -> /), 'first boot makes the host keys');
  t.true(has(/ \.\/etc\/systemd\/network\/80-netimage-dhcp\.network$/) && has(/multi-user\.target\.wants\/systemd-networkd\.service/), 'DHCP by networkd');
  t.false(has(/99mmdebstrap/), 'no build-time apt options (proxy) left');
  const machineId = listing.find((l) => / \.\/etc\/machine-id$/.test(l));
  t.regex(machineId ?? '', /^-rw-r--r-- 0\/0\s+0 /, 'machine-id empty: systemd makes one on the PC');
  const extract = async (path: string) => (await run('tar', ['--zstd', '-xOf', file, path])).stdout;
  t.is(await extract('./etc/hostname'), 'localhost');
  t.true(has(/ \.\/usr\/lib\/locale\/locale-archive$/), 'the short-code languages\' locales compiled on the server');
  const localeGen = await extract('./etc/locale.gen');
  for (const locale of Object.values(LANGUAGE_LOCALES)) t.regex(localeGen, new RegExp(`^${locale.replace('.', '\\.')} UTF-8$`, 'm'), `${locale} enabled in locale.gen`);
  t.regex(listing.find((l) => / \.\/etc\/resolv\.conf/.test(l)) ?? '', /-> \.\.\/run\/systemd\/resolve\/stub-resolv\.conf$/, 'resolv.conf of the build host not in the image');

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
