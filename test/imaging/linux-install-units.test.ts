// The OS install's pure parts: settings texts, the askbeforeinst countdown, delay_for_reboot; and
// the root filesystem download's idle timeout (real tar + zstd, loopback HTTP).
import test from 'ava';
import { aptProxyConf } from '../../lib/apt-proxy.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { downloadVerified, type FetchServerFile } from '../../imaging/linux-install/rootfs.ts';
import { ImagingError } from '../../imaging/errors.ts';
import { archiveHasLocale, archiveLocaleName, LANGUAGE_LOCALES } from '../../lib/locales.ts';
import { aptLogLine, aptSourcesText, checkPasswordHash, checkTimezone, firstBootConfigText, fstabText, grubCfgText, keyboardFor, localeFor, localeGenText, vendorOf } from '../../imaging/linux-install/settings.ts';
import { espFiles } from '../../imaging/linux-install/bootloader.ts';
import { confirmOnConsole, parseAnswer, type ConsoleIo } from '../../imaging/linux-install/confirm.ts';
import { rebootDelaySeconds } from '../../bootimage/agent/reboot-delay.ts';
import { hideUrlPasswords } from '../../lib/redact.ts';

test('fstab: root, ESP and swap by UUID; no ESP line on BIOS', (t) => {
  const uefi = fstabText({ root: 'r-1', esp: 'AB-CD', swap: 's-1' });
  t.regex(uefi, /^UUID=r-1 \/ ext4 errors=remount-ro 0 1$/m);
  t.regex(uefi, /^UUID=AB-CD \/boot\/efi vfat umask=0077 0 1$/m);
  t.regex(uefi, /^UUID=s-1 none swap sw 0 0$/m);
  t.notRegex(fstabText({ root: 'r', esp: null, swap: null }), /efi|swap/);
});

test('Ubuntu on the PC (untested end to end): its signed grub reads \\EFI\\ubuntu, its kernel links are in /boot', (t) => {
  const ubuntu = vendorOf('ubuntu-22.04');
  const debian = vendorOf('debian-12');
  t.deepEqual(espFiles(ubuntu).map(([, to]) => to.split('/').slice(0, 2).join('/')).filter((d, i, a) => a.indexOf(d) === i), ['EFI/ubuntu', 'EFI/BOOT']);
  t.deepEqual(espFiles(debian).map(([, to]) => to.split('/').slice(0, 2).join('/')).filter((d, i, a) => a.indexOf(d) === i), ['EFI/debian', 'EFI/BOOT']);
  t.deepEqual(espFiles(ubuntu).map(([from]) => from), espFiles(debian).map(([from]) => from), 'the same files from the image');
  const cfg = grubCfgText('r-1', ubuntu, '/boot');
  t.regex(cfg, /^menuentry 'Ubuntu' \{$/m);
  t.regex(cfg, /^  linux \/boot\/vmlinuz root=UUID=r-1 ro /m);
  t.regex(cfg, /^  initrd \/boot\/initrd\.img$/m);
  t.regex(grubCfgText('r-1'), /^  linux \/vmlinuz root=UUID=r-1 ro /m);
  t.throws(() => vendorOf('fedora-40'), { message: /does not know how to make "fedora-40" bootable/ });
});

test('locales the server compiled: a PC with one of them skips locale-gen, another locale is compiled on the PC', (t) => {
  const listed = 'C.utf8\nde_DE.utf8\nen_US.utf8\n';
  t.true(archiveHasLocale(listed, localeFor('de')));
  t.true(archiveHasLocale(listed, 'en_US.UTF-8'));
  t.false(archiveHasLocale(listed, localeFor('de_AT')));
  t.false(archiveHasLocale('', localeFor('de')));
  t.false(archiveHasLocale('de_DE.utf8x\n', localeFor('de')), 'whole names only');
  t.is(archiveLocaleName('sv_SE.UTF-8'), 'sv_SE.utf8');
  for (const [code, locale] of Object.entries(LANGUAGE_LOCALES)) t.is(localeFor(code), locale);
});

test('language, keymap, time zone, apt: opsi values mapped, bad ones refused', (t) => {
  t.is(localeFor('de'), 'de_DE.UTF-8');
  t.is(localeFor('en'), 'en_US.UTF-8');
  t.is(localeFor('de_AT'), 'de_AT.UTF-8');
  t.throws(() => localeFor('de; rm -rf /'), { message: /not a language code/ });
  t.is(localeGenText('# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n', 'de_DE.UTF-8'), 'de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n');
  t.deepEqual(keyboardFor('de-latin1-nodeadkeys'), { layout: 'de', variant: 'nodeadkeys' });
  t.deepEqual(keyboardFor('us'), { layout: 'us', variant: '' });
  t.throws(() => keyboardFor('de"\nX=1'), { message: /not a keymap name/ });
  t.is(checkTimezone('America/Argentina/Buenos_Aires'), 'America/Argentina/Buenos_Aires');
  t.throws(() => checkTimezone('../../etc/shadow'));
  t.throws(() => aptProxyConf('http://x" ; evil'), { message: /not an http/ });
  t.throws(() => aptSourcesText(['deb http://a b c\ndeb http://evil x y']));
  t.throws(() => checkPasswordHash('linux123', 'root_password'), { message: /not a yescrypt/ });
  t.throws(() => firstBootConfigText('https://server/agent/v1/first-boot', 'a'.repeat(64)), { message: /not http/ });
});

test('apt: a proxy password never reaches the job log or an error message', (t) => {
  t.is(aptLogLine(2, 'http://squid:s3cret@192.0.2.1:3128'), 'apt: 2 sources, proxy http://squid:***@192.0.2.1:3128');
  t.is(aptLogLine(0, null), 'apt: 0 sources, no proxy');
  t.throws(() => aptProxyConf('http://squid:s3cret@x" ; evil'), { message: /^(?!.*s3cret).*not an http/ });
  t.is(
    hideUrlPasswords('deb http://u:p@m.example/debian bookworm main, https://a@b.example/, postgres://x:y@/db?host=/run'),
    'deb http://u:***@m.example/debian bookworm main, https://a@b.example/, postgres://x:***@/db?host=/run',
  );
});

function fakeConsole(typed: string | null, afterMs = 50): ConsoleIo & { screen: string; closed: boolean } {
  const io = {
    screen: '',
    closed: false,
    write: (s: string) => void (io.screen += s),
    async *lines() {
      if (typed === null) return await new Promise<never>(() => undefined);
      await new Promise((r) => setTimeout(r, afterMs));
      yield typed;
    },
    close: () => void (io.closed = true),
  };
  return io;
}

test('askbeforeinst: Enter goes on at once, "no" aborts, silence counts down to zero', async (t) => {
  const enter = fakeConsole('');
  t.is(await confirmOnConsole(enter, ['disk /dev/sda: system ERASED'], 30), 'go');
  t.regex(enter.screen, /disk \/dev\/sda: system ERASED/);
  t.regex(enter.screen, /Installing in +30 s/);
  t.true(enter.closed);
  t.is(await confirmOnConsole(fakeConsole('no'), [], 30), 'abort');
  const quiet = fakeConsole(null);
  t.is(await confirmOnConsole(quiet, [], 2), 'timeout');
  t.regex(quiet.screen, /Installing in +2 s.*\rInstalling in +1 s/s, 'a visible countdown');
  t.is(parseAnswer(' N '), 'abort');
  t.is(parseAnswer('yes'), 'go');
});

test('delay_for_reboot: seconds from the property, capped; absent, empty or nonsense = none', (t) => {
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: '5' } }), 5);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: ['30'] } }), 30);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: '99999' } }), 600);
  t.is(rebootDelaySeconds({ properties: {} }), 0);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: 'soon' } }), 0);
  t.is(rebootDelaySeconds({ properties: { delay_for_reboot: true } }), 0);
});

