// The pure parts of the unattended Windows flow: .inf parsing and PCI matching, where each media
// file goes on the winpe partition, the scripts, the server's media and edition checks.
import test from 'ava';
import { chooseDrivers, decodeInf, infPciIds, pciIdMatches, type PciDevice } from '../../imaging/windows-install/drivers.ts';
import { customSteps, mediaFileUrl, stagingMap } from '../../imaging/windows-install/stage.ts';
import { setupCompleteCmd, startnetCmd } from '../../imaging/windows-install/scripts.ts';
import { capturedEditions, checkWindowsMedia, chooseEdition, imageNameChoices } from '../../bootserver/os-images/windows-install.ts';
import { buildWindowsPlan } from '../../bootserver/os-images/windows-plan.ts';
import type { DepotManifest } from '../../bootserver/depot/manifest.ts';

const MEDIA = '/depot/v1/windows-media/opsi-local-image-win11-x64';

const dev = (vendor: string, device: string, sub = '00011af4', revision = '00'): PciDevice => ({
  slot: `0000:00:${vendor}`,
  vendor,
  device,
  subsystemDevice: sub.slice(0, 4),
  subsystemVendor: sub.slice(4),
  revision,
});

test('inf: models of [Manufacturer] for amd64 only, continued lines, comments, several ids a line', (t) => {
  const inf = [
    '[Manufacturer]',
    '%A% = ModelsA, NTamd64, NTx86 ; comment PCI\\VEN_DEAD&DEV_BEEF',
    '%B% = ModelsB',
    '[ModelsA.NTamd64]',
    '%X% = inst, PCI\\VEN_8086&DEV_100E, \\',
    '   PCI\\VEN_8086&DEV_100F&SUBSYS_11001AF4 ; PCI\\VEN_1111&DEV_2222',
    '[ModelsA.NTx86]',
    '%Y% = inst, PCI\\VEN_8086&DEV_2922',
    '[ModelsB]',
    '%Z% = inst, pci\\ven_10ec&dev_8168&rev_06',
    '[Strings]',
    'X = "PCI\\VEN_AAAA&DEV_BBBB; in a string"',
  ].join('\r\n');
  t.deepEqual(
    infPciIds(inf).map((i) => i.text),
    ['PCI\\VEN_8086&DEV_100E', 'PCI\\VEN_8086&DEV_100F&SUBSYS_11001AF4', 'PCI\\VEN_10EC&DEV_8168&REV_06'],
  );
});

test('inf: UTF-16LE with BOM and UTF-8 with BOM decode', (t) => {
  const text = '[Manufacturer]\r\n%M%=M,NTamd64.10.0\r\n[M.NTamd64.10.0]\r\n%D%=i,PCI\\VEN_1AF4&DEV_1000\r\n';
  for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])]) {
    t.deepEqual(infPciIds(decodeInf(bytes)).map((i) => i.text), ['PCI\\VEN_1AF4&DEV_1000']);
  }
});

test('PCI match: vendor and device, and subsystem / revision when the id names them', (t) => {
  const [plain, subsys, rev] = infPciIds('[Manufacturer]\n%M%=M\n[M]\n%D%=i,PCI\\VEN_8086&DEV_100E,PCI\\VEN_8086&DEV_100E&SUBSYS_11001AF4,PCI\\VEN_8086&DEV_100E&REV_03\n');
  t.true(pciIdMatches(plain!, dev('8086', '100e')));
  t.false(pciIdMatches(plain!, dev('8086', '100f')));
  t.true(pciIdMatches(subsys!, dev('8086', '100e', '11001af4')));
  t.false(pciIdMatches(subsys!, dev('8086', '100e', '00011af4')));
  t.true(pciIdMatches(rev!, dev('8086', '100e', '0', '03')));
  t.false(pciIdMatches(rev!, dev('8086', '100e', '0', '02')));
});

test('drivers: one choice per .inf folder, only for devices present', (t) => {
  const inf = (id: string) => `[Manufacturer]\n%M%=M,NTamd64\n[M.NTamd64]\n%D%=i,${id}\n`;
  const chosen = chooseDrivers(
    [
      { path: 'net/a/a.inf', text: inf('PCI\\VEN_8086&DEV_100E') },
      { path: 'net/a/b.inf', text: inf('PCI\\VEN_1AF4&DEV_1000') },
      { path: 'gpu/c.inf', text: inf('PCI\\VEN_10DE&DEV_1234') },
      { path: 'top.inf', text: inf('PCI\\VEN_1AF4&DEV_1000') },
    ],
    [dev('8086', '100e'), dev('1af4', '1000')],
  );
  t.deepEqual(chosen.map((c) => [c.folder, c.matched.length]), [['', 1], ['net/a', 2]]);
});

