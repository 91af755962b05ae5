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
 * Boot stage 1 (grub's TFTP budget, docs/performance.md "Two-stage boot"): zstd -19 (the kernel
 * unpacks it, CONFIG_RD_ZSTD). xz -9e is 10 % smaller (5.03 instead of 5.58 MB) but the kernel's
 * xz decoder is several times slower under TCG; the TFTP total stays under 15 MB either way.
 */
export const STAGE1_COMPRESSOR = { cmd: 'zstd', args: ['-19', '-T1', '-q', '-c'] };

/**
 * Stage 2 as fetched over HTTP by stage 1's init: a squashfs image of the whole root (stage 1's
 * files with stage 2's over them), which init checks against the pin, loop-mounts read-only under
 * a tmpfs overlay and switches to (docs/bootimage.md "Two stages"). Nothing is unpacked: the kernel
 * decompresses a block when it is read, and much of the image (most of node, the disk tools) is not
 * read before the agent runs. zstd: the kernel has it (CONFIG_SQUASHFS_ZSTD), smaller than lzop's
 * cpio by a third and faster to decompress than xz/gzip. Fixed times and root ownership give the
 * same bytes for the same tree (mksquashfs 4.4+ is reproducible with any number of processors).
 */
export const STAGE2_SQUASHFS_ARGS = [
  '-comp', 'zstd', '-Xcompression-level', '19', '-b', '256K',
  '-all-root', '-no-xattrs', '-noappend', '-no-progress', '-quiet',
  '-mkfs-time', String(SOURCE_DATE_EPOCH), '-all-time', String(SOURCE_DATE_EPOCH),
];

/**
 * Stage 1's modules as one squashfs image inside stage 1 (stages.ts packStage1Modules): the
 * kernel unpacks ~8 instead of ~27 MiB of stage 1 at boot (zstd passes the image's xz blocks
 * through as stored blocks; ~0.3 s less before init under emulation), init mounts the image and
 * the kernel decompresses the blocks of the few drivers a PC loads (docs/performance.md "Session 14"). xz with the x86 filter is the
 * smallest the kernel reads (CONFIG_SQUASHFS_XZ): 4.8 MB against zstd's 5.3 MB for grub's TFTP,
 * and as fast here: 128 KiB blocks keep what a module read decompresses small.
 */
export const STAGE1_MODULES_SQUASHFS_ARGS = [
  '-comp', 'xz', '-Xbcj', 'x86', '-b', '128K',
  '-all-root', '-no-xattrs', '-noappend', '-no-progress', '-quiet',
  '-mkfs-time', String(SOURCE_DATE_EPOCH), '-all-time', String(SOURCE_DATE_EPOCH),
];

/** The tree as stage 2's squashfs image; returns its size. */
export async function writeSquashfs(tree: string, file: string, args: readonly string[] = STAGE2_SQUASHFS_ARGS): Promise<number> {
  rmSync(file, { force: true });
  await run('mksquashfs', [tree, file, ...args]);
  return statSync(file).size;
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
