// Delta restore (with the file system's records: ext4 inodes, NTFS MFT records; and restore_mode=compare) against full restore on ext4 and NTFS partitions with >= 4 GB used, page cache
// dropped before every timed run, after a class-like change of 0.5 / 2 / 10 % of the used bytes
// made through the mounted filesystem (issue #14's "Must show"):
//   node bench/delta-fs.ts [--fs ext4,ntfs] [--used-gib 4.4] [--patterns 0.5,2,10] [--runs 1]
//                          [--dir /var/tmp] [--old-helpers DIR] [--pagefile-share 0.3] [--pagefile skip]
//   node bench/delta-fs.ts --only full [--runs 3] [--variants name:VAR=value,...]
// Per partition: a loop device (--direct-io=on) over a sparse file in --dir, filled like a Windows PC (a 1 GiB
// pagefile.sys, a system tree, programs, a browser cache of small files; on ext4 the 1 GiB file is
// a real swap file, mkswap'd and named swapfile, like Ubuntu's /swap.img), imaged once (chunked,
// C helpers). Per pattern and run: change -> delta restore; then full restore through chunkapply
// and the raw `zstd -dc | partclone.restore` reference, alternating which goes first. Every timed
// run starts after `sync; echo 3 > /proc/sys/vm/drop_caches` (global: other processes' cache goes
// too) and ends after `sync <device> <backing file>` (a restore is done when its data is on disk).
// The change: 30 % pagefile-like writes (64 KiB-1 MiB pieces in place at random offsets of
// pagefile.sys / swapfile, never into its first page, where the swap header sits), 30 % rewritten files (half in place, half written anew and renamed over the old
// one, as installers and editors do), 25 % new files, 15 % deleted cache directories
// (--pagefile-share S: S of the change into pagefile.sys, 0.6 - S rewritten files; with 0 the
// pagefile is not touched; ext4's inode records never vouch for a swap file, NTFS's never for
// pagefile.sys, touched or not).
// Bytes written/read are the loop device's own counters (/sys/block/loopN/stat); CPU seconds are
// this process and its children (chunkapply, zstd, partclone), not the kernel's loop workers.
// --pagefile skip: the delta restores run with the restore property pagefile=skip (NTFS: pagefile.sys,
// ext4: the swap file left as it is beyond its first MiB when its runlist / block map is the
// backup's); compare and full do not.
// --old-helpers DIR: also run each delta with the chunk helpers in DIR (NETIMAGE_CHUNK_HELPERS),
// e.g. an older chunkapply, after the same kind of change (A/B in one run).
// --only full: no change and no delta; per run the full restore by chunkapply, the raw pipeline
// and each --variants entry (a full restore with VAR=value in the environment, e.g.
// old:NETIMAGE_CHUNK_HELPERS=DIR or buffered:NETIMAGE_CHUNKAPPLY_WRITE=buffered), the order
// rotated from run to run.
// Re-executes itself in a private mount namespace; removes its loop devices and files.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run, runAllowFailure } from '../lib/process.ts';
import { backupPartition } from '../imaging/backup.ts';
import { restorePartition, type RestoreResult } from '../imaging/restore.ts';
import { buildChunkHelpers, findRecordsHelper, HELPER_CACHE } from '../imaging/chunked/native.ts';
import { recordsBackend } from '../imaging/chunked/fs-records.ts';
import { repoRoot } from '../lib/paths.ts';

if (!process.env['NETIMAGE_BENCH_NS']) {
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, NETIMAGE_BENCH_NS: '1' } });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({
  options: {
    fs: { type: 'string', default: 'ext4,ntfs' },
    'used-gib': { type: 'string', default: '4.4' },
    patterns: { type: 'string', default: '0.5,2,10' },
    runs: { type: 'string', default: '1' },
    dir: { type: 'string', default: '/var/tmp' },
    'old-helpers': { type: 'string' },
    only: { type: 'string' },
    variants: { type: 'string', default: '' },
    'pagefile-share': { type: 'string', default: '0.3' },
    pagefile: { type: 'string', default: 'restore' },
  },
});
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const usedTarget = Number(values['used-gib']) * GiB;
const partBytes = Math.ceil(usedTarget / 0.8 / GiB) * GiB;
const patterns = values.patterns.split(',').map(Number);
const runs = Number(values.runs);
if (values.only !== undefined && values.only !== 'full') throw new Error('--only takes "full"');
if (values.pagefile !== 'restore' && values.pagefile !== 'skip') throw new Error('--pagefile takes "restore" or "skip"');
const pagefileSetting: 'restore' | 'skip' = values.pagefile;
const variants = values.variants
  .split(',')
  .filter(Boolean)
  .map((v) => {
    const m = /^(\w+):(\w+)=(.*)$/.exec(v);
    if (!m) throw new Error(`--variants: "${v}" is not name:VAR=value`);
    return { name: m[1]!, key: m[2]!, value: m[3]! };
  });
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mb = (b: number) => (b / 1e6).toFixed(0);

