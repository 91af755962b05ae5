// Chunked images: backup against the stream image, full restore against raw `zstd -dc | partclone.restore`
// of the same file, and delta restore after 0.5 / 2 / 10 % of the used data changed, all in one run
// on one loop device (ratios against references measured in the same run: >1 = ours faster).
//   node bench/delta.ts [--data-mib 800] [--runs 3] [--chunk-kib 1024] [--node]
// Chunked rows use the C chunk helpers (imaging/chunked/native/, built here if missing) as netimage
// does; --node adds rows for Node's own writer and applier (the fallback, NETIMAGE_CHUNK_HELPERS=off).
// Re-executes itself in a private mount namespace; cleans up its loop device and temp dir. The
// backing file sits in the page cache: the figures compare CPU and pipeline cost, not disk speed.
// Change pattern: runs of 256 KiB–4 MiB of random bytes written over used blocks at random places
// (file-sized rewrites, scattered), until the percentage of used bytes is reached.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run, runAllowFailure } from '../lib/process.ts';
import { backupPartition } from '../imaging/backup.ts';
import { restorePartition } from '../imaging/restore.ts';
import { withMount } from '../imaging/mount.ts';
import { blockUsed, PCL_DESC_BYTES } from '../imaging/chunked/format.ts';
import { buildChunkHelpers, HELPER_CACHE, onNodePath as nodePath } from '../imaging/chunked/native.ts';
import { repoRoot } from '../lib/paths.ts';

if (!process.env['NETIMAGE_BENCH_NS']) {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, NETIMAGE_BENCH_NS: '1' } });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({ options: { 'data-mib': { type: 'string', default: '800' }, runs: { type: 'string', default: '3' }, 'chunk-kib': { type: 'string', default: '1024' }, node: { type: 'boolean', default: false } } });
const withNode = values.node;
const dataMiB = Number(values['data-mib']);
const runs = Number(values.runs);
const MiB = 1024 * 1024;
const partMiB = Math.ceil((dataMiB * 1.5) / 256) * 256;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function cpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0) / 100;
}
const wall: Record<string, number[]> = {};
const cpu: Record<string, number[]> = {};
async function time(key: string, fn: () => Promise<unknown>): Promise<void> {
  await run('sync', []);
  const c0 = await cpuSeconds();
  const t = performance.now();
  await fn();
  (wall[key] ??= []).push((performance.now() - t) / 1000);
  (cpu[key] ??= []).push((await cpuSeconds()) - c0);
}

