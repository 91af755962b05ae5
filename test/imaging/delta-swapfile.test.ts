// A swap file on ext4 is never trusted by delta's inode records: the kernel writes swap pages (and
// a hibernation image with its signature) straight to the file's blocks without touching its
// inode, so an unchanged record proves nothing there. A raw write into a swap file's blocks, as
// the kernel makes, is put back by a delta restore; the other files' chunks are still trusted.
// pagefile=skip (ext4records trust --pagefile-skip): a swap file that was plain swap (SWAPSPACE2)
// at backup and has the same inode and block map now is left as it is beyond its first MiB (not
// read, not written), its first MiB and every other used block end as a full restore's; a
// hibernation signature written since is put back; a hibernation signature at backup, a recreated
// swap file or a table from before the swap file block maps: not applied, the reason logged.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition, type RestoreResult } from '../../imaging/restore.ts';
import { buildChunkHelpers, findRecordsHelper, HELPER_CACHE } from '../../imaging/chunked/native.ts';
import { INODE_TABLE_FILE } from '../../imaging/chunked/format.ts';
import { imageDir } from '../../imaging/store/store.ts';
import { repoRoot } from '../../lib/paths.ts';
import { createLoop, MiB } from './helpers/loop.ts';
import { usedDigest } from './helpers/used-blocks.ts';

/** sha256 of a file on the (unmounted) device, read through debugfs. */
async function fileSha(dev: string, path: string, scratch: string): Promise<string> {
  const out = join(scratch, 'dump');
  await run('debugfs', ['-R', `dump ${path} ${out}`, dev]);
  const sha = createHash('sha256').update(await readFile(out)).digest('hex');
  await rm(out);
  return sha;
}

async function blocksOf(dev: string, path: string): Promise<number[]> {
  return (await run('debugfs', ['-R', `blocks ${path}`, dev])).stdout.trim().split(/\s+/).filter(Boolean).map(Number);
}

test('a swap file written under the file system (swap pages, a hibernation signature) is compared and put back; other files stay trusted', async (t) => {
  await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
  const store = await mkdtemp(join(tmpdir(), 'ni-delta-swap-'));
  const scratch = await mkdtemp(join(tmpdir(), 'ni-delta-swap-scratch-'));
  t.teardown(() => rm(store, { recursive: true, force: true }));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const dev = (await createLoop(t, 64 * MiB)).path;
  // -I 256: mkfs gives a file system this small 128-byte inodes, which have no nanosecond ctime (no records).
  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', '-I', '256', dev]);
  // Files put in with debugfs, not a kernel mount: with the suite's other loop tests beside it a
  // mounted-then-unmounted file system was now and then read back with needs_recovery set (then,
  // correctly, no inode table is recorded), which is not what this test is about.
  await run('dd', ['if=/dev/urandom', `of=${join(scratch, 'data.bin')}`, 'bs=1M', 'count=8', 'status=none']);
  await run('dd', ['if=/dev/urandom', `of=${join(scratch, 'swapfile')}`, 'bs=1M', 'count=8', 'status=none']);
  // (random, not zeros: debugfs would write zeros as holes; a real swap file has every block)
  await run('mkswap', [join(scratch, 'swapfile')]);
  for (const name of ['data.bin', 'swapfile']) await run('debugfs', ['-w', '-R', `write ${join(scratch, name)} ${name}`, dev]);
  await run('rm', [join(scratch, 'data.bin'), join(scratch, 'swapfile')]);
  const backupLog: string[] = [];
  const backup = await backupPartition({ storeRoot: store, device: dev, imageName: 'swap', format: 'chunked', log: (l) => backupLog.push(l) });
  t.truthy(backup.metadata.chunked?.inodeTable, `the backup recorded an inode table:\n${backupLog.join('\n')}`);
  const swapBefore = await fileSha(dev, '/swapfile', scratch);
  const dataBefore = await fileSha(dev, '/data.bin', scratch);

  // What the kernel does to a swap file: pages written into its blocks, and on hibernation the
  // signature at the end of its first page replaced; neither touches the inode.
  const swapBlocks = await blocksOf(dev, '/swapfile');
  t.true(swapBlocks.length >= 2048);
  await run('dd', ['if=/dev/urandom', `of=${dev}`, 'bs=4096', `seek=${swapBlocks[1000]}`, 'count=1', 'conv=notrunc,fsync', 'status=none']);
  await run('sh', ['-c', `printf 'S1SUSPEND\\0' | dd of=${dev} bs=1 seek=${swapBlocks[0]! * 4096 + 4086} conv=notrunc,fsync status=none`]);
  t.not(await fileSha(dev, '/swapfile', scratch), swapBefore, 'the raw writes changed the swap file');

  const lines: string[] = [];
  const r = await restorePartition({ storeRoot: store, imageName: 'swap', device: dev, mode: 'delta', log: (l) => lines.push(l) });
  t.is(r.mode, 'delta');
  t.true(lines.some((l) => /^delta with inode records: .*; 1 swap file compared/.test(l)), lines.join('\n'));
  t.true(r.applied!.trustedChunks >= 4, `the data file's chunks are trusted (${r.applied!.trustedChunks})`);
  t.true(r.applied!.writtenChunks >= 2, `the two changed swap chunks were written (${r.applied!.writtenChunks})`);
  t.is(await fileSha(dev, '/swapfile', scratch), swapBefore, 'the swap file is as backed up, its mkswap signature back');
  t.is(await fileSha(dev, '/data.bin', scratch), dataBefore);
  await run('e2fsck', ['-fn', dev]);
});