// A stalled root filesystem download (connection open, no bytes): a loopback server
// that stops sending half way and never closes.
async function stallingServer(t: import('ava').ExecutionContext, body: Buffer, stallFirst: number) {
  const open = new Set<import('node:http').ServerResponse>();
  const ranges: string[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    const range = req.headers.range;
    ranges.push(range ?? 'none');
    const from = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    res.writeHead(range ? 206 : 200, { 'content-length': String(body.length - from), etag: '"x"', ...(range ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    if (++n <= stallFirst) {
      open.add(res);
      res.write(body.subarray(from, from + Math.max(1, Math.floor((body.length - from) / 2))));
    } else res.end(body.subarray(from));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const r of open) r.destroy();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fetchFile: FetchServerFile = (path, headers, signal) => fetch(base + path, { headers, ...(signal ? { signal } : {}) });
  return { fetchFile, ranges };
}

async function smallRootfs(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'ni-stall-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const body = randomBytes(256 * 1024);
  const source = { path: '/depot/v1/rootfs/x/image.pcl.zst', sha256: createHash('sha256').update(body).digest('hex'), size: body.length };
  return { body, source, out: join(dir, 'image.pcl.zst') };
}

test('rootfs download: a stalled connection resumes with Range after the idle timeout; stalling every time fails clearly and leaves no file', async (t) => {
  const fs = await smallRootfs(t);
  const log: string[] = [];
  const once = await stallingServer(t, fs.body, 1);
  const r = await downloadVerified({ fetchFile: once.fetchFile, source: fs.source, file: fs.out, log: (l) => log.push(l), idleTimeoutMs: 300, attempts: 3 });
  t.is(r.resumes, 1);
  t.is(r.sha256, fs.source.sha256);
  t.regex(once.ranges[1] ?? '', /^bytes=[1-9]\d*-$/, 'the second connection asks for the rest only');
  t.regex(log.join('\n'), /interrupted at \d+ bytes \(no data for 0\.3 s\); resuming \(1\/2\)/);
  t.true((await readFile(fs.out)).equals(fs.body));

  const always = await stallingServer(t, fs.body, 99);
  const err = await t.throwsAsync(downloadVerified({ fetchFile: always.fetchFile, source: fs.source, file: fs.out, log: () => undefined, idleTimeoutMs: 300, attempts: 2 }));
  t.true(err instanceof ImagingError);
  t.regex(err!.message, /^the root filesystem download stalled: no data for 0\.3 s at byte \d+ of \d+ of \/depot\/v1\/rootfs\/x\/image\.pcl\.zst, after 2 attempts \(2 stalled\)$/);
  await t.throwsAsync(readFile(fs.out), { code: 'ENOENT' }, 'a download that did not complete leaves nothing behind');

  const wrong = await stallingServer(t, fs.body, 0);
  const bad = await t.throwsAsync(downloadVerified({ fetchFile: wrong.fetchFile, source: { ...fs.source, sha256: '0'.repeat(64) }, file: fs.out, log: () => undefined }));
  t.is(bad!.name, 'RootfsMismatchError');
  await t.throwsAsync(readFile(fs.out), { code: 'ENOENT' }, 'nor does one that did not verify');
});
