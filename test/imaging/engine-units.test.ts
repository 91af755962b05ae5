// Pure parts of the engine and the store's crash recovery on a plain temp dir.
import test from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePartcloneHeader, parsePartcloneProgress, progressTracker, partcloneToolFor } from '../../imaging/partclone.ts';
import { normalizeImageName } from '../../imaging/store/names.ts';
import { ImagingError } from '../../imaging/errors.ts';
import { targetMismatch } from '../../imaging/restore.ts';
import { checkImageable, parseBlkidExport } from '../../imaging/fsdetect.ts';
import { run } from '../../lib/process.ts';
import { parseDiskHints } from '../../imaging/hints.ts';
import { partitionPath } from '../../imaging/devices.ts';
import { commitStaging, createStaging, imageReports, recoverStore, listImages, writeMetadata, readMasterLog, rebuildIndex } from '../../imaging/store/store.ts';
import type { ImageMetadata } from '../../imaging/store/metadata.ts';
import { osFamilyFor } from '../../imaging/products/prepare.ts';
import { propBool, propList, propString } from '../../imaging/products/props.ts';
import type { AgentJob } from '../../lib/agent-protocol.ts';

/** A v2 header as partclone 0.3.23 wrote it for a 300 MiB ext4 with -a0 (captured on this machine). */
const HEADER_HEX =
  '7061727463 6c6f6e652d696d61676500 302e332e3233000000000000 00003030 3032 dec0 455854465300000000000000 00000000 0000c01200000000 00b0040000000000 9773000000000000 9773000000000000 00040000 12000000 0200 4000 0000 0000 00000000 01 01 a52b5072'.replace(
    /\s+/g,
    '',
  );

test('partclone header v2 is parsed', (t) => {
  const h = parsePartcloneHeader(Buffer.from(HEADER_HEX, 'hex'));
  t.truthy(h);
  t.is(h!.imageVersion, '0002');
  t.is(h!.partcloneVersion, '0.3.23');
  t.is(h!.fs, 'EXTFS');
  t.is(h!.deviceSize, 300 * 1024 * 1024);
  t.is(h!.totalBlocks, 307200);
  t.is(h!.usedBlocks, 29591);
  t.is(h!.blockSize, 1024);
  t.is(h!.checksumMode, 0);
  t.is(parsePartcloneHeader(Buffer.from('ntfsclone-image\0 and more bytes to be long enough.....')), null);
  t.is(parsePartcloneHeader(Buffer.alloc(10)), null);
});

test('partclone progress: only the data phase counts, monotone', (t) => {
  t.is(parsePartcloneProgress('Elapsed: 00:00:01, Remaining: 00:01:39, Completed:   1.00%,   0.00byte/min,'), 1);
  t.is(parsePartcloneProgress('current block:     265193, total block:     307200, Complete: 100.00%'), 100);
  t.is(parsePartcloneProgress('Reading Super Block'), null);
  const seen: number[] = [];
  const feed = progressTracker((p) => seen.push(p));
  for (const l of [
    'Calculating bitmap... Please wait...',
    'Elapsed: 00:00:00, Remaining: 00:00:00, Completed: 100.00%',
    'File system:  EXTFS',
    'Block size:   1024 Byte',
    'Elapsed: 00:00:01, Remaining: 00:01:39, Completed:   1.00%,',
    'current block:          0, total block:     307200, Complete:   0.00%',
    'Elapsed: 00:00:02, Remaining: 00:00:01, Completed:  57.25%,',
    'Elapsed: 00:00:03, Remaining: 00:00:00, Completed: 100.00%,',
  ])
    feed(l);
  t.deepEqual(seen, [1, 57.25, 100]);
});

test('fs -> partclone tool', (t) => {
  t.is(partcloneToolFor('ext4'), 'partclone.ext4');
  t.is(partcloneToolFor('ntfs'), 'partclone.ntfs');
  t.is(partcloneToolFor('vfat'), 'partclone.fat');
  t.is(partcloneToolFor('BitLocker'), null);
  t.is(partcloneToolFor('swap'), null);
});

test('image names follow opsi: spaces to _, no special characters, no path tricks', (t) => {
  t.is(normalizeImageName('my image'), 'my_image');
  t.is(normalizeImageName(' win11  x64 '), 'win11_x64');
  t.is(normalizeImageName('opsi-local-image-win11-x64'), 'opsi-local-image-win11-x64');
  t.is(normalizeImageName('v1.2_final'), 'v1.2_final');
  for (const bad of ['', '../etc', 'a/b', '..', '.hidden', 'ä', 'x;rm', '-rf', 'all_images', 'a\\b', 'a\0b', 'x'.repeat(129)])
    t.throws(() => normalizeImageName(bad), { instanceOf: ImagingError }, bad);
});

