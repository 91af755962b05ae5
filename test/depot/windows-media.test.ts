// Windows media into the depot, from a STAND-IN medium (test/helpers/windows-media.ts): real
// Windows media cannot be fetched here.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { Depot } from '../../bootserver/depot/depot.ts';
import { depotFilePath } from '../../bootserver/depot/manifest.ts';
import { importWindowsMedia, parse7zList, type ImportProgress } from '../../bootserver/depot/windows-media.ts';
import { tempDir } from '../helpers/tempdir.ts';
import { buildStandInMedium, writeTree } from '../helpers/windows-media.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PRODUCT = 'opsi-local-image-win11-x64';

let built: ReturnType<typeof buildStandInMedium> | null = null;
test.after.always(async () => {
  const b = await built;
  if (b) await rm(b.dir, { recursive: true, force: true });
});
const standIn = (_t: import('ava').ExecutionContext) => (built ??= buildStandInMedium());

test.serial('an ISO (UDF) imports as installfiles/ with every file, name and sha256, and the editions of install.wim', async (t) => {
  const { iso, files } = await standIn(t);
  const depot = await Depot.open(join(await tempDir(t, 'depot'), 'depot'));
  const progress: ImportProgress[] = [];
  const r = await importWindowsMedia({ depot, product: PRODUCT, source: iso, part: 'installfiles', onProgress: (p) => progress.push(p) });
  const total = Object.values(files).reduce((n, b) => n + b.length, 0);
  t.is(r.bytes, total);
  t.is(r.files, Object.keys(files).length);
  t.deepEqual(
    r.entry.manifest.files,
    Object.entries(files)
      .map(([path, data]) => ({ path: `installfiles/${path}`, size: data.length, sha256: sha(data) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
  );
  t.deepEqual(r.entry.manifest.meta, {
    product: PRODUCT,
    importedFrom: { installfiles: iso },
    editions: [
      { index: 1, name: 'Windows 11 Pro' },
      { index: 2, name: 'Windows 11 Education' },
    ],
  });
  t.deepEqual(progress.at(-1), { bytes: total, total });
  t.true(progress.every((p, i) => i === 0 || p.bytes >= progress[i - 1]!.bytes), 'progress only grows');
  t.true((await depot.verify('windows-media', PRODUCT)).ok);
});

test.serial('re-importing one part makes a new version: other parts hard-linked, the name swapped atomically, editions kept', async (t) => {
  const { dir, iso } = await standIn(t);
  const depot = await Depot.open(join(await tempDir(t, 'depot'), 'depot'));
  const first = await importWindowsMedia({ depot, product: PRODUCT, source: iso, part: 'installfiles' });
  const winpe = join(dir, 'winpe-standin');
  await writeTree(winpe, { 'sources/boot.wim': Buffer.from('stand-in boot.wim'), 'EFI/Boot/bootx64.efi': Buffer.from('efi'), 'Boot/BCD': Buffer.from('bcd') });
  const second = await importWindowsMedia({ depot, product: PRODUCT, source: winpe, part: 'winpe' });
  t.not(second.entry.dir, first.entry.dir);
  t.deepEqual(
    second.entry.manifest.files.filter((f) => f.path.startsWith('installfiles/')),
    first.entry.manifest.files,
  );
  t.deepEqual(second.entry.manifest.files.filter((f) => f.path.startsWith('winpe/')).map((f) => f.path), ['winpe/Boot/BCD', 'winpe/EFI/Boot/bootx64.efi', 'winpe/sources/boot.wim']);
  t.deepEqual(second.entry.manifest.meta['editions'], first.entry.manifest.meta['editions']);
  t.deepEqual(second.entry.manifest.meta['importedFrom'], { installfiles: iso, winpe });
  const a = await stat(join(first.entry.dir, 'installfiles/sources/install.wim'));
  const b = await stat(join(second.entry.dir, 'installfiles/sources/install.wim'));
  t.is(a.ino, b.ino, 'the unchanged part is a hard link, not a copy');
  // The previous version stays readable for readers that resolved it; the name is a symlink.
  t.true((await depot.verify('windows-media', PRODUCT)).ok);
  t.is((await readdir(join(depot.dir, 'windows-media'))).filter((n) => !n.startsWith('.')).length, 1);
  await importWindowsMedia({ depot, product: PRODUCT, source: winpe, part: 'custom' });
  t.is((await readdir(join(depot.dir, 'windows-media', '.versions'))).length, 2, 'current and previous; older versions removed');
  // A restart (recover) keeps only the current version; rm removes them all.
  const reopened = await Depot.open(depot.dir);
  t.is((await readdir(join(depot.dir, 'windows-media', '.versions'))).length, 1);
  t.true((await reopened.verify('windows-media', PRODUCT)).ok);
  await reopened.remove('windows-media', PRODUCT);
  t.is(await reopened.get('windows-media', PRODUCT), null);
  t.deepEqual(await readdir(join(depot.dir, 'windows-media', '.versions')), []);
});

test.serial('a non-Windows ISO, a plain ISO 9660 image, a missing source and a bad product name are refused; nothing is written', async (t) => {
  const { dir } = await standIn(t);
  const depot = await Depot.open(join(await tempDir(t, 'depot'), 'depot'));
  await writeTree(join(dir, 'notwin'), { 'README.txt': Buffer.from('a Linux live medium\n'), 'casper/vmlinuz': Buffer.from('k') });
  const udf = join(dir, 'linux-udf.iso');
  const plain = join(dir, 'linux-plain.iso');
  await execa('genisoimage', ['-quiet', '-udf', '-o', udf, join(dir, 'notwin')]);
  await execa('genisoimage', ['-quiet', '-o', plain, join(dir, 'notwin')]);
  await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: udf, part: 'installfiles' }), { message: /linux-udf\.iso is not Windows installation media: no sources\/install\.wim or sources\/install\.esd \(2 files/ });
  await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: plain, part: 'installfiles' }), { message: /linux-plain\.iso is not a UDF medium \(Windows installation media are UDF\)/ });
  await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: join(dir, 'notwin'), part: 'winpe' }), { message: /is not a WinPE tree .*no sources\/boot\.wim/ });
  await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: join(dir, 'nowhere.iso'), part: 'installfiles' }), { message: /nowhere\.iso: no such file or folder/ });
  await t.throwsAsync(importWindowsMedia({ depot, product: '../etc', source: udf, part: 'drivers' }), { message: /"\.\.\/etc" is not a product id/ });
  t.deepEqual(await depot.list(), []);
  t.deepEqual(await readdir(join(depot.dir, '.staging')), []);
});

