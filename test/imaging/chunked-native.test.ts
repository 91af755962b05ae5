// The C chunk helpers (imaging/chunked/native/) against Node's own writer and applier (the
// fallback, NETIMAGE_CHUNK_HELPERS=off): the same chunks.json and the same partclone stream from a
// backup, and byte-for-byte the same device after full and delta restores of the same image.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../lib/process.ts';
import { repoRoot } from '../../lib/paths.ts';
import { tempDir } from '../helpers/tempdir.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition } from '../../imaging/restore.ts';
import { CHUNKS_FILE, PCL_DESC_BYTES, parseStreamHead, usedPerChunk } from '../../imaging/chunked/format.ts';
import { buildChunkHelpers, HELPER_CACHE, onNodePath as nodePath } from '../../imaging/chunked/native.ts';
import { imageDir } from '../../imaging/store/store.ts';
import { deltaFixture, type DeltaFixture } from './helpers/delta-fixture.ts';
import { helper } from './helpers/loop.ts';
import { partcloneDescriptor } from './helpers/partclone-desc.ts';
import { usedDigest } from './helpers/used-blocks.ts';

let ctx: DeltaFixture;

test.before(async () => {
  ctx = await deltaFixture('ext4', 'native');
});

const deviceSha = async (dev: string) => createHash('sha256').update((await run('sh', ['-ec', `sha256sum < ${dev}`])).stdout).digest('hex');
const streamSha = async (file: string) => (await run('sh', ['-ec', `zstd -dcq "${file}" | sha256sum`])).stdout.split(' ')[0];

test.serial('backup: chunkcut and the Node writer give the same chunks.json and partclone stream', async (t) => {
  const lines: string[] = [];
  const native = await backupPartition({ storeRoot: ctx.store, device: ctx.a, imageName: 'by-c', format: 'chunked', log: (l) => lines.push(l) });
  t.true(lines.some((l) => l.includes('cut by chunkcut')), lines.join('\n'));
  const node = await nodePath(() => backupPartition({ storeRoot: ctx.store, device: ctx.a, imageName: 'by-node', format: 'chunked', log: (l) => lines.push(l) }));
  t.true(lines.some((l) => l.includes('cut by node')), lines.join('\n'));
  const index = async (name: string) => readFile(join(imageDir(ctx.store, name), CHUNKS_FILE), 'utf8');
  t.is(await index('by-c'), await index('by-node'));
  t.is(native.metadata.chunked!.indexSha256, node.metadata.chunked!.indexSha256);
  t.is(native.metadata.chunked!.frames, node.metadata.chunked!.frames);
  t.is(await streamSha(join(imageDir(ctx.store, 'by-c'), 'image.pcl.zst')), await streamSha(join(imageDir(ctx.store, 'by-node'), 'image.pcl.zst')));
  // The file's own sha256 (computed by chunkcut) is what store verification checks.
  t.is(native.metadata.sha256, createHash('sha256').update(await readFile(join(imageDir(ctx.store, 'by-c'), 'image.pcl.zst'))).digest('hex'));
});

test.serial('full and delta restore: chunkapply and the Node applier leave the same bytes on the device', async (t) => {
  // ctx.ref (its reference digest is taken) becomes the Node path's target: the same changed content on both.
  await helper(['change', ctx.a, 'ext4', 'rewrite']);
  await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
  const c = await restorePartition({ storeRoot: ctx.store, imageName: 'native', device: ctx.a });
  const n = await nodePath(() => restorePartition({ storeRoot: ctx.store, imageName: 'native', device: ctx.ref }));
  t.is(c.applied!.engine, 'chunkapply');
  t.is(n.applied!.engine, 'node');
  t.is(c.mode, 'delta');
  t.is(n.mode, 'delta');
  t.true(c.applied!.writtenChunks > 0);
  // (seconds: chunkapply's own timings, the Node path has none)
  const { seconds, ...cApplied } = c.applied!;
  t.truthy(seconds);
  t.deepEqual({ ...cApplied, engine: '' }, { ...n.applied!, engine: '' });
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  t.is(await deviceSha(ctx.a), await deviceSha(ctx.ref));

  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', ctx.a]);
  await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
  const cf = await restorePartition({ storeRoot: ctx.store, imageName: 'native', device: ctx.a });
  const nf = await nodePath(() => restorePartition({ storeRoot: ctx.store, imageName: 'native', device: ctx.ref }));
  t.is(cf.mode, 'full');
  t.is(nf.mode, 'full');
  t.is(cf.applied!.writtenChunks, cf.applied!.chunks);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  t.is(await deviceSha(ctx.a), await deviceSha(ctx.ref));
});