const dir = await mkdtemp(join(tmpdir(), 'ni-bench-delta-'));
await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
const file = join(dir, 'part.img');
await writeFile(file, '');
await truncate(file, partMiB * MiB);
const dev = (await run('losetup', ['-f', '--show', file])).stdout.trim();
try {
  await run('mkfs.ext4', ['-q', '-F', '-b', '4096', dev]);
  await withMount(dev, async (m) => {
    let written = 0;
    for (let i = 0; written < dataMiB * MiB; i++) {
      const size = (4 + (i % 7) * 4) * MiB;
      const buf = i % 2 === 0 ? randomBytes(size) : Buffer.from(`bench line ${i} netimage `.repeat(size / 16).slice(0, size));
      await writeFile(join(m, `f${i}.bin`), buf);
      written += size;
    }
    await mkdir(join(m, 'small'));
    for (let k = 0; k < 2000; k++) await writeFile(join(m, 'small', `s${k}`), randomBytes(4096 + (k % 13) * 1024));
  });
  const store = join(dir, 'store');
  await mkdir(store);
  const chunkBytes = Number(values['chunk-kib']) * 1024;
  let meta;
  for (let r = 0; r < runs; r++) {
    await time('backupStream', () => backupPartition({ storeRoot: store, device: dev, imageName: 'stream', format: 'stream' }));
    await time('backupChunked', async () => (meta = (await backupPartition({ storeRoot: store, device: dev, imageName: 'chunked', chunkBytes })).metadata));
    if (withNode) await time('backupNode', () => nodePath(() => backupPartition({ storeRoot: store, device: dev, imageName: 'by-node', chunkBytes })));
  }
  const img = join(store, 'chunked', 'image.pcl.zst');
  // The used-block map, to aim the changes at used data.
  await run('sh', ['-ec', `zstd -dcq "${img}" | head -c 50000000 > "${dir}/head.pcl"`]);
  const head = await readFile(join(dir, 'head.pcl'));
  const bs = head.readUInt32LE(84);
  const total = Number(head.readBigUInt64LE(60));
  const bitmap = head.subarray(PCL_DESC_BYTES, PCL_DESC_BYTES + Math.ceil(total / 8));
  const used: number[] = [];
  for (let b = 0; b < total; b++) if (blockUsed(bitmap, b)) used.push(b);
  const change = async (percent: number) => {
    const fh = await open(dev, 'r+');
    let left = Math.floor((used.length * bs * percent) / 100);
    while (left > 0) {
      const len = Math.min(left, randomInt(64, 1024) * 4096);
      await fh.write(randomBytes(len), 0, len, used[randomInt(used.length)]! * bs);
      left -= len;
    }
    await fh.close();
  };
  const applied: Record<string, { chunks: number; written: number }> = {};
  for (let r = 0; r < runs; r++) {
    const raw = () => time('fullRaw', () => run('sh', ['-ec', `zstd -dc -q "${img}" | partclone.restore -f 1 -s - -o ${dev} >/dev/null 2>&1`]));
    if (r % 2 === 0) await raw();
    await time('fullChunked', () => restorePartition({ storeRoot: store, imageName: 'chunked', device: dev, mode: 'full' }));
    if (withNode) await time('fullNode', () => nodePath(() => restorePartition({ storeRoot: store, imageName: 'chunked', device: dev, mode: 'full' })));
    if (r % 2 === 1) await raw();
    await time('fullStream', () => restorePartition({ storeRoot: store, imageName: 'stream', device: dev }));
    for (const p of [0, 0.5, 2, 10]) {
      await change(p);
      await time(`delta${p}`, async () => {
        const res = await restorePartition({ storeRoot: store, imageName: 'chunked', device: dev });
        if (res.mode !== 'delta') throw new Error('expected a delta restore');
        applied[`delta${p}`] = { chunks: res.applied!.chunks, written: res.applied!.writtenChunks };
      });
      if (!withNode) continue;
      await change(p);
      await time(`deltaNode${p}`, async () => {
        const res = await nodePath(() => restorePartition({ storeRoot: store, imageName: 'chunked', device: dev }));
        applied[`deltaNode${p}`] = { chunks: res.applied!.chunks, written: res.applied!.writtenChunks };
      });
    }
  }
  const m = (k: string) => median(wall[k]!);
  const c = (k: string) => median(cpu[k]!);
  const usedMB = (meta!.usedBytes / 1e6).toFixed(0);
  console.log(`delta bench: ext4 ${partMiB} MiB, ${usedMB} MB used, chunked image ${(meta!.imageBytes / 1e6).toFixed(0)} MB (${meta!.chunked!.frames - 1} chunks of ${chunkBytes / 1024} KiB), median of ${runs}`);
  console.log('| step | wall s | CPU s | reference | ratio wall (ref/ours) | ratio CPU |');
  console.log('|---|---|---|---|---|---|');
  const row = (label: string, k: string, ref: string, refLabel: string) =>
    console.log(`| ${label} | ${m(k).toFixed(2)} | ${c(k).toFixed(2)} | ${refLabel} ${m(ref).toFixed(2)} s | ${(m(ref) / m(k)).toFixed(3)}x | ${(c(ref) / c(k)).toFixed(3)}x |`);
  row('backup, chunked (chunkcut)', 'backupChunked', 'backupStream', 'stream backup');
  row('full restore, chunked by chunkapply (verify as it goes)', 'fullChunked', 'fullRaw', 'raw zstd -dc | partclone.restore');
  row('full restore, stream image (verify first)', 'fullStream', 'fullRaw', 'raw');
  for (const p of [0, 0.5, 2, 10]) {
    const a = applied[`delta${p}`]!;
    row(`delta restore, ${p} % changed (${a.written}/${a.chunks} chunks written)`, `delta${p}`, 'fullRaw', 'raw full');
  }
  if (withNode) {
    row('backup, chunked by Node (fallback)', 'backupNode', 'backupStream', 'stream backup');
    row('full restore, chunked by Node (fallback)', 'fullNode', 'fullRaw', 'raw zstd -dc | partclone.restore');
    for (const p of [0, 0.5, 2, 10]) {
      const a = applied[`deltaNode${p}`]!;
      row(`delta restore by Node, ${p} % changed (${a.written}/${a.chunks} chunks written)`, `deltaNode${p}`, 'fullRaw', 'raw full');
    }
  }
  console.log(`load average at the end: ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`);
  console.log(`all runs (wall s): ${JSON.stringify(wall, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(3)) : v))}`);
  console.log(`all runs (CPU s): ${JSON.stringify(cpu, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(3)) : v))}`);
} finally {
  await runAllowFailure('losetup', ['-d', dev]);
  await rm(dir, { recursive: true, force: true });
}

