// Imaging throughput: our backup/restore against the raw `partclone | zstd` shell pipeline and
// against dd of the whole partition, in one run on the same loop device, as ratios.
//   node bench/imaging.ts [--data-mib 1200] [--runs 3] [--sector 512]
// Re-executes itself in a private mount namespace; cleans up its loop device and temp dir.
// The data sits in the page cache (sparse file behind a loop device), so the figures compare
// pipeline overhead and CPU cost, not disk speed.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run, runAllowFailure } from '../lib/process.ts';
import { backupPartition } from '../imaging/backup.ts';
import { restorePartition } from '../imaging/restore.ts';
import { planLayout } from '../imaging/planner.ts';
import { parseSize } from '../lib/sizes.ts';
import { prepareDisks } from '../imaging/prepare.ts';
import { discoverDisks } from '../imaging/disks/lsblk.ts';
import { mountTemp, withMount } from '../imaging/mount.ts';
import { sha256File } from '../imaging/store/store.ts';

if (!process.env['NETIMAGE_BENCH_NS']) {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NETIMAGE_BENCH_NS: '1' },
  });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({ options: { 'data-mib': { type: 'string', default: '1200' }, runs: { type: 'string', default: '3' }, sector: { type: 'string', default: '512' } } });
const dataMiB = Number(values['data-mib']);
const runs = Number(values.runs);
const MiB = 1024 * 1024;
const sysMiB = Math.max(1024, Math.ceil((dataMiB * 1.6) / 256) * 256);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const best = (xs: number[]) => Math.min(...xs);
/** CPU seconds used so far by this process and its waited-for children (utime+stime+cutime+cstime). */
async function cpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0);
  return ticks / 100; // USER_HZ
}
const cpu: Record<string, number[]> = {};
async function time(fn: () => Promise<unknown>, key?: string): Promise<number> {
  // Flush earlier steps' dirty pages first, so one step's writeback does not land in the next one's time.
  await run('sync', []);
  const c0 = await cpuSeconds();
  const t = performance.now();
  await fn();
  const wall = (performance.now() - t) / 1000;
  if (key) (cpu[key] ??= []).push((await cpuSeconds()) - c0);
  return wall;
}
const sh = (cmd: string) => run('sh', ['-ec', cmd]);