test('staging map: WinPE at the root, install sources under installfiles/, only chosen driver folders, nested ones once, custom/ under $OEM$', (t) => {
  const f = (path: string) => ({ path, size: 1, sha256: '0'.repeat(64) });
  const map = stagingMap(
    { media: { base: MEDIA, files: [f('winpe/bootmgr'), f('winpe/sources/boot.wim'), f('installfiles/sources/install.wim'), f('drivers/net/a/a.inf'), f('drivers/net/a/sub/x.sys'), f('drivers/net/b/b.inf'), f('custom/x.cmd')] } },
    [
      { folder: 'net/a', inf: 'net/a/a.inf', matched: ['x'], devices: [] },
      { folder: 'net/a/sub', inf: 'net/a/sub/y.inf', matched: ['y'], devices: [] },
    ],
  );
  t.deepEqual(
    map.map((m) => m.to),
    ['bootmgr', 'sources/boot.wim', 'installfiles/sources/install.wim', '$WinPEDriver$/001-net_a/a.inf', '$WinPEDriver$/002-net_a_sub/x.sys', 'installfiles/sources/$OEM$/$1/netimage/custom/x.cmd'],
  );
});

test('media file URLs: every segment percent-encoded, so "#", "%" and "?" in a medium\'s file names reach the depot as they are', (t) => {
  const base = '/depot/v1/windows-media/opsi-local-image-win11-x64';
  t.is(mediaFileUrl(base, 'drivers/net #2/100% ok?.inf'), `${base}/drivers/net%20%232/100%25%20ok%3F.inf`);
  t.is(mediaFileUrl(base, 'installfiles/sources/$OEM$/Segoe UI.ttf'), `${base}/installfiles/sources/%24OEM%24/Segoe%20UI.ttf`);
});

test('scripts: CRLF, setup with the answer file; the completion URL must be plain', (t) => {
  t.true(startnetCmd().split('\r\n').every((l) => !l.includes('\n')));
  t.regex(setupCompleteCmd('http://10.0.0.1:8080/agent/v1/first-boot'), / http:\/\/10\.0\.0\.1:8080\/agent\/v1\/first-boot && goto reported\r\n/);
  for (const bad of ['http://x/"&calc', 'file:///c:/x', 'http://x/a b']) t.throws(() => setupCompleteCmd(bad), { message: /cannot stand in a cmd script/ });
});

test('custom/: files under $OEM$\\$1\\netimage\\custom; pnputil for custom/drivers; setupcomplete scripts in name order; a name cmd cannot take refused', (t) => {
  const f = (path: string) => ({ path, size: 1, sha256: '0'.repeat(64) });
  const files = ['custom/setupcomplete/b.PS1', 'custom/setupcomplete/A-first.bat', 'custom/setupcomplete/sub/nested.cmd', 'custom/setupcomplete/data.txt', 'custom/x/y.txt'].map(f);
  t.deepEqual(
    stagingMap({ media: { base: MEDIA, files } }, []).map((m) => m.to),
    files.map((x) => `installfiles/sources/$OEM$/$1/netimage/custom/${x.path.slice(7)}`),
  );
  t.deepEqual(customSteps(files), { drivers: false, scripts: ['A-first.bat', 'b.PS1'] });
  t.true(customSteps([f('custom/drivers/a/b/x.INF')]).drivers);
  t.false(customSteps([f('drivers/a/x.inf'), f('custom/drivers/readme.txt')]).drivers);
  for (const bad of ['x&calc.cmd', '50%.cmd', '.hidden.cmd', 'a^b.bat', 'ä.ps1'])
    t.throws(() => customSteps([f(`custom/setupcomplete/${bad}`)]), { message: /cannot be run from SetupComplete\.cmd .* Nothing was written/ });
  const cmd = setupCompleteCmd('http://10.0.0.1/agent/v1/first-boot', { drivers: false, scripts: ['A-first.bat'] });
  t.regex(cmd, /\r\ncmd\.exe \/c ""%SystemDrive%\\netimage\\custom\\setupcomplete\\A-first\.bat"" >> "%NILOG%" 2>&1\r\necho netimage: custom\\setupcomplete\\A-first\.bat exit %errorlevel% >> "%NILOG%"\r\n/);
  t.false(setupCompleteCmd('http://10.0.0.1/x').includes('pnputil'), 'nothing for an entry without custom/');
  t.throws(() => setupCompleteCmd('http://10.0.0.1/x', { drivers: false, scripts: ['a"&b.cmd'] }), { message: /cannot stand in a cmd script/ });
});