// Content: "semi" = every 4 KiB block half random, half text (compresses ~2:1 like programs and
// system files), "random" = incompressible (media, archives, the browser cache).
const TEXT = Buffer.from('netimage bench text line 0123456789 abcdefghijklmnopqrstuvwxyz\n'.repeat(64)).subarray(0, 2048);
function content(size: number, kind: 'semi' | 'random'): Buffer {
  const b = randomBytes(size);
  if (kind === 'semi') for (let o = 2048; o < size; o += 4096) TEXT.copy(b, o, 0, Math.min(2048, size - o));
  return b;
}

interface Tree {
  pagefile: string;
  files: { path: string; size: number }[];
  cacheDirs: { path: string; size: number }[];
}

async function mounted<T>(dev: string, fs: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(values.dir, 'ni-bench-mnt-'));
  await run(fs === 'ntfs' ? 'ntfs-3g' : 'mount', [dev, dir]);
  try {
    return await fn(dir);
  } finally {
    await run('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

async function fill(root: string, fs: string): Promise<Tree> {
  const tree: Tree = { pagefile: fs === 'ntfs' ? 'pagefile.sys' : 'swapfile', files: [], cacheDirs: [] };
  const pf = await open(join(root, tree.pagefile), 'w', 0o600);
  for (let o = 0; o < GiB; o += 16 * MiB) await pf.write(content(16 * MiB, 'semi'), 0, 16 * MiB, o);
  await pf.close();
  // A real swap file (SWAPSPACE2 header in its first page), never swapped on here: what the
  // kernel writes into it later is what change() writes.
  if (fs !== 'ntfs') await run('mkswap', [join(root, tree.pagefile)]);
  const rest = usedTarget - GiB;
  const area = async (base: string, budget: number, perDir: number, size: () => number, kind: (i: number) => 'semi' | 'random', dirs?: Tree['cacheDirs']) => {
    let written = 0;
    for (let i = 0; written < budget; i++) {
      const d = join(base, `d${Math.floor(i / perDir)}`);
      if (i % perDir === 0) {
        await mkdir(join(root, d), { recursive: true });
        dirs?.push({ path: d, size: 0 });
      }
      const s = size();
      const rel = join(d, `f${i}.bin`);
      await writeFile(join(root, rel), content(s, kind(i)));
      if (dirs) dirs[dirs.length - 1]!.size += s;
      else tree.files.push({ path: rel, size: s });
      written += s;
    }
  };
  await area('Windows/System32', rest * 0.45, 40, () => randomInt(16, 2048) * 4096, () => 'semi');
  await area('Program Files', rest * 0.4, 10, () => randomInt(64, 8192) * 4096, (i) => (i % 2 ? 'semi' : 'random'));
  await area('Users/student/AppData/Local/Cache', rest * 0.15, 100, () => randomInt(1, 64) * 4096, () => 'random', tree.cacheDirs);
  return tree;
}

/** A class's worth of change: `budget` bytes through the filesystem (see the header). */
async function change(root: string, tree: Tree, budget: number, tag: string): Promise<number> {
  let changed = 0;
  // --pagefile-share 0: the pagefile is not touched, the files take its share.
  const pfShare = Number(values['pagefile-share']);
  const pf = pfShare > 0 ? await open(join(root, tree.pagefile), 'r+') : null;
  for (let left = budget * pfShare; pf && left > 0; ) {
    const len = randomInt(16, 257) * 4096;
    await pf.write(content(len, 'semi'), 0, len, randomInt(1, GiB / 4096 - 256) * 4096);
    left -= len;
    changed += len;
  }
  await pf?.close();
  const files = [...tree.files].sort(() => Math.random() - 0.5);
  for (let left = budget * (0.6 - pfShare), i = 0; left > 0 && i < files.length; i++) {
    const f = files[i]!;
    if (f.size > left * 2) continue;
    const p = join(root, f.path);
    if (i % 2) {
      const fh = await open(p, 'r+');
      await fh.write(content(f.size, 'semi'), 0, f.size, 0);
      await fh.close();
    } else {
      await writeFile(`${p}.new`, content(f.size, 'semi'));
      await rename(`${p}.new`, p);
    }
    left -= f.size;
    changed += f.size;
  }
  const dl = join(root, 'Users/student/Downloads', tag);
  await mkdir(dl, { recursive: true });
  for (let left = budget * 0.25, i = 0; left > 0; i++) {
    const s = Math.min(randomInt(64, 4096) * 4096, Math.ceil(left / 4096) * 4096);
    await writeFile(join(dl, `n${i}.bin`), content(s, i % 2 ? 'semi' : 'random'));
    left -= s;
    changed += s;
  }
  const dirs = [...tree.cacheDirs].sort(() => Math.random() - 0.5);
  for (let left = budget * 0.15, i = 0; left > 0 && i < dirs.length; i++) {
    if (dirs[i]!.size > left * 2) continue;
    await rm(join(root, dirs[i]!.path), { recursive: true });
    left -= dirs[i]!.size;
    changed += dirs[i]!.size;
  }
  return changed;
}

interface Sample {
  wall: number;
  cpu: number;
  /** Bytes the loop device wrote / read during the run. */
  written: number;
  read: number;
  load: number;
  /** The closing `sync <device> <backing file>`. */
  syncSeconds: number;
  result?: RestoreResult;
}

async function cpuSeconds(): Promise<number> {
  const f = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1]!.split(' ');
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0) / 100;
}
async function loopStat(dev: string): Promise<{ read: number; written: number }> {
  const f = (await readFile(`/sys/block/${dev.replace('/dev/', '')}/stat`, 'utf8')).trim().split(/\s+/).map(Number);
  return { read: f[2]! * 512, written: f[6]! * 512 };
}
async function measure(dev: string, backing: string, fn: () => Promise<RestoreResult | void>): Promise<Sample> {
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
  const load = Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
  const s0 = await loopStat(dev);
  const c0 = await cpuSeconds();
  const t0 = performance.now();
  const result = (await fn()) ?? undefined;
  const t1 = performance.now();
  await run('sync', [dev, backing]);
  const wall = (performance.now() - t0) / 1000;
  const syncSeconds = (performance.now() - t1) / 1000;
  const cpu = (await cpuSeconds()) - c0;
  const s1 = await loopStat(dev);
  return { wall, cpu, written: s1.written - s0.written, read: s1.read - s0.read, load, syncSeconds, result };
}

