// Chunked images and delta restore on loop devices (ext4, 128 MiB): after a delta restore every
// block the image marks used equals what stock `zstd -dc | partclone.restore` of the same image
// writes, for several change patterns; a reformatted target gets a full restore; a chunk that
// does not match its hash is never written; a full restore stops at a damaged frame; a SIGKILL
// mid-delta or mid-full is completed by the next run; stream images (netimage-image/1) still
// restore.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition } from '../../imaging/restore.ts';
import { CHUNKS_FILE, chunkIndex, decodeSeekTable, parseSeekFooter, SEEK_FOOTER_BYTES } from '../../imaging/chunked/format.ts';
import { imageDir, readMetadata, writeMetadata } from '../../imaging/store/store.ts';
import { deltaFixture, type DeltaFixture } from './helpers/delta-fixture.ts';
import { helper, ROOT } from './helpers/loop.ts';
import { streamDataDigest, usedDigest } from './helpers/used-blocks.ts';

let ctx: DeltaFixture;

test.before(async (t) => {
  ctx = await deltaFixture('ext4', 'base');
  t.is(ctx.backup.metadata.format, 'netimage-image/2');
});

async function verifyFiles(dev: string): Promise<void> {
  const v = await helper(['verify', dev, 'ext4', ctx.manifest]);
  if (!v.ok) throw new Error(`files differ after restore: ${v.bad.join(', ')}`);
  await run('e2fsck', ['-fn', dev]);
}

/** Runs a restore of "base" onto ctx.a in a child that pauses after `after` written chunks, and SIGKILLs it there; false if it never paused. */
async function killRestoreWhenPaused(extraArgs: string[], after: number): Promise<boolean> {
  const script = join(ROOT, 'test/imaging/helpers/restore-run.ts');
  const child = spawn(process.execPath, [script, ctx.store, 'base', ctx.a, ...extraArgs], { env: { ...process.env, NETIMAGE_TEST_HOOK_PAUSE_RESTORE_AFTER: String(after) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const paused = await new Promise<boolean>((resolve) => {
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('test hook: paused')) resolve(true);
    });
    child.on('close', () => resolve(false));
  });
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('close', r));
  return paused;
}

test.serial('stock partclone.restore restores a chunked image; its used blocks are the image stream', async (t) => {
  t.is(ctx.refDigest, streamDataDigest(ctx.stream));
  await verifyFiles(ctx.ref);
});

// rewrite: small files in place; replace: a file written anew and renamed over the old one; new:
// new files; large: a big file rewritten whole; pagefile: scattered small in-place writes into the
// largest file; rmdir: a deleted directory; class: pagefile + replace + new + rmdir at once.
for (const change of ['rewrite', 'replace', 'new', 'large', 'pagefile', 'rmdir', 'class']) {
  test.serial(`delta restore after "${change}" writes only changed chunks and equals a full restore`, async (t) => {
    await helper(['change', ctx.a, 'ext4', change]);
    t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'the change touched used blocks');
    const lines: string[] = [];
    const r = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, log: (l) => lines.push(l) });
    t.is(r.mode, 'delta');
    t.true(r.applied!.writtenChunks > 0 && r.applied!.writtenChunks < r.applied!.chunks / 2, `${r.applied!.writtenChunks} of ${r.applied!.chunks}`);
    t.true(lines.some((l) => /delta: \d+ of \d+ chunks written/.test(l)), lines.join('\n'));
    t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
    await verifyFiles(ctx.a);
    t.regex(await readFile(join(ctx.store, 'master.log'), 'utf8'), /restore done image=base device=\S+ mode=delta chunks=\d+\/\d+ written=\d+/);
  });
}

