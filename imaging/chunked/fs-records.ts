// The file system's own records of an image (docs/imaging.md "Delta restore with file-system
// records"): a table written at backup next to chunks.json, read at restore to find the blocks the
// file system itself says are unchanged. One interface, two backends, each a C helper on the file
// system's own library with the same commands and output:
//   ext2/3/4 (native/ext4records.c, libext2fs): the inode table. A block is trusted only when it is
//     owned now by exactly one inode whose number, generation, ctime (sec + nsec) and block-list
//     hash equal its record at backup; never a swap file. With pagefile=skip (trust
//     --pagefile-skip) also a swap file's blocks beyond its first MiB, where it was plain swap
//     (SWAPSPACE2) at backup and its inode and block map are the backup's.
//   NTFS (native/ntfsrecords.c, libntfs-3g): the MFT record table. A cluster is trusted only when
//     it belongs now to a non-resident $DATA attribute of exactly one file whose base record (with
//     its extension records) hashes as at backup; never system files, $Extend, index allocations,
//     pagefile.sys / swapfile.sys / hiberfil.sys. With pagefile=skip (trust --pagefile-skip) also
//     pagefile.sys / swapfile.sys beyond their first MiB, where their runlist is the backup's.
// A chunk is skipped without reading only when every image-used block in it is trusted. Everything
// else is compared as before, and every write is still verified.
import { rm, readFile } from 'node:fs/promises';
import { run } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';
import { blockUsed, INODE_TABLE_FILE, NTFS_RECORD_TABLE_FILE } from './format.ts';

export { INODE_TABLE_FILE, NTFS_RECORD_TABLE_FILE } from './format.ts';

/** How one file system's records are taken and named in job logs. */
export interface RecordsBackend {
  helper: 'ext4records' | 'ntfsrecords';
  /** The table's file name in the image directory. */
  file: typeof INODE_TABLE_FILE | typeof NTFS_RECORD_TABLE_FILE;
  /** "inode table" / "MFT record table" */
  table: string;
  /** "inode records" / "MFT records" */
  records: string;
  /** What one record stands for: "inodes" / "files" */
  unit: string;
  /** What is never trusted for being written without its record changing, as logged. */
  swapNote: (n: number) => string;
  /** What pagefile=skip leaves alone, as logged: its name ("pagefile.sys" / "swap file") and the kind of file it is. */
  pagefile: { name: string; kind: string };
}

const EXT4: RecordsBackend = {
  helper: 'ext4records',
  file: INODE_TABLE_FILE,
  table: 'inode table',
  records: 'inode records',
  unit: 'inodes',
  swapNote: (n) => `${n} swap file${n > 1 ? 's' : ''} compared (swap pages are written without updating the inode)`,
  pagefile: { name: 'swap file', kind: 'swap file' },
};

const NTFS: RecordsBackend = {
  helper: 'ntfsrecords',
  file: NTFS_RECORD_TABLE_FILE,
  table: 'MFT record table',
  records: 'MFT records',
  unit: 'files',
  swapNote: (n) => `${n} pagefile.sys/swapfile.sys/hiberfil.sys compared (Windows writes them without updating their record)`,
  pagefile: { name: 'pagefile.sys', kind: 'paging file' },
};

/** The backend for a file system (blkid TYPE), or null where none exists. */
export function recordsBackend(fsType: string): RecordsBackend | null {
  if (fsType === 'ext2' || fsType === 'ext3' || fsType === 'ext4') return EXT4;
  if (fsType === 'ntfs') return NTFS;
  return null;
}

export type RecordResult = { records: number } | { skipped: string };

/** At backup: write the table of `device` to `out` (read-only on the device). */
export async function recordTable(helper: string, device: string, out: string, signal?: AbortSignal): Promise<RecordResult> {
  const { stdout } = await run(helper, ['record', device, out], { cancelSignal: signal });
  const ok = /^OK (\d+)$/.exec(stdout.trim());
  if (ok) return { records: Number(ok[1]) };
  const skip = /^SKIP (.+)$/.exec(stdout.trim());
  if (skip) return { skipped: skip[1]! };
  throw new ImagingError(`${helper} record said: ${stdout}`);
}

export interface Trusted {
  /** One bit per file-system block (NTFS: cluster; bit b: byte b >> 3, mask 1 << (b & 7)). */
  bitmap: Buffer;
  blockSize: number;
  blocks: number;
  trustedBlocks: number;
  /** Inodes (ext4) or files (NTFS) whose records are unchanged and whose blocks are trusted. */
  trustedInodes: number;
  /** Swap files (ext4) or pagefile/swapfile/hiberfil (NTFS) among the unchanged: compared, never trusted (written without touching their record). */
  swapFiles: number;
  /**
   * Asked with `pagefileSkip` (pagefile=skip): the pagefile.sys/swapfile.sys clusters (NTFS) or
   * swap file blocks (ext2/3/4) trusted (left alone; included in trustedBlocks), and why the rule
   * was not applied to all of them (or there was nothing to apply it to).
   */
  pagefile?: { blocks: number; notApplied: string | null };
}

/** At restore: the blocks of `device` the table lets us trust, or why none can be. */
export async function trustedBlocks(helper: string, device: string, table: string, scratch: string, signal?: AbortSignal, opts: { pagefileSkip?: boolean } = {}): Promise<Trusted | { untrusted: string }> {
  try {
    const { stdout } = await run(helper, ['trust', ...(opts.pagefileSkip ? ['--pagefile-skip'] : []), device, table, scratch], { cancelSignal: signal });
    // --pagefile-skip: "PAGEFILE <blocks>[ <why not applied>]" before the OK line.
    let pagefile: Trusted['pagefile'];
    const lines = stdout.trim().split('\n');
    const pf = lines.length > 1 ? /^PAGEFILE (\d+)(?: (.+))?$/.exec(lines[0]!) : null;
    if (pf) {
      pagefile = { blocks: Number(pf[1]), notApplied: pf[2] ?? null };
      lines.shift();
    }
    const line = lines.join('\n');
    const no = /^UNTRUSTED (.+)$/.exec(line);
    if (no) return { untrusted: no[1]! };
    const ok = /^OK (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(line);
    if (!ok) throw new ImagingError(`${helper} trust said: ${line}`);
    const [blockSize, blocks, trusted, inodes, swapFiles] = ok.slice(1).map(Number) as [number, number, number, number, number];
    const bitmap = await readFile(scratch);
    if (bitmap.length !== Math.ceil(blocks / 8)) throw new ImagingError(`${helper} wrote ${bitmap.length} bitmap bytes for ${blocks} blocks`);
    if (opts.pagefileSkip && !pagefile) throw new ImagingError(`${helper} trust --pagefile-skip said no PAGEFILE line: ${stdout}`);
    return { bitmap, blockSize, blocks, trustedBlocks: trusted, trustedInodes: inodes, swapFiles, ...(pagefile ? { pagefile } : {}) };
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