test('restore target checks: sector size and partition size', (t) => {
  const meta = { logicalSectorSize: 512, partitionSizeBytes: 1000 * 1024 * 1024 };
  t.is(targetMismatch(meta, 1000 * 1024 * 1024, { sizeBytes: 1000 * 1024 * 1024, logicalSectorSize: 512 }), null);
  t.is(targetMismatch(meta, 1000 * 1024 * 1024, { sizeBytes: 2000 * 1024 * 1024, logicalSectorSize: 512 }), null);
  t.regex(targetMismatch(meta, 0, { sizeBytes: 2000 * 1024 * 1024, logicalSectorSize: 4096 })!, /512-byte sectors.*4096-byte/);
  t.regex(targetMismatch(meta, 0, { sizeBytes: 999 * 1024 * 1024, logicalSectorSize: 512 })!, /needs 1000 MiB/);
  t.regex(targetMismatch({ ...meta, partitionSizeBytes: 0 }, 1000 * 1024 * 1024, { sizeBytes: 999 * 1024 * 1024, logicalSectorSize: 512 })!, /needs/);
});

test('blkid export, disk hints, partition paths', (t) => {
  t.deepEqual(parseBlkidExport('DEVNAME=/dev/sda3\nTYPE=BitLocker\nUSAGE=crypto\n'), { DEVNAME: '/dev/sda3', TYPE: 'BitLocker', USAGE: 'crypto' });
  t.deepEqual(parseDiskHints('serial=S3Z1 wwn=0x5000c500a1b2, min_size=100G'), { serial: 'S3Z1', wwn: '0x5000c500a1b2', minSizeBytes: 100 * 1024 ** 3 });
  t.is(parseDiskHints(''), undefined);
  t.throws(() => parseDiskHints('vendor=foo'), { instanceOf: ImagingError });
  t.throws(() => parseDiskHints('min_size=50%'), { instanceOf: ImagingError });
  t.is(partitionPath('/dev/sda', 3), '/dev/sda3');
  t.is(partitionPath('/dev/nvme0n1', 3), '/dev/nvme0n1p3');
  t.is(partitionPath('/dev/loop12', 1), '/dev/loop12p1');
  t.is(partitionPath('/dev/mmcblk0', 2), '/dev/mmcblk0p2');
});

test('products: os family and property reading', (t) => {
  t.is(osFamilyFor('opsi-local-image-ubuntu'), 'linux');
  t.is(osFamilyFor('opsi-local-image-win11-x64'), 'windows');
  t.is(osFamilyFor(''), 'windows');
  const job = { properties: { a: ['x', 'y'], b: 'true', c: false, d: 'windomain, other', e: [] } } as unknown as AgentJob;
  t.is(propString(job, 'a'), 'x');
  t.is(propString(job, 'zz', 'dflt'), 'dflt');
  t.true(propBool(job, 'b', false));
  t.false(propBool(job, 'c', true));
  t.true(propBool(job, 'zz', true));
  t.deepEqual(propList(job, 'd'), ['windomain', 'other']);
  t.deepEqual(propList(job, 'e'), []);
  t.deepEqual(propList(job, 'a'), ['x', 'y']);
});

function meta(name: string, createdAt: string): ImageMetadata {
  return {
    format: 'netimage-image/1',
    name,
    sourceProduct: null,
    fsType: 'ext4',
    partitionSizeBytes: 1,
    logicalSectorSize: 512,
    usedBytes: 1,
    imageFile: 'image.pcl.zst',
    imageBytes: 3,
    sha256: 'a'.repeat(64),
    partcloneVersion: '0.3.23',
    partcloneChecksumMode: 0,
    compression: 'zstd',
    zstdVersion: '1.5.4',
    createdAt,
    productStates: [],
    imported: false,
    sourceDevice: null,
  };
}