const BLOCK = 4096;
/** The swap file's first MiB in blocks: pagefile=skip always compares it. */
const HEAD = MiB / BLOCK;

interface SwapImage {
  dev: string;
  /** What stock `zstd -dc | partclone.restore` of the image wrote. */
  ref: string;
  store: string;
  scratch: string;
  /** The decompressed image (partclone stream). */
  stream: Buffer;
  /** The swap file's blocks in logical order. */
  swapBlocks: number[];
}

/**
 * An ext4 file system with an 8 MiB data file and an 8 MiB mkswap'd swap file (its signature
 * replaced by `signature` when given, as a hibernation leaves it), imaged with its inode table, and
 * the image restored by stock partclone onto a second device.
 */
async function swapImage(t: ExecutionContext, signature?: string): Promise<SwapImage> {
  await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
  const store = await mkdtemp(join(tmpdir(), 'ni-delta-swapskip-'));
  const scratch = await mkdtemp(join(tmpdir(), 'ni-delta-swapskip-scratch-'));
  t.teardown(() => rm(store, { recursive: true, force: true }));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const dev = (await createLoop(t, 64 * MiB)).path;
  const ref = (await createLoop(t, 64 * MiB)).path;
  await run('mkfs.ext4', ['-q', '-F', '-b', String(BLOCK), '-I', '256', dev]);
  // debugfs, not a kernel mount: see the test above.
  await run('dd', ['if=/dev/urandom', `of=${join(scratch, 'data.bin')}`, 'bs=1M', 'count=8', 'status=none']);
  await run('dd', ['if=/dev/urandom', `of=${join(scratch, 'swapfile')}`, 'bs=1M', 'count=8', 'status=none']);
  await run('mkswap', [join(scratch, 'swapfile')]);
  if (signature) await pokeFile(join(scratch, 'swapfile'), BLOCK - 10, Buffer.from(signature.padEnd(10, '\0'), 'latin1'));
  for (const name of ['data.bin', 'swapfile']) await run('debugfs', ['-w', '-R', `write ${join(scratch, name)} ${name}`, dev]);
  await rm(join(scratch, 'data.bin'));
  await rm(join(scratch, 'swapfile'));
  const log: string[] = [];
  const backup = await backupPartition({ storeRoot: store, device: dev, imageName: 'swap', format: 'chunked', log: (l) => log.push(l) });
  t.truthy(backup.metadata.chunked?.inodeTable, `the backup recorded an inode table:\n${log.join('\n')}`);
  const file = join(imageDir(store, 'swap'), 'image.pcl.zst');
  await run('sh', ['-ec', `zstd -dc "${file}" | partclone.restore -s - -o "${ref}" 2>/dev/null`]);
  await run('zstd', ['-dcq', file, '-o', join(store, 'stream.pcl')]);
  const stream = await readFile(join(store, 'stream.pcl'));
  const swapBlocks = await blocksOf(dev, '/swapfile');
  t.is(swapBlocks.length, 2048);
  return { dev, ref, store, scratch, stream, swapBlocks };
}