test.serial('a reformatted target gets a full restore, verified chunk by chunk', async (t) => {
  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', ctx.a]);
  const lines: string[] = [];
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, log: (l) => lines.push(l) });
  t.is(r.mode, 'full');
  t.is(r.applied!.writtenChunks, r.applied!.chunks);
  t.true(lines.some((l) => l.startsWith('full restore: the target holds ext4')), lines.join('\n'));
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('SIGKILL during a delta restore: the next run completes it', async (t) => {
  await helper(['change', ctx.a, 'ext4', 'large']);
  t.true(await killRestoreWhenPaused([], 2), 'the restore reached the test hook');
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'killed half way');
  const again = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a });
  t.is(again.mode, 'delta');
  t.true(again.applied!.writtenChunks > 0);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('a chunk whose data does not match the index is never written', async (t) => {
  // Same image, index entry of one chunk altered (and the index re-signed): the frame decompresses
  // fine but is not what the index promises.
  const dir = imageDir(ctx.store, 'base');
  const bad = join(ctx.store, 'bad');
  await run('cp', ['-a', dir, bad]);
  const index = chunkIndex.parse(JSON.parse(await readFile(join(bad, CHUNKS_FILE), 'utf8')));
  const victim = index.chunks[Math.floor(index.chunks.length / 2)]!;
  victim[1] = '0'.repeat(64);
  const text = `${JSON.stringify(index)}\n`;
  await writeFile(join(bad, CHUNKS_FILE), text);
  const meta = await readMetadata(ctx.store, 'bad');
  await writeMetadata(bad, { ...meta, name: 'bad', chunked: { ...meta.chunked!, indexSha256: createHash('sha256').update(text).digest('hex') } });
  // Blank the victim chunk's span on the target so any write to it would show.
  const span = index.chunkBlocks * index.blockSize;
  await run('dd', ['if=/dev/zero', `of=${ctx.a}`, `bs=${span}`, `seek=${victim[0]}`, 'count=1', 'conv=notrunc,fsync', 'status=none']);
  // restore_mode=compare: the dd above is a raw write under the file system, which only compare
  // sees (delta would trust the chunk by its inode records and never read it).
  const err = await t.throwsAsync(restorePartition({ storeRoot: ctx.store, imageName: 'bad', device: ctx.a, mode: 'compare' }));
  t.regex(err!.message, new RegExp(`chunk ${victim[0]} does not match its sha256`));
  const fh = await open(ctx.a, 'r');
  const buf = Buffer.alloc(span);
  await fh.read(buf, 0, span, victim[0] * span);
  await fh.close();
  t.true(buf.every((x) => x === 0), 'nothing of the unverified chunk reached the disk');
  t.regex(await readFile(join(ctx.store, 'master.log'), 'utf8'), /restore FAILED image=bad/);
  // The good image still brings the target back.
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a });
  t.is(r.mode, 'delta');
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
});

test.serial('a full restore stops at a damaged frame: the chunks before it are written, nothing from it on', async (t) => {
  // chunkapply decodes and verifies frames ahead of the writes: a damaged frame in the middle must
  // still leave every later chunk unwritten, though later frames were verified before the failure.
  const dir = imageDir(ctx.store, 'base');
  const torn = join(ctx.store, 'torn');
  await run('cp', ['-a', dir, torn]);
  const index = chunkIndex.parse(JSON.parse(await readFile(join(torn, CHUNKS_FILE), 'utf8')));
  const img = await open(join(torn, 'image.pcl.zst'), 'r+');
  const size = (await img.stat()).size;
  const footer = parseSeekFooter((await img.read(Buffer.alloc(SEEK_FOOTER_BYTES), 0, SEEK_FOOTER_BYTES, size - SEEK_FOOTER_BYTES)).buffer);
  if (typeof footer === 'string') throw new Error(footer);
  const frames = decodeSeekTable((await img.read(Buffer.alloc(footer.tableBytes), 0, footer.tableBytes, size - footer.tableBytes)).buffer);
  if (typeof frames === 'string') throw new Error(frames);
  // Frame 0 is the header; chunk position p is frame p + 1.
  const victimPos = Math.floor(index.chunks.length / 2);
  t.true(victimPos >= 2 && victimPos + 2 < index.chunks.length, `${index.chunks.length} chunks`);
  const at = frames.slice(0, victimPos + 1).reduce((a, f) => a + f.compressed, 0);
  const garbage = Buffer.alloc(64, 0xa5);
  await img.write(garbage, 0, garbage.length, at + Math.floor(frames[victimPos + 1]!.compressed / 2));
  await img.close();
  const meta = await readMetadata(ctx.store, 'base');
  await writeMetadata(torn, { ...meta, name: 'torn' });
  const span = index.chunkBlocks * index.blockSize;
  const deviceBytes = Number((await run('blockdev', ['--getsize64', ctx.a])).stdout.trim());
  await run('dd', ['if=/dev/zero', `of=${ctx.a}`, `bs=${span}`, `count=${deviceBytes / span}`, 'conv=notrunc,fsync', 'status=none']);
  const err = await t.throwsAsync(restorePartition({ storeRoot: ctx.store, imageName: 'torn', device: ctx.a, mode: 'full' }));
  t.regex(err!.message, new RegExp(`the image is damaged: chunk ${index.chunks[victimPos]![0]} (does not decompress|does not match its sha256)`));
  // ctx.ref: stock partclone.restore of the image onto a zeroed device, as ctx.a was.
  const fa = await open(ctx.a, 'r');
  const fr = await open(ctx.ref, 'r');
  const got = Buffer.alloc(span);
  const want = Buffer.alloc(span);
  let laterWithData = 0;
  try {
    for (const [pos, [k]] of index.chunks.entries()) {
      await fa.read(got, 0, span, k * span);
      await fr.read(want, 0, span, k * span);
      if (pos < victimPos) t.true(got.equals(want), `chunk ${k} (before the damaged one) was written`);
      else {
        t.true(got.every((x) => x === 0), `chunk ${k} (${pos === victimPos ? 'damaged' : 'after the damaged one'}) was not written`);
        if (pos > victimPos && want.some((x) => x !== 0)) laterWithData++;
      }
    }
  } finally {
    await fa.close();
    await fr.close();
  }
  t.true(laterWithData > 0, 'chunks after the damaged one hold data a write would have shown');
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, mode: 'full' });
  t.is(r.applied!.writtenChunks, r.applied!.chunks);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
});