const dir = await mkdtemp(join(tmpdir(), 'ni-bench-'));
const file = join(dir, 'disk.img');
await writeFile(file, '');
// system + a backup partition big enough for a dd image and two compressed images
await truncate(file, (sysMiB * 2 + 260 + 16 + 2 * dataMiB + 1024) * MiB);
const loop = (await run('losetup', ['-f', '--show', '--sector-size', values.sector, file])).stdout.trim();
let store: { dir: string; unmount: () => Promise<void> } | null = null;
try {
  const [disk] = await discoverDisks([loop]);
  const plan = planLayout({
    diskBytes: disk!.sizeBytes,
    logicalSectorSize: disk!.logicalSectorSize,
    firmware: 'uefi',
    osFamily: 'linux',
    systemPartitionSize: parseSize(`${sysMiB}M`),
    dataPartitionSize: parseSize('0G'),
    winpePartitionSize: parseSize('0G'),
    minimalBackupPercent: 10,
    backupOnSameDisk: true,
  });
  const prep = await prepareDisks({ systemDisk: disk!, backupDisk: null, plan, firmware: 'uefi', osFamily: 'linux' });
  const sys = prep.systemDevice;
  // Data: half random (incompressible), half text (compressible), big and small files.
  await withMount(sys, async (m) => {
    let written = 0;
    let i = 0;
    await mkdir(join(m, 'small'));
    while (written < dataMiB * MiB) {
      const size = 16 * MiB;
      const buf = i % 2 === 0 ? randomBytes(size) : Buffer.from(`bench line ${i} netimage `.repeat(size / 16).slice(0, size));
      await writeFile(join(m, `f${i}.bin`), buf);
      written += size;
      i++;
    }
    for (let k = 0; k < 2000; k++) await writeFile(join(m, 'small', `s${k}`), randomBytes(4096 + (k % 13) * 1024));
  });
  store = await mountTemp(prep.backupDevice, { fsType: 'ext4' });
  const root = store.dir;
  const partBytes = (await run('blockdev', ['--getsize64', sys])).stdout.trim();
  const rawImg = join(root, 'raw.pcl.zst');
  const ddImg = join(root, 'dd.img');

  const t = { rawSyncB: [] as number[], pipeB: [] as number[], hashTailB: [] as number[], syncB: [] as number[], verifyR: [] as number[], rawB: [] as number[], ourB: [] as number[], ddB: [] as number[], rawR: [] as number[], ourR: [] as number[], ddR: [] as number[], hashNode: [] as number[], hashCli: [] as number[] };
  let usedBytes = 0;
  let imageBytes = 0;
  for (let r = 0; r < runs; r++) {
    const rawBackup = async () => t.rawB.push(await time(() => sh(`partclone.ext4 -a0 -f 1 --rescue --clone --force -s ${sys} -o - 2>/dev/null | zstd -T0 -3 -q -c > ${rawImg}`), 'rawB'));
    if (r % 2 === 0) await rawBackup();
    t.rawSyncB.push(await time(() => sh(`partclone.ext4 -a0 -f 1 --rescue --clone --force -s ${sys} -o - 2>/dev/null | zstd -T0 -3 -q -c > ${rawImg}; sync ${rawImg}`)));
    t.ourB.push(
      await time(async () => {
        const b = await backupPartition({ storeRoot: root, device: sys, imageName: 'bench' });
        usedBytes = b.metadata.usedBytes;
        imageBytes = b.metadata.imageBytes;
        t.pipeB.push(b.pipelineSeconds);
        t.hashTailB.push(b.hashSeconds);
        t.syncB.push(b.syncSeconds);
      }, 'ourB'),
    );
    if (r % 2 === 1) await rawBackup();
    t.ddB.push(await time(() => sh(`dd if=${sys} of=${ddImg} bs=4M conv=fsync status=none`)));
    t.hashNode.push(await time(() => sha256File(join(root, 'bench', 'image.pcl.zst'))));
    t.hashCli.push(await time(() => sh(`sha256sum ${join(root, 'bench', 'image.pcl.zst')} >/dev/null`)));
    const rawRestore = async () => t.rawR.push(await time(() => sh(`zstd -dc -q ${rawImg} | partclone.restore -f 1 -s - -o ${sys} >/dev/null 2>&1`), 'rawR'));
    if (r % 2 === 0) await rawRestore();
    t.ourR.push(
      await time(async () => {
        const r = await restorePartition({ storeRoot: root, imageName: 'bench', device: sys });
        t.verifyR.push(r.verifySeconds);
      }, 'ourR'),
    );
    if (r % 2 === 1) await rawRestore();
    t.ddR.push(await time(() => sh(`dd if=${ddImg} of=${sys} bs=4M conv=fsync status=none`)));
  }
  const usedMB = usedBytes / 1e6;
  const b = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, best(v)])) as Record<keyof typeof t, number>;
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const fmt = (s: number) => `${s.toFixed(2)} s`;
  const rate = (s: number) => `${(usedMB / s).toFixed(0)} MB/s`;
  console.log(`imaging bench: ext4 ${sysMiB} MiB partition (${values.sector}-byte sectors), ${usedMB.toFixed(0)} MB used, image ${(imageBytes / 1e6).toFixed(0)} MB, median of ${runs}`);
  console.log(`| step | ours | raw partclone|zstd | dd whole partition | ours/raw | ours/dd |`);
  console.log(`|---|---|---|---|---|---|`);
  console.log(`| backup | ${fmt(m.ourB)} (${rate(m.ourB)}) | ${fmt(m.rawB)} (${rate(m.rawB)}) | ${fmt(m.ddB)} | ${(m.rawB / m.ourB).toFixed(3)}x | ${(m.ddB / m.ourB).toFixed(2)}x |`);
  console.log(`| restore | ${fmt(m.ourR)} (${rate(m.ourR)}) | ${fmt(m.rawR)} (${rate(m.rawR)}) | ${fmt(m.ddR)} | ${(m.rawR / m.ourR).toFixed(3)}x | ${(m.ddR / m.ourR).toFixed(2)}x |`);
  console.log(`| backup vs raw + sync of the image | | ${fmt(m.rawSyncB)} | | ${(m.rawSyncB / m.ourB).toFixed(3)}x | |`);
  console.log(`best of ${runs} (least disturbed by other load): backup ours ${fmt(b.ourB)} vs raw ${fmt(b.rawB)} = ${(b.rawB / b.ourB).toFixed(3)}x, vs raw+sync ${fmt(b.rawSyncB)} = ${(b.rawSyncB / b.ourB).toFixed(3)}x; restore ours ${fmt(b.ourR)} vs raw ${fmt(b.rawR)} = ${(b.rawR / b.ourR).toFixed(3)}x, restore without the verification ${((b.rawR / (b.ourR - b.verifyR))).toFixed(3)}x`);
  const c = (k: string) => median(cpu[k] ?? [0]);
  console.log(
    `CPU seconds (all processes, median; independent of other load): backup ours ${c('ourB').toFixed(2)} vs raw ${c('rawB').toFixed(2)} = ${(c('rawB') / c('ourB')).toFixed(3)}x; restore ours ${c('ourR').toFixed(2)} vs raw ${c('rawR').toFixed(2)} = ${(c('rawR') / c('ourR')).toFixed(3)}x`,
  );
  console.log(`ours, backup breakdown: pipeline incl. overlapped hash + fsync ${fmt(m.pipeB)}, hash tail after the pipeline ${fmt(m.hashTailB)}, fsync ${fmt(m.syncB)}; restore: verification before writing ${fmt(m.verifyR)}`);
  console.log(`(ratios are throughput ratios: >1 means ours is faster; partition ${(Number(partBytes) / 1e6).toFixed(0)} MB)`);
  console.log(`sha256 of the ${(imageBytes / 1e6).toFixed(0)} MB image: node:crypto ${fmt(m.hashNode)}, sha256sum ${fmt(m.hashCli)}`);
  const sizes = { dd: (await stat(ddImg)).size, ours: imageBytes };
  console.log(`image sizes: ours ${(sizes.ours / 1e6).toFixed(0)} MB, dd ${(sizes.dd / 1e6).toFixed(0)} MB`);
  console.log(`all runs (s): ${JSON.stringify(t, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(3)) : v))}`);
} finally {
  if (store) await store.unmount();
  await runAllowFailure('partx', ['-d', loop]);
  await runAllowFailure('losetup', ['-d', loop]);
  await rm(dir, { recursive: true, force: true });
}