test('server: media checks and edition choice (409 with the reason)', (t) => {
  const manifest = (paths: string[], meta: Record<string, unknown>): DepotManifest => ({
    format: 'netimage-depot/1',
    kind: 'windows-media',
    name: 'opsi-local-image-win11-x64',
    created: new Date(0).toISOString(),
    files: paths.map((path) => ({ path, size: 1, sha256: '0'.repeat(64) })),
    meta,
  });
  const winpe = ['winpe/EFI/Boot/bootx64.efi', 'winpe/bootmgr', 'winpe/sources/boot.wim'];
  const editions = [{ index: 1, name: 'Windows 11 Pro' }];
  const P = 'opsi-local-image-win11-x64';
  t.throws(() => checkWindowsMedia(P, null), { message: /the depot has no windows-media\/opsi-local-image-win11-x64/ });
  t.throws(() => checkWindowsMedia(P, manifest(['installfiles/sources/install.wim'], { editions })), { message: /no usable WinPE/ });
  t.throws(() => checkWindowsMedia(P, manifest(winpe, { editions })), { message: /neither installfiles\/sources\/install\.wim nor installfiles\/sources\/install\.esd/ });
  t.throws(() => checkWindowsMedia(P, manifest([...winpe, 'installfiles/sources/install.esd'], {})), { message: /lists no editions/ });
  const ok = checkWindowsMedia(P, manifest([...winpe, 'installfiles/sources/install.esd'], { editions }));
  t.deepEqual(chooseEdition(P, 'Windows 11 Pro', ok.editions), { from: 'media', edition: editions[0]! });
  t.throws(() => chooseEdition(P, 'windows 11 pro', ok.editions), { message: /is not an image of .* use one of "Windows 11 Pro"/ });
  // A captured WIM's images are choices too; the medium's edition wins a name both have.
  const captured = [{ index: 1, name: 'Windows 11 Pro' }, { index: 2, name: 'lab-master 2026-12-01' }];
  t.deepEqual(imageNameChoices(ok.editions, captured), ['Windows 11 Pro', 'lab-master 2026-12-01']);
  t.deepEqual(chooseEdition(P, 'Windows 11 Pro', ok.editions, captured), { from: 'media', edition: editions[0]! });
  t.deepEqual(chooseEdition(P, 'lab-master 2026-12-01', ok.editions, captured), { from: 'captured', edition: captured[1]! });
  t.throws(() => chooseEdition(P, 'nope', ok.editions, captured), {
    message: 'opsi-local-image-win11-x64.imagename "nope" is not an image of windows-media/opsi-local-image-win11-x64 or wim/opsi-local-image-win11-x64: use one of "Windows 11 Pro", "lab-master 2026-12-01". Nothing was changed.',
  });
  t.throws(() => chooseEdition(P, '', ok.editions, captured), { message: /imagename is required: one of "Windows 11 Pro", "lab-master 2026-12-01"/ });
  t.deepEqual(capturedEditions(manifest(['install.wim'], { editions: captured })), captured);
  t.deepEqual(capturedEditions(manifest(['other.wim'], { editions: captured })), [], 'no install.wim, no choices');
  t.deepEqual(capturedEditions(null), []);
});

test('plan: an image of the captured WIM replaces the medium\'s install images; staged as installfiles/sources/install.wim', (t) => {
  const file = (path: string) => ({ path, size: 3, sha256: 'a'.repeat(64) });
  const manifest = (name: string, paths: string[]): DepotManifest => ({ format: 'netimage-depot/1', kind: 'windows-media', name, created: new Date(0).toISOString(), files: paths.map(file), meta: {} });
  const media = manifest('opsi-local-image-win11-x64', ['winpe/bootmgr', 'installfiles/setup.exe', 'installfiles/sources/install.wim', 'installfiles/sources/Install.ESD', 'custom/a.txt']);
  const input = { productId: 'opsi-local-image-win11-x64' as const, clientId: 'pc1.lab.example', effective: { imagename: 'lab' }, manifest: media, edition: { index: 2, name: 'lab' }, baseUrl: 'http://10.0.0.1:8080', token: 'f'.repeat(64), expires: new Date(0).toISOString() };
  const plain = buildWindowsPlan(input);
  t.is(plain.installImage, undefined);
  t.true(plain.media.files.some((f) => f.path === 'installfiles/sources/install.wim'));
  const plan = buildWindowsPlan({ ...input, captured: { ...manifest('opsi-local-image-win11-x64', ['install.wim']), kind: 'wim' } });
  t.deepEqual(plan.media.files.map((f) => f.path), ['winpe/bootmgr', 'installfiles/setup.exe', 'custom/a.txt']);
  t.deepEqual(plan.installImage, { base: '/depot/v1/wim/opsi-local-image-win11-x64', file: file('install.wim') });
  t.is(plan.imageIndex, 2);
  const map = stagingMap(plan, []);
  t.deepEqual(map.at(-1), { file: file('install.wim'), base: '/depot/v1/wim/opsi-local-image-win11-x64', to: 'installfiles/sources/install.wim' });
  t.true(map.slice(0, -1).every((m) => m.base === '/depot/v1/windows-media/opsi-local-image-win11-x64'));
});