test.serial('SIGKILL during a full restore: exactly the chunks written so far are on the disk, the next run completes it', async (t) => {
  // chunkapply's writer threads: the pause hook (a power cut after N written chunks) must find
  // chunks 0..N-1 complete and nothing later, though the decoders ran ahead.
  const index = chunkIndex.parse(JSON.parse(await readFile(join(imageDir(ctx.store, 'base'), CHUNKS_FILE), 'utf8')));
  const span = index.chunkBlocks * index.blockSize;
  const deviceBytes = Number((await run('blockdev', ['--getsize64', ctx.a])).stdout.trim());
  await run('dd', ['if=/dev/zero', `of=${ctx.a}`, `bs=${span}`, `count=${deviceBytes / span}`, 'conv=notrunc,fsync', 'status=none']);
  t.true(await killRestoreWhenPaused(['full'], 3), 'the restore reached the test hook');
  const fa = await open(ctx.a, 'r');
  const fr = await open(ctx.ref, 'r');
  const got = Buffer.alloc(span);
  const want = Buffer.alloc(span);
  try {
    for (const [pos, [k]] of index.chunks.entries()) {
      await fa.read(got, 0, span, k * span);
      await fr.read(want, 0, span, k * span);
      if (pos < 3) t.true(got.equals(want), `chunk ${k} (one of the first 3) was written whole`);
      else t.true(got.every((x) => x === 0), `chunk ${k} was not written`);
    }
  } finally {
    await fa.close();
    await fr.close();
  }
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, mode: 'full' });
  t.is(r.applied!.writtenChunks, r.applied!.chunks);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('stream images (netimage-image/1) still back up and restore', async (t) => {
  const b = await backupPartition({ storeRoot: ctx.store, device: ctx.a, imageName: 'old', format: 'stream' });
  t.is(b.metadata.format, 'netimage-image/1');
  t.is(b.metadata.chunked, undefined);
  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', ctx.a]);
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'old', device: ctx.a });
  t.is(r.mode, 'stream');
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('restore_mode: auto restores in full where this disk wrote faster than delta compared, delta compares anyway, and auto returns to delta when delta was faster', async (t) => {
  const masterLog = join(ctx.store, 'master.log');
  const history = (mode: string, written: number, compared: number, seconds: number) =>
    `2026-12-02T10:00:00.000Z restore done image=base device=${ctx.a} mode=${mode} chunks=1/1 written=${written} compared=${compared} seconds=${seconds}\n`;
  // This disk's past, as master.log keeps it: a delta at 400 MB/s compared, a full at 800 MB/s written.
  await writeFile(masterLog, (await readFile(masterLog, 'utf8')) + history('delta', 1e8, 4e9, 10) + history('full', 4e9, 0, 5));
  await helper(['change', ctx.a, 'ext4', 'rewrite']);
  const lines: string[] = [];
  const auto = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, mode: 'auto', log: (l) => lines.push(l) });
  t.is(auto.mode, 'full');
  t.true(lines.some((l) => l.startsWith('full restore: restore_mode=auto: on this disk the last full restore wrote 800 MB/s')), lines.join('\n'));
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);

  await helper(['change', ctx.a, 'ext4', 'rewrite']);
  const delta = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, mode: 'delta' });
  t.is(delta.mode, 'delta');
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);

  // A later delta that compared far faster than any full wrote: auto goes back to delta.
  await writeFile(masterLog, (await readFile(masterLog, 'utf8')) + history('delta', 1e8, 4e10, 1));
  await helper(['change', ctx.a, 'ext4', 'rewrite']);
  const back = await restorePartition({ storeRoot: ctx.store, imageName: 'base', device: ctx.a, mode: 'auto' });
  t.is(back.mode, 'delta');
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});