async function pokeFile(path: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

/** A raw write under the file system, as the kernel writes swap pages and hibernation headers. */
async function pokeDevice(dev: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(dev, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readDevice(dev: string, at: number, length: number): Promise<Buffer> {
  const fh = await open(dev, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, at);
    return b;
  } finally {
    await fh.close();
  }
}

/** [first, count] runs of a block list. */
function runs(blocks: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const b of blocks) {
    const last = out.at(-1);
    if (last && last[0] + last[1] === b) last[1]++;
    else out.push([b, 1]);
  }
  return out;
}

async function restore(s: SwapImage, pagefile: 'skip' | 'restore'): Promise<{ r: RestoreResult; lines: string[] }> {
  const lines: string[] = [];
  const r = await restorePartition({ storeRoot: s.store, imageName: 'swap', device: s.dev, mode: 'delta', pagefile, log: (l) => lines.push(l) });
  return { r, lines };
}

const NOT_APPLIED = /^pagefile=skip not applied: (.*); compared like every other file$/;

test.serial('pagefile=skip: swap pages beyond the first MiB are left as they are and not read; the first MiB and every other used block end as a full restore\'s; restore (default) puts all back', async (t) => {
  const s = await swapImage(t);
  const beyond = runs(s.swapBlocks.slice(HEAD));
  const page = Buffer.alloc(BLOCK, 0x5a);
  // Swap pages, as the kernel writes them: one inside the first MiB, one beyond.
  await pokeDevice(s.dev, s.swapBlocks[10]! * BLOCK, page);
  await pokeDevice(s.dev, s.swapBlocks[1000]! * BLOCK, page);
  const { r, lines } = await restore(s, 'skip');
  t.is(r.mode, 'delta');
  t.true(lines.includes(`swap file left as it is: ${(((2048 - HEAD) * BLOCK) / 1e6).toFixed(0)} MB (pagefile=skip); its first MiB was compared`), lines.join('\n'));
  t.false(lines.some((l) => NOT_APPLIED.test(l)), lines.join('\n'));
  t.is(await usedDigest(s.dev, s.stream, beyond), await usedDigest(s.ref, s.stream, beyond), 'every used block but the swap file beyond its first MiB is the image\'s');
  t.deepEqual(await readDevice(s.dev, s.swapBlocks[1000]! * BLOCK, BLOCK), page, 'the swap page beyond the first MiB was left as it is');
  t.deepEqual(await readDevice(s.dev, s.swapBlocks[10]! * BLOCK, BLOCK), await readDevice(s.ref, s.swapBlocks[10]! * BLOCK, BLOCK), 'the one inside was put back');
  t.is(r.applied!.writtenChunks, 1);
  await run('e2fsck', ['-fn', s.dev]);
  // The default restores the swap file too: every used block is the image's. Same target as
  // skip had: the page inside the first MiB written again.
  await pokeDevice(s.dev, s.swapBlocks[10]! * BLOCK, page);
  const d = await restore(s, 'restore');
  t.false(d.lines.some((l) => l.startsWith('pagefile') || l.startsWith('swap file left')), d.lines.join('\n'));
  t.is(await usedDigest(s.dev, s.stream), await usedDigest(s.ref, s.stream));
  t.is(d.r.applied!.writtenChunks, 2);
  // skip did not read the swap file beyond its first MiB (7 MiB; chunk edges may keep a little
  // of it compared), the default read all of it.
  const sa = r.applied!;
  const da = d.r.applied!;
  t.log(`pagefile=skip read ${sa.comparedBytes} bytes (${sa.trustedChunks} of ${sa.chunks} chunks trusted), restore ${da.comparedBytes}`);
  t.true(sa.comparedBytes <= da.comparedBytes - 6 * MiB, `skip read ${sa.comparedBytes}, restore ${da.comparedBytes}`);
  t.true(sa.trustedBytes >= da.trustedBytes + 6 * MiB);
});

test.serial('pagefile=skip: a hibernation signature written into the swap file since the backup is put back to SWAPSPACE2 (the header is in the first MiB)', async (t) => {
  const s = await swapImage(t);
  const header = s.swapBlocks[0]! * BLOCK + BLOCK - 10;
  t.is((await readDevice(s.dev, header, 10)).toString('latin1'), 'SWAPSPACE2');
  // What a hibernation leaves: the image's pages in the swap area and S1SUSPEND in the header.
  await pokeDevice(s.dev, header, Buffer.from('S1SUSPEND\0', 'latin1'));
  await pokeDevice(s.dev, s.swapBlocks[2000]! * BLOCK, Buffer.alloc(BLOCK, 0xa5));
  const { r, lines } = await restore(s, 'skip');
  t.true(lines.some((l) => l.startsWith('swap file left as it is: ')), lines.join('\n'));
  t.is((await readDevice(s.dev, header, 10)).toString('latin1'), 'SWAPSPACE2', 'no resumable signature survives');
  t.true(r.applied!.writtenChunks >= 1);
  const beyond = runs(s.swapBlocks.slice(HEAD));
  t.is(await usedDigest(s.dev, s.stream, beyond), await usedDigest(s.ref, s.stream, beyond));
  await run('e2fsck', ['-fn', s.dev]);
});

test.serial('pagefile=skip is not applied to a swap file that held a hibernation signature at backup: all of it is restored, and the log says why', async (t) => {
  const s = await swapImage(t, 'S1SUSPEND');
  await pokeDevice(s.dev, s.swapBlocks[1500]! * BLOCK, Buffer.alloc(BLOCK, 0x3c));
  const { r, lines } = await restore(s, 'skip');
  t.is(r.mode, 'delta');
  t.true(lines.includes('pagefile=skip not applied: the swap file (inode 13) held S1SUSPEND at backup, not plain swap (SWAPSPACE2: a hibernation image or old-style swap); compared like every other file'), lines.join('\n'));
  t.false(lines.some((l) => l.startsWith('swap file left as it is')), lines.join('\n'));
  t.is(await usedDigest(s.dev, s.stream), await usedDigest(s.ref, s.stream));
});

test.serial('pagefile=skip is not applied to a swap file recreated since the backup (other blocks): every used block is restored as in a full restore, and the log says why', async (t) => {
  const s = await swapImage(t);
  // swapoff; rm; create anew; mkswap: another file takes part of the old blocks, the new swap file others.
  await run('debugfs', ['-w', '-R', 'rm swapfile', s.dev]);
  await run('dd', ['if=/dev/urandom', `of=${join(s.scratch, 'other.bin')}`, 'bs=1M', 'count=4', 'status=none']);
  await run('dd', ['if=/dev/urandom', `of=${join(s.scratch, 'swapfile')}`, 'bs=1M', 'count=8', 'status=none']);
  await run('mkswap', [join(s.scratch, 'swapfile')]);
  for (const name of ['other.bin', 'swapfile']) await run('debugfs', ['-w', '-R', `write ${join(s.scratch, name)} ${name}`, s.dev]);
  t.notDeepEqual(await blocksOf(s.dev, '/swapfile'), s.swapBlocks, 'the new swap file has other blocks');
  t.not(await usedDigest(s.dev, s.stream), await usedDigest(s.ref, s.stream));
  const { r, lines } = await restore(s, 'skip');
  t.is(r.mode, 'delta');
  const why = lines.map((l) => NOT_APPLIED.exec(l)?.[1]).find(Boolean);
  t.regex(why ?? '', /^the swap file( of the backup \(inode 13\) was deleted or recreated since|'s blocks are not the ones it had at backup \(its block map differs: resized, moved or recreated\))$/, lines.join('\n'));
  t.false(lines.some((l) => l.startsWith('swap file left as it is')), lines.join('\n'));
  t.is(await usedDigest(s.dev, s.stream), await usedDigest(s.ref, s.stream));
  await run('e2fsck', ['-fn', s.dev]);
});

test.serial('pagefile=skip with an inode table from before the swap file block maps: not applied, and ext4records and the job log say why', async (t) => {
  const s = await swapImage(t);
  const helperPath = findRecordsHelper('ext4records')!;
  const table = join(imageDir(s.store, 'swap'), INODE_TABLE_FILE);
  const bitmap = join(s.scratch, 'bits');
  const b = await readFile(table);
  const records = b.readUInt32LE(40);
  // The new table: the 64-byte header, the records, then the swap file section (one entry).
  t.is(b.toString('latin1', 64 + records * 32, 64 + records * 32 + 8), 'NIEXTSW1');
  t.is(b.readUInt32LE(64 + records * 32 + 8), 1);
  t.is((await run(helperPath, ['trust', '--pagefile-skip', s.dev, table, bitmap])).stdout.split('\n')[0], `PAGEFILE ${2048 - HEAD}`);
  // The older format ends after the records.
  const old = b.subarray(0, 64 + records * 32);
  await writeFile(table, old);
  const out = (await run(helperPath, ['trust', '--pagefile-skip', s.dev, table, bitmap])).stdout.trim().split('\n');
  t.is(out[0], "PAGEFILE 0 the image's inode table has no swap file block maps (taken before netimage recorded them)");
  t.regex(out[1]!, /^OK 4096 \d+ [1-9]\d* [1-9]\d* 1$/);
  // Through a restore: metadata.json names the old table's sha256 as a backup from before would.
  const metaFile = join(imageDir(s.store, 'swap'), 'metadata.json');
  const meta = JSON.parse(await readFile(metaFile, 'utf8'));
  meta.chunked.inodeTable.sha256 = createHash('sha256').update(old).digest('hex');
  await writeFile(metaFile, JSON.stringify(meta, null, 2));
  await pokeDevice(s.dev, s.swapBlocks[1200]! * BLOCK, Buffer.alloc(BLOCK, 0x77));
  const { r, lines } = await restore(s, 'skip');
  t.is(r.mode, 'delta');
  t.true(r.applied!.trustedChunks > 0, 'the records are still used');
  t.true(lines.includes("pagefile=skip not applied: the image's inode table has no swap file block maps (taken before netimage recorded them); compared like every other file"), lines.join('\n'));
  t.is(await usedDigest(s.dev, s.stream), await usedDigest(s.ref, s.stream));
});