test.serial('chunkcut refuses a partclone stream that ends before its bitmap (it wrote an image of no blocks and said OK)', async (t) => {
  const helpers = await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
  const dir = await tempDir(t, 'chunkcut-cut');
  // A valid v2 descriptor of 64 blocks of 4 KiB, none used, and then nothing: partclone died there.
  const desc = partcloneDescriptor({ totalBlocks: 64n, usedBlocks: 0n, blockSize: 4096 });
  await writeFile(join(dir, 'stream'), desc);
  const r = await runAllowFailure('sh', ['-c', `"${join(helpers, 'chunkcut')}" 3 1048576 "${dir}/report" < "${dir}/stream" > "${dir}/image"`]);
  t.is(r.exitCode, 1, 'an image without its bitmap is not a backup');
  t.regex(r.stderr, /stream ended early .*bitmap/);
});

/**
 * mkfs on a loop device that was just written or unmounted: a probe after the close can hold
 * it for a moment ("apparently in use by the system"), so try again briefly before failing.
 */
async function mkfsExt4WhenFree(dev: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await runAllowFailure('mkfs.ext4', ['-q', '-F', '-b', '4096', dev]);
    if (r.exitCode === 0) return;
    if (!/in use/.test(r.stderr) || attempt >= 40) throw new Error(`mkfs.ext4 ${dev}: ${r.stderr.trim()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test.serial('a file system whose summary counts are stale (power cut while mounted): both cutters back it up by the bitmap; stock partclone and our restore bring the files back', async (t) => {
  // What a PC switched off while running leaves: block bitmaps on disk, the superblock's free
  // count from before. Made here by copying the device while it is mounted (after a sync).
  await mkfsExt4WhenFree(ctx.a);
  const mnt = await tempDir(t, 'stale-mnt');
  await run('mount', [ctx.a, mnt]);
  try {
    await run('sh', ['-ec', `head -c 24M /dev/urandom > "${mnt}/written-before-the-cut"; sync`]);
    await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
  } finally {
    await run('umount', [mnt]);
  }
  const streamFile = join(await tempDir(t, 'stale-stream'), 'stream.pcl');
  await run('sh', ['-ec', `partclone.ext4 -a0 -f 1 --rescue --clone --force --source ${ctx.ref} --output - 2>/dev/null > "${streamFile}"`]);
  const stream = await readFile(streamFile);
  const head = parseStreamHead(stream.subarray(0, PCL_DESC_BYTES));
  if (typeof head === 'string') return t.fail(head);
  const bitmapUsed = usedPerChunk(stream.subarray(PCL_DESC_BYTES, PCL_DESC_BYTES + head.bitmapStreamBytes), head.totalBlocks, 1 << 20).reduce((a, b) => a + b, 0);
  t.not(head.usedBlocks, bitmapUsed, 'the copy really has a stale summary count (else this test proves nothing)');

  const native = await backupPartition({ storeRoot: ctx.store, device: ctx.ref, imageName: 'stale-c', format: 'chunked' });
  const node = await nodePath(() => backupPartition({ storeRoot: ctx.store, device: ctx.ref, imageName: 'stale-node', format: 'chunked' }));
  t.is(native.metadata.chunked!.indexSha256, node.metadata.chunked!.indexSha256);
  const index = JSON.parse(await readFile(join(imageDir(ctx.store, 'stale-c'), CHUNKS_FILE), 'utf8')) as { usedBlocks: number };
  t.is(index.usedBlocks, bitmapUsed, 'the index counts what the bitmap marks');

  // Stock tools restore it (zstd -dc | partclone.restore), and so does ours; the file is there.
  await run('sh', ['-ec', `zstd -dcq "${join(imageDir(ctx.store, 'stale-c'), 'image.pcl.zst')}" | partclone.restore -q -s - -o ${ctx.a} >/dev/null 2>&1`]);
  const fileSha = async (dev: string) => {
    const m = await tempDir(t, 'stale-check');
    await run('mount', ['-o', 'ro', dev, m]);
    try {
      return (await run('sha256sum', [join(m, 'written-before-the-cut')])).stdout.split(' ')[0];
    } finally {
      await run('umount', [m]);
    }
  };
  const want = await fileSha(ctx.ref);
  t.is(await fileSha(ctx.a), want, 'stock partclone.restore');
  await mkfsExt4WhenFree(ctx.a);
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'stale-c', device: ctx.a });
  t.is(r.mode, 'full');
  t.is(await fileSha(ctx.a), want, 'our restore');
});
