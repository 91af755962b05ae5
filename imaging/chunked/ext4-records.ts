// The inode table of an ext2/3/4 image (native/ext4records.c): written at backup next to
// chunks.json, read at restore to find the blocks the file system itself says are unchanged
// (docs/imaging.md "Delta restore with inode records"). A block is trusted only when it is owned
// now by exactly one inode whose number, generation, ctime (sec + nsec) and block-list hash equal
// its record at backup; a chunk is skipped without reading only when every image-used block in it
// is trusted. Everything else is compared as before, and every write is still verified.
import { rm, readFile } from 'node:fs/promises';
import { run } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';
import { blockUsed } from './format.ts';

export { INODE_TABLE_FILE } from './format.ts';

/** File systems the inode table is taken of (blkid TYPE). */
export function hasInodeRecords(fsType: string): boolean {
  return fsType === 'ext2' || fsType === 'ext3' || fsType === 'ext4';
}

export type RecordResult = { records: number } | { skipped: string };

/** At backup: write the table of `device` to `out` (read-only on the device). */
export async function recordInodeTable(helper: string, device: string, out: string, signal?: AbortSignal): Promise<RecordResult> {
  const { stdout } = await run(helper, ['record', device, out], { cancelSignal: signal });
  const ok = /^OK (\d+)$/.exec(stdout.trim());
  if (ok) return { records: Number(ok[1]) };
  const skip = /^SKIP (.+)$/.exec(stdout.trim());
  if (skip) return { skipped: skip[1]! };
  throw new ImagingError(`ext4records record said: ${stdout}`);
}

export interface Trusted {
  /** One bit per file-system block (bit b: byte b >> 3, mask 1 << (b & 7)). */
  bitmap: Buffer;
  blockSize: number;
  blocks: number;
  trustedBlocks: number;
  trustedInodes: number;
  /** Swap files found among the unchanged inodes: compared, never trusted (the kernel writes swap pages without a ctime). */
  swapFiles: number;
}

/** At restore: the blocks of `device` the table lets us trust, or why none can be. */
export async function trustedBlocks(helper: string, device: string, table: string, scratch: string, signal?: AbortSignal): Promise<Trusted | { untrusted: string }> {
  try {
    const { stdout } = await run(helper, ['trust', device, table, scratch], { cancelSignal: signal });
    const line = stdout.trim();
    const no = /^UNTRUSTED (.+)$/.exec(line);
    if (no) return { untrusted: no[1]! };
    const ok = /^OK (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(line);
    if (!ok) throw new ImagingError(`ext4records trust said: ${line}`);
    const [blockSize, blocks, trusted, inodes, swapFiles] = ok.slice(1).map(Number) as [number, number, number, number, number];
    const bitmap = await readFile(scratch);
    if (bitmap.length !== Math.ceil(blocks / 8)) throw new ImagingError(`ext4records wrote ${bitmap.length} bitmap bytes for ${blocks} blocks`);
    return { bitmap, blockSize, blocks, trustedBlocks: trusted, trustedInodes: inodes, swapFiles };
  } finally {
    await rm(scratch, { force: true });
  }
}

/**
 * Chunk k may be skipped unread when every block the image marks used in it is trusted. Returns
 * the set of such chunks among `chunks` (partclone bitmap = the image's used blocks).
 */
export function trustedChunks(trusted: Trusted, imageBitmap: Uint8Array, totalBlocks: number, chunkBlocks: number, chunks: readonly number[]): Set<number> {
  const out = new Set<number>();
  const t = trusted.bitmap;
  for (const k of chunks) {
    const end = Math.min(totalBlocks, (k + 1) * chunkBlocks);
    let any = false;
    let all = true;
    for (let b = k * chunkBlocks; b < end && all; b++) {
      if (!blockUsed(imageBitmap, b)) continue;
      any = true;
      if (b >= trusted.blocks || !(t[b >> 3]! & (1 << (b & 7)))) all = false;
    }
    if (any && all) out.add(k);
  }
  return out;
}
