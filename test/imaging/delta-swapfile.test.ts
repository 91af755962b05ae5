// A swap file on ext4 is never trusted by delta's inode records: the kernel writes swap pages (and
// a hibernation image with its signature) straight to the file's blocks without touching its
// inode, so an unchanged record proves nothing there. A raw write into a swap file's blocks, as
// the kernel makes, is put back by a delta restore; the other files' chunks are still trusted.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition } from '../../imaging/restore.ts';
import { buildChunkHelpers, HELPER_CACHE } from '../../imaging/chunked/native.ts';
import { repoRoot } from '../../lib/paths.ts';
import { createLoop, MiB } from './helpers/loop.ts';

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
