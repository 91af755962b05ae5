// The pure parts of the unattended Windows flow: .inf parsing and PCI matching, where each media
// file goes on the winpe partition, the scripts, the server's media and edition checks.
import test from 'ava';
import { chooseDrivers, decodeInf, infPciIds, pciIdMatches, type PciDevice } from '../../imaging/windows-install/drivers.ts';
import { mediaFileUrl, stagingMap } from '../../imaging/windows-install/stage.ts';
import { setupCompleteCmd, startnetCmd } from '../../imaging/windows-install/scripts.ts';
import { checkWindowsMedia, chooseEdition } from '../../bootserver/os-images/windows-install.ts';
import type { DepotManifest } from '../../bootserver/depot/manifest.ts';

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

test('staging map: WinPE at the root, install sources under installfiles/, only chosen driver folders, nested ones once', (t) => {
  const f = (path: string) => ({ path, size: 1, sha256: '0'.repeat(64) });
  const map = stagingMap(
    [f('winpe/bootmgr'), f('winpe/sources/boot.wim'), f('installfiles/sources/install.wim'), f('drivers/net/a/a.inf'), f('drivers/net/a/sub/x.sys'), f('drivers/net/b/b.inf'), f('custom/x.cmd')],
    [
      { folder: 'net/a', inf: 'net/a/a.inf', matched: ['x'], devices: [] },
      { folder: 'net/a/sub', inf: 'net/a/sub/y.inf', matched: ['y'], devices: [] },
    ],
  );
  t.deepEqual(
    map.map((m) => m.to),
    ['bootmgr', 'sources/boot.wim', 'installfiles/sources/install.wim', '$WinPEDriver$/001-net_a/a.inf', '$WinPEDriver$/002-net_a_sub/x.sys'],
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
  t.deepEqual(chooseEdition(P, 'Windows 11 Pro', ok.editions), editions[0]);
  t.throws(() => chooseEdition(P, 'windows 11 pro', ok.editions), { message: /is not an image of .* use one of "Windows 11 Pro"/ });
});