test.serial('the import checks space first: a depot on a 1 MiB tmpfs refuses the medium, naming both figures', async (t) => {
  const { iso, files } = await standIn(t);
  const mnt = await tempDir(t, 'small');
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'netimage-test-small', mnt]);
  t.teardown(() => execa('umount', [mnt]).then(() => undefined));
  const depot = await Depot.open(join(mnt, 'depot'));
  const total = Object.values(files).reduce((n, b) => n + b.length, 0);
  t.true(total > 1024 * 1024, 'the stand-in is larger than the tmpfs');
  const error = await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: iso, part: 'installfiles' }));
  t.regex(error.message, new RegExp(`not enough space in the depot \\(${mnt}/depot\\) for installfiles of ${PRODUCT}: it needs [0-9.]+ GiB \\(${total} bytes\\), [0-9.]+ GiB \\(\\d+ bytes\\) are free`));
  t.deepEqual(await depot.list(), []);
  t.deepEqual(await readdir(join(depot.dir, '.staging')), []);
});

test('file names: Windows names are kept; escapes, absolute paths, backslashes and control characters are refused', (t) => {
  for (const ok of ['installfiles/sources/$OEM$/$1/x.cmd', 'installfiles/boot/Fonts dir/Segoe UI.ttf', 'drivers/Intel (R) {x} & y/e1d.inf', 'custom/Ünïcödé 名前', 'rootfs.tar.zst', 'a/.hidden-inside'])
    t.true(depotFilePath.safeParse(ok).success, ok);
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', 'a/', 'a\\b', 'a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b', '.staging/x', 'manifest.json', '', 'a/' + 'x'.repeat(256)])
    t.false(depotFilePath.safeParse(bad).success, JSON.stringify(bad));
});

test('a directory with a file name the depot refuses is refused before anything is copied', async (t) => {
  const dir = await tempDir(t, 'badnames');
  await writeTree(join(dir, 'drivers'), { 'ok.inf': Buffer.from('x'), 'bad\\name.inf': Buffer.from('y') });
  const depot = await Depot.open(join(dir, 'depot'));
  await t.throwsAsync(importWindowsMedia({ depot, product: PRODUCT, source: join(dir, 'drivers'), part: 'drivers' }), { message: /the file name "bad\\\\name\.inf" cannot be stored: .*no backslash/ });
  t.deepEqual(await depot.list(), []);
});

test('parse7zList reads files (not folders) with their sizes from 7zz -slt', (t) => {
  const text = 'Listing archive: x.iso\n--\nPath = x.iso\nType = Udf\n\n----------\nPath = boot\nFolder = +\nSize = \n\nPath = boot/Segoe UI.ttf\nFolder = -\nSize = 5\n\nPath = setup.exe\nFolder = -\nSize = 19\n';
  t.deepEqual(parse7zList(text), [
    { path: 'boot/Segoe UI.ttf', size: 5 },
    { path: 'setup.exe', size: 19 },
  ]);
});