const MKFS: Record<string, (dev: string) => [string, string[]]> = {
  ext4: (dev) => ['mkfs.ext4', ['-q', '-F', '-b', '4096', dev]],
  ntfs: (dev) => ['mkntfs', ['--quick', '--force', '--label', 'system', dev]],
};

await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
const work = await mkdtemp(join(values.dir, 'ni-bench-deltafs-'));
const loops: string[] = [];
const report: string[] = [];

/** One file system is done: print its report, remove its loop device, backing file and store. */
async function endPartition(dev: string, backing: string, store: string): Promise<void> {
  console.log(report.join('\n'));
  report.length = 0;
  await runAllowFailure('losetup', ['-d', dev]);
  loops.splice(loops.indexOf(dev), 1);
  await rm(backing, { force: true });
  await rm(store, { recursive: true, force: true });
}
const raw: Record<string, unknown> = {};
try {
  for (const fs of values.fs.split(',')) {
    const backing = join(work, `${fs}.img`);
    await writeFile(backing, '');
    await truncate(backing, partBytes);
    // --direct-io=on: the loop device reads and writes its backing file with O_DIRECT, so it has
    // one page cache (its own), like a disk; without it every read goes through the backing
    // file's cache too (measured 140-360 MB/s against ~500-770 MB/s from the disk).
    const dev = (await run('losetup', ['--direct-io=on', '-f', '--show', backing])).stdout.trim();
    loops.push(dev);
    const [mkfs, args] = MKFS[fs]!(dev);
    await run(mkfs, args);
    let t = performance.now();
    const tree = await mounted(dev, fs, (root) => fill(root, fs));
    console.error(`${fs}: filled in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const store = join(work, `store-${fs}`);
    await mkdir(store);
    // The backup without and with the record table (ext4records / ntfsrecords beside partclone),
    // page cache dropped before each, and the helper alone: what recording the table costs a backup.
    const backupLines: string[] = [];
    const backend = recordsBackend(fs)!;
    {
      process.env['NETIMAGE_FS_RECORDS'] = 'off';
      const plain = await measure(dev, backing, async () => void (await backupPartition({ storeRoot: store, device: dev, imageName: 'plain' })));
      delete process.env['NETIMAGE_FS_RECORDS'];
      await rm(join(store, 'plain'), { recursive: true, force: true });
      const helper = findRecordsHelper(backend.helper);
      const table = join(work, `alone.${fs}`);
      const alone = helper ? await measure(dev, backing, async () => void (await run(helper, ['record', dev, table]))) : null;
      const tableBytes = helper ? (await stat(table)).size : 0;
      await rm(table, { force: true });
      backupLines.push(`backup without ${backend.table}: ${plain.wall.toFixed(1)} s (load ${plain.load}); ${backend.helper} record alone: ${alone?.wall.toFixed(2)} s, read ${mb(alone?.read ?? 0)} MB (load ${alone?.load}), table ${(tableBytes / 1e6).toFixed(1)} MB`);
    }
    const got: { meta?: Awaited<ReturnType<typeof backupPartition>>['metadata'] } = {};
    const withTable = await measure(dev, backing, async () => void (got.meta = (await backupPartition({ storeRoot: store, device: dev, imageName: 'pc', log: (l) => console.error(`${fs}: ${l}`) })).metadata));
    backupLines.push(`backup with ${backend.table}: ${withTable.wall.toFixed(1)} s (load ${withTable.load})`);
    console.error(`${fs}: ${backupLines.join('; ')}`);
    const meta = got.meta;
    if (!meta) throw new Error('no backup');
    const img = join(store, 'pc', 'image.pcl.zst');
    const used = meta.usedBytes;
    const samples: Record<string, Sample[]> = {};
    const changed: Record<string, number[]> = {};
    const add = (k: string, s: Sample) => {
      (samples[k] ??= []).push(s);
      console.error(`${fs} ${k}: ${s.wall.toFixed(2)} s, ${s.cpu.toFixed(2)} CPU-s, wrote ${mb(s.written)} MB, read ${mb(s.read)} MB, load ${s.load}, sync ${s.syncSeconds.toFixed(2)} s${s.result ? `, restorePartition ${s.result.seconds.toFixed(2)} s (checks ${s.result.verifySeconds.toFixed(2)} s)` : ''}${s.result?.applied ? `, ${s.result.applied.writtenChunks}/${s.result.applied.chunks} chunks ${JSON.stringify(s.result.applied.seconds)}` : ''}`);
    };
    const delta = async (p: number, key: string, tag: string, env?: string, mode?: 'compare') => {
      (changed[p] ??= []).push(await mounted(dev, fs, (root) => change(root, tree, (used * p) / 100, tag)));
      const before = process.env['NETIMAGE_CHUNK_HELPERS'];
      if (env) process.env['NETIMAGE_CHUNK_HELPERS'] = env;
      try {
        const s = await measure(dev, backing, () => restorePartition({ storeRoot: store, imageName: 'pc', device: dev, mode, pagefile: mode ? 'restore' : pagefileSetting, log: (l) => (l.startsWith('delta') || l.startsWith('pagefile') || l.includes(' left as it is: ')) && console.error(`${fs} ${key}: ${l}`) }));
        if (s.result!.mode !== 'delta') throw new Error(`expected a delta restore, got ${s.result!.mode}`);
        add(key, s);
      } finally {
        if (before === undefined) delete process.env['NETIMAGE_CHUNK_HELPERS'];
        else process.env['NETIMAGE_CHUNK_HELPERS'] = before;
      }
    };
    if (values.only === 'full') {
      // The same partition every run: only the restores' order changes.
      const withEnv = async <T>(key: string | undefined, value: string, fn: () => Promise<T>): Promise<T> => {
        const before = key ? process.env[key] : undefined;
        if (key) process.env[key] = value;
        try {
          return await fn();
        } finally {
          if (key && before === undefined) delete process.env[key];
          else if (key) process.env[key] = before;
        }
      };
      const kinds = [
        { name: 'full', key: undefined as string | undefined, value: '' },
        { name: 'raw', key: undefined, value: '' },
        ...variants,
      ];
      // The first restore after the backup ran slower whichever kind it was (the host still writing
      // the freshly filled backing file back, presumably): one untimed raw restore first.
      await measure(dev, backing, () => run('sh', ['-ec', `zstd -dcq "${img}" | partclone.restore -s - -o ${dev} >/dev/null 2>&1`]).then(() => undefined));
      for (let r = 0; r < runs; r++) {
        for (let i = 0; i < kinds.length; i++) {
          const k = kinds[(r + i) % kinds.length]!;
          if (k.name === 'raw') add('raw', await measure(dev, backing, () => run('sh', ['-ec', `zstd -dcq "${img}" | partclone.restore -s - -o ${dev} >/dev/null 2>&1`]).then(() => undefined)));
          else add(k.name, await withEnv(k.key, k.value, () => measure(dev, backing, () => restorePartition({ storeRoot: store, imageName: 'pc', device: dev, mode: 'full' }))));
        }
      }
      raw[fs] = { used, imageBytes: meta.imageBytes, samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(({ result, ...s }) => ({ ...s, applied: result?.applied }))])) };
      report.push(`\n${fs}: partition ${partBytes / GiB} GiB, ${mb(used)} MB used, image ${mb(meta.imageBytes)} MB in ${meta.chunked!.frames - 1} chunks; ${runs} runs, order rotated; page cache dropped before each run`);
      report.push('| restore | s per run (load) | median s | ÷ raw median | CPU-s median | written MB |');
      report.push('|---|---|---|---|---|---|');
      const med = (k: string, f: (s: Sample) => number) => median(samples[k]!.map(f));
      for (const k of kinds) {
        const ss = samples[k.name]!;
        report.push(`| ${k.name} | ${ss.map((s) => `${s.wall.toFixed(1)} (${s.load})`).join(', ')} | ${med(k.name, (s) => s.wall).toFixed(1)} | ${(med(k.name, (s) => s.wall) / med('raw', (s) => s.wall)).toFixed(3)}× | ${med(k.name, (s) => s.cpu).toFixed(1)} | ${mb(med(k.name, (s) => s.written))} |`);
      }
      report.push('chunkapply (s, median): writer waiting for frames / target write / fsync; decoders (summed): image read / decompress / sha256');
      for (const k of kinds.filter((k) => k.name !== 'raw')) {
        const secs = samples[k.name]!.map((s) => s.result?.applied?.seconds).filter((x) => x !== undefined);
        if (!secs.length) continue;
        const f = (g: (x: (typeof secs)[number]) => number) => median(secs.map(g)).toFixed(2);
        report.push(`  ${k.name}: ${f((x) => x.waitFrames ?? NaN)} / ${f((x) => x.targetWrite)} / ${f((x) => x.fsync)}; ${f((x) => x.imageRead)} / ${f((x) => x.decompress)} / ${f((x) => x.sha256Frames)}`);
      }
      await endPartition(dev, backing, store);
      continue;
    }
    for (let r = 0; r < runs; r++) {
      for (const [pi, p] of patterns.entries()) {
        await delta(p, `delta${p}`, `r${r}p${p}`);
        // The same kind of change again, restored by restore_mode=compare (reads every chunk).
        await delta(p, `compare${p}`, `r${r}p${p}c`, undefined, 'compare');
        if (values['old-helpers']) await delta(p, `deltaOld${p}`, `r${r}p${p}old`, values['old-helpers']);
        const full = async () => add(`full${p}`, await measure(dev, backing, () => restorePartition({ storeRoot: store, imageName: 'pc', device: dev, mode: 'full' })));
        const rawRestore = async () => add(`raw${p}`, await measure(dev, backing, () => run('sh', ['-ec', `zstd -dcq "${img}" | partclone.restore -s - -o ${dev} >/dev/null 2>&1`]).then(() => undefined)));
        if ((r + pi) % 2 === 0) {
          await full();
          await rawRestore();
        } else {
          await rawRestore();
          await full();
        }
      }
    }
    raw[fs] = { used, imageBytes: meta.imageBytes, samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(({ result, ...s }) => ({ ...s, applied: result?.applied }))])), changed };
    const m = (k: string, f: (s: Sample) => number) => median(samples[k]!.map(f));
    report.push(`\n${fs}: pagefile=${pagefileSetting} for the delta restores; partition ${partBytes / GiB} GiB, ${mb(used)} MB used, image ${mb(meta.imageBytes)} MB in ${meta.chunked!.frames - 1} chunks; median of ${runs}; page cache dropped before each run`);
    report.push(...backupLines);
    report.push('| change | delta: s / CPU-s / written MB (chunks) / read MB / load | full (chunkapply): s / CPU-s / written MB / load | raw zstd-dc, partclone.restore: s / CPU-s / written MB / load | delta ÷ full | delta ÷ raw |');
    report.push('|---|---|---|---|---|---|');
    const one = (k: string) => `${m(k, (s) => s.wall).toFixed(1)} / ${m(k, (s) => s.cpu).toFixed(1)} / ${mb(m(k, (s) => s.written))}`;
    const loads = (k: string) => samples[k]!.map((s) => s.load).join(', ');
    for (const p of patterns) {
      const d = samples[`delta${p}`]!;
      const chunks = d.map((s) => `${s.result!.applied!.writtenChunks}/${s.result!.applied!.chunks} written, ${s.result!.applied!.trustedChunks} trusted`).join(', ');
      report.push(
        `| ${p} % (${mb(median(changed[p]!))} MB) | ${one(`delta${p}`)} (${chunks}) / ${mb(m(`delta${p}`, (s) => s.read))} / ${loads(`delta${p}`)} | ${one(`full${p}`)} / ${loads(`full${p}`)} | ${one(`raw${p}`)} / ${loads(`raw${p}`)} | ${(m(`delta${p}`, (s) => s.wall) / m(`full${p}`, (s) => s.wall)).toFixed(3)}× | ${(m(`delta${p}`, (s) => s.wall) / m(`raw${p}`, (s) => s.wall)).toFixed(3)}× |`,
      );
      if (samples[`compare${p}`]) {
        const c = samples[`compare${p}`]!.map((s) => `${s.result!.applied!.writtenChunks}/${s.result!.applied!.chunks} written`).join(', ');
        report.push(`| ${p} %, restore_mode=compare | ${one(`compare${p}`)} (${c}) / ${mb(m(`compare${p}`, (s) => s.read))} / ${loads(`compare${p}`)} | | | ${(m(`compare${p}`, (s) => s.wall) / m(`full${p}`, (s) => s.wall)).toFixed(3)}× | ${(m(`compare${p}`, (s) => s.wall) / m(`raw${p}`, (s) => s.wall)).toFixed(3)}× |`);
      }
      if (values['old-helpers']) report.push(`| ${p} %, old helpers | ${one(`deltaOld${p}`)} / ${mb(m(`deltaOld${p}`, (s) => s.read))} / ${loads(`deltaOld${p}`)} | | | ${(m(`deltaOld${p}`, (s) => s.wall) / m(`full${p}`, (s) => s.wall)).toFixed(3)}× | |`);
    }
    report.push('where chunkapply spent its time (s, median): main thread waiting for the readers / sha256 of frames / image read / decompress / target write (page cache) / fsync; reader threads (summed over both): target read / compare sha256');
    for (const k of Object.keys(samples).filter((k) => !k.startsWith('raw'))) {
      const secs = samples[k]!.map((s) => s.result?.applied?.seconds).filter((x) => x !== undefined);
      if (!secs.length) continue;
      const f = (g: (x: (typeof secs)[number]) => number) => median(secs.map(g)).toFixed(2);
      report.push(`  ${k}: ${f((x) => x.waitTarget)} / ${f((x) => x.sha256Frames)} / ${f((x) => x.imageRead)} / ${f((x) => x.decompress)} / ${f((x) => x.targetWrite)} / ${f((x) => x.fsync)}; readers ${f((x) => x.readersRead)} / ${f((x) => x.readersSha256)}`);
    }
    await endPartition(dev, backing, store);
  }
  console.log(`\nraw: ${JSON.stringify(raw)}`);
} finally {
  for (const dev of loops) await runAllowFailure('losetup', ['-d', dev]);
  await rm(work, { recursive: true, force: true });
}