test('store: commit replaces atomically; recovery drops staging and puts back an image renamed aside', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ni-store-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const s1 = await createStaging(root, 'img');
  await writeFile(join(s1, 'image.pcl.zst'), 'one');
  await writeMetadata(s1, meta('img', '2026-01-01T00:00:00Z'));
  await commitStaging(root, 'img', s1);
  const s2 = await createStaging(root, 'img');
  await writeFile(join(s2, 'image.pcl.zst'), 'two');
  await writeMetadata(s2, meta('img', '2026-01-02T00:00:00Z'));
  await commitStaging(root, 'img', s2);
  t.deepEqual((await listImages(root)).map((m) => m.createdAt), ['2026-01-02T00:00:00Z']);
  t.deepEqual((await readdir(root)).sort(), ['img']);

  // Crash between "rename old aside" and "rename new into place": old is aside, new still staging.
  await mkdir(join(root, '.tmp-img-0123456789ab'));
  await rm(join(root, 'img'), { recursive: true });
  await mkdir(join(root, '.old-img-aaaaaaaaaaaa'));
  await writeMetadata(join(root, '.old-img-aaaaaaaaaaaa'), meta('img', '2026-01-01T00:00:00Z'));
  await mkdir(join(root, '.del-gone-bbbbbbbbbbbb'));
  const actions = await recoverStore(root);
  t.is(actions.length, 3, actions.join('\n'));
  t.deepEqual((await readdir(root)).filter((e) => e !== 'master.log').sort(), ['img']);
  t.deepEqual((await listImages(root)).map((m) => m.name), ['img']);
  t.regex(await readMasterLog(root), /recover: put back image img/);
  const index = await rebuildIndex(root);
  t.deepEqual(index.images.map((i) => i.name), ['img']);
});

test('store: the image report counts every file of an image (subdirectories too), keeps a real date and says null for none', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ni-report-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'new', 'wim'), { recursive: true });
  await writeFile(join(root, 'new', 'image.pcl.zst'), Buffer.alloc(1000));
  await writeFile(join(root, 'new', 'wim', 'install.wim'), Buffer.alloc(234));
  await writeMetadata(join(root, 'new'), { ...meta('new', '2026-03-04T05:06:07.890Z'), format: 'netimage-image/2', sourceDevice: '/dev/sda3' });
  await mkdir(join(root, 'old'));
  await writeFile(join(root, 'old', 'image.pcl.zst'), Buffer.alloc(7));
  await writeMetadata(join(root, 'old'), meta('old', ''));
  const metaBytes = async (name: string) => (await readFile(join(root, name, 'metadata.json'))).length;
  t.deepEqual(await imageReports(root), [
    { name: 'old', sizeBytes: 7 + (await metaBytes('old')), createdAt: null, sourcePartition: null, fsType: 'ext4', format: 'stream' },
    { name: 'new', sizeBytes: 1000 + 234 + (await metaBytes('new')), createdAt: '2026-03-04T05:06:07.890Z', sourcePartition: '/dev/sda3', fsType: 'ext4', format: 'chunked' },
  ]);
});

test('fs checks: BitLocker and empty partitions are refused with the reason, ext4 is accepted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-fscheck-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A BitLocker (Windows 7+) volume header: jump, "-FVE-FS-" OEM id, FVE metadata block at 1 MiB.
  const bl = Buffer.alloc(2 * 1024 * 1024);
  Buffer.from([0xeb, 0x58, 0x90]).copy(bl, 0);
  bl.write('-FVE-FS-', 3, 'latin1');
  bl.writeUInt16LE(512, 11);
  bl[13] = 8;
  bl.writeBigUInt64LE(0x100000n, 176);
  bl[510] = 0x55;
  bl[511] = 0xaa;
  bl.write('-FVE-FS-', 0x100000, 'latin1');
  bl.writeUInt16LE(2, 0x100000 + 10);
  await writeFile(join(dir, 'bitlocker.img'), bl);
  const e = await t.throwsAsync(checkImageable(join(dir, 'bitlocker.img')), { instanceOf: ImagingError });
  t.regex(e!.message, /BitLocker-encrypted/);
  t.regex(e!.message, /manage-bde/);

  await writeFile(join(dir, 'empty.img'), Buffer.alloc(1024 * 1024));
  await t.throwsAsync(checkImageable(join(dir, 'empty.img')), { instanceOf: ImagingError, message: /no filesystem/ });

  await writeFile(join(dir, 'ext4.img'), Buffer.alloc(0));
  await run('truncate', ['-s', '16M', join(dir, 'ext4.img')]);
  await run('mkfs.ext4', ['-q', '-F', join(dir, 'ext4.img')]);
  t.deepEqual(await checkImageable(join(dir, 'ext4.img')), { fsType: 'ext4', tool: 'partclone.ext4' });
});
