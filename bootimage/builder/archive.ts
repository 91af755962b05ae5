// Stage to image: one fixed mtime, a sorted newc cpio with owner 0:0, compressed. The same stage
// gives the same bytes (docs/bootimage.md "Reproducible").
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { sha256File } from './files.ts';
import type { Compression } from './manifest.ts';

// Fixed mtime for every file in the cpio.
const SOURCE_DATE_EPOCH = 1_700_000_000;

export const COMPRESSORS: Record<Compression, { cmd: string; args: string[] }> = {
  // Measured (docs/bootimage.md): zstd -19 is near xz in size and unpacks ~4x faster under TCG.
  zstd19: { cmd: 'zstd', args: ['-19', '-T2', '-q', '-c'] },
  xz: { cmd: 'xz', args: ['-9', '--check=crc32', '-T1', '-c'] },
  gzip: { cmd: 'gzip', args: ['-9', '-n', '-c'] },
};

/** How init unpacks a compressed cpio (zstd only once stage 2 is there; unxz/gunzip are busybox applets). */
export const DECOMPRESSORS: Record<Compression, string> = {
  zstd19: 'zstd -d -q -c',
  xz: 'unxz -c',
  gzip: 'gunzip -c',
};

/**
 * The stage (or only `paths` of it, stage-relative, parents before children) as a newc cpio
 * file; returns its size.
 */
export async function writeCpio(stage: string, cpioFile: string, paths?: readonly string[]): Promise<number> {
  await run('find', [stage, '-exec', 'touch', '-h', '-d', `@${SOURCE_DATE_EPOCH}`, '{}', '+']);
  const cpio = `cpio -o -H newc --owner=0:0 --reproducible --quiet > "${cpioFile}"`;
  if (paths) {
    const list = `${cpioFile}.list`;
    writeFileSync(list, paths.map((p) => `./${p}\n`).join(''));
    await run('sh', ['-c', `cd "${stage}" && ${cpio} < "${list}"`]);
  } else {
    await run('sh', ['-c', `cd "${stage}" && find . -mindepth 1 | LC_ALL=C sort | ${cpio}`]);
  }
  return statSync(cpioFile).size;
}

/**
 * Boot stage 1 (grub's TFTP budget, docs/performance.md "Two-stage boot"): xz -9e is ~11 % smaller
 * than zstd -19 --long on kernel modules; the kernel unpacks it (CONFIG_RD_XZ) once per boot.
 */
export const STAGE1_COMPRESSOR = { cmd: 'xz', args: ['-9e', '--check=crc32', '-T1', '-c'] };

/**
 * Stage 2 as fetched over HTTP by stage 1's init: lzop (busybox's own, the only decompressor stage
 * 1 has), 3.5x faster to unpack than busybox's gunzip, for 37 % more bytes over the kernel's TCP.
 * `busybox` is the stage's busybox-static: the build needs no lzop of its own.
 */
export function stage2FetchCompressor(busybox: string): { cmd: string; args: string[]; unpack: string } {
  return { cmd: busybox, args: ['lzop', '-c'], unpack: 'lzop -d -c' };
}

export async function compressWith(comp: { cmd: string; args: string[] }, from: string, to: string): Promise<void> {
  await run('sh', ['-c', `${comp.cmd} ${comp.args.join(' ')} < "${from}" > "${to}"`]);
}

export async function compress(compression: Compression, from: string, to: string): Promise<void> {
  await compressWith(COMPRESSORS[compression], from, to);
}

/**
 * compress(), keeping the result in `cacheDir` by the sha256 of the input: stage 2's cpio does not
 * change when only init or /etc do (they are in stage 1), and zstd -19 over its ~120 MiB is most
 * of a build's time (minutes on a loaded 2-core host). Same input, same compressor: same bytes.
 */
export async function compressCached(compression: Compression, from: string, to: string, cacheDir: string, tag: string): Promise<boolean> {
  const cached = join(cacheDir, `${tag}.${compression}.${sha256File(from).slice(0, 32)}`);
  if (existsSync(cached)) {
    copyFileSync(cached, to);
    return true;
  }
  await compress(compression, from, to);
  for (const old of readdirSync(cacheDir).filter((n) => n.startsWith(`${tag}.${compression}.`))) rmSync(join(cacheDir, old), { force: true });
  copyFileSync(to, `${cached}.tmp`);
  renameSync(`${cached}.tmp`, cached);
  return false;
}
