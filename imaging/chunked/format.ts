// The chunked image format (metadata format netimage-image/2), pure parts.
//
// image.pcl.zst is still one partclone -a0 stream (so `zstd -dc | partclone.restore` restores it),
// cut into independently compressed zstd frames:
//   frame 0      partclone header (110 bytes) + used-block bitmap + its CRC32
//   frame 1..n   the used blocks of one chunk each: chunk k = disk blocks [k*C, (k+1)*C), empty
//                chunks have no frame
//   last         a skippable frame holding the zstd seekable-format seek table
// chunks.json lists, per non-empty chunk, its number and the sha256 of its used blocks' bytes:
// restore compares that with the target's blocks (delta) and checks every decompressed frame
// against it before writing (verify as it goes).
import { z } from 'zod';

/** image_desc_v2: head 36 + fs info 52 + options 18 + crc 4 (partclone.h, packed). */
export const PCL_DESC_BYTES = 110;
/** partclone's BM_BIT: one bit per block, LSB first, followed by a CRC32. */
const BITMAP_MODE_BIT = 1;

export const CHUNKS_FILE = 'chunks.json';
/** ext2/3/4 images: the inode table as backed up (chunked/fs-records.ts). */
export const INODE_TABLE_FILE = 'inodes.ext4';
/** NTFS images: the MFT record table as backed up (chunked/fs-records.ts). */
export const NTFS_RECORD_TABLE_FILE = 'records.ntfs';

export const chunkIndex = z.object({
  format: z.literal('netimage-chunks/1'),
  blockSize: z.number().int().positive(),
  totalBlocks: z.number().int().nonnegative(),
  usedBlocks: z.number().int().nonnegative(),
  /** Disk blocks per chunk. */
  chunkBlocks: z.number().int().positive(),
  /** sha256 of frame 0's decompressed bytes (header + bitmap). */
  headSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** [chunk number, sha256 of its used blocks] for every non-empty chunk, ascending; frame = position + 1. */
  chunks: z.array(z.tuple([z.number().int().nonnegative(), z.string().regex(/^[0-9a-f]{64}$/)])),
});
export type ChunkIndex = z.infer<typeof chunkIndex>;

export interface StreamHead {
  totalBlocks: number;
  usedBlocks: number;
  blockSize: number;
  checksumMode: number;
  bitmapMode: number;
  /** Bytes of bitmap + CRC32 following the 110-byte descriptor. */
  bitmapStreamBytes: number;
}

/** Parse the fixed descriptor of a partclone v2 stream; the reason if we cannot chunk it. */
export function parseStreamHead(desc: Buffer): StreamHead | string {
  if (desc.length < PCL_DESC_BYTES || desc.subarray(0, 15).toString('latin1') !== 'partclone-image') return 'no partclone-image magic';
  if (desc.subarray(30, 34).toString('latin1') !== '0002') return `partclone image version ${desc.subarray(30, 34).toString('latin1')} (need 0002)`;
  const head: StreamHead = {
    totalBlocks: Number(desc.readBigUInt64LE(60)),
    usedBlocks: Number(desc.readBigUInt64LE(68)),
    blockSize: desc.readUInt32LE(84),
    checksumMode: desc.readUInt16LE(96),
    bitmapMode: desc[105]!,
    bitmapStreamBytes: 0,
  };
  if (head.checksumMode !== 0) return `partclone checksum mode ${head.checksumMode} (chunking needs -a0)`;
  if (head.bitmapMode !== BITMAP_MODE_BIT) return `partclone bitmap mode ${head.bitmapMode} (need 1, one bit per block)`;
  if (head.blockSize <= 0 || head.blockSize > 1 << 20) return `block size ${head.blockSize}`;
  head.bitmapStreamBytes = Math.ceil(head.totalBlocks / 8) + 4;
  return head;
}

export const blockUsed = (bitmap: Uint8Array, block: number): boolean => ((bitmap[block >> 3]! >> (block & 7)) & 1) === 1;

/** Used blocks per chunk of `chunkBlocks` disk blocks. */
export function usedPerChunk(bitmap: Uint8Array, totalBlocks: number, chunkBlocks: number): Uint32Array {
  const counts = new Uint32Array(Math.ceil(totalBlocks / chunkBlocks));
  for (let byte = 0; byte < Math.ceil(totalBlocks / 8); byte++) {
    let v = bitmap[byte]!;
    if (v === 0) continue;
    for (let bit = 0; v !== 0; bit++, v >>= 1) {
      const block = byte * 8 + bit;
      if (v & 1 && block < totalBlocks) counts[Math.floor(block / chunkBlocks)]!++;
    }
  }
  return counts;
}

/** Runs [first, count] of used blocks (absolute block numbers) inside chunk `k`. */
export function chunkRuns(bitmap: Uint8Array, totalBlocks: number, chunkBlocks: number, k: number): [number, number][] {
  const runs: [number, number][] = [];
  const end = Math.min(totalBlocks, (k + 1) * chunkBlocks);
  for (let b = k * chunkBlocks; b < end; b++) {
    if (!blockUsed(bitmap, b)) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === b) last[1]++;
    else runs.push([b, 1]);
  }
  return runs;
}

// Zstandard seekable format (contrib/seekable_format): a skippable frame at the end, which plain
// zstd -d skips. Entries without per-frame checksums (the sha256 in chunks.json is stronger).
const SKIPPABLE_MAGIC = 0x184d2a5e;
const SEEKABLE_MAGIC = 0x8f92eab1;
export const SEEK_FOOTER_BYTES = 9;

export interface SeekEntry {
  compressed: number;
  decompressed: number;
}

export function encodeSeekTable(entries: SeekEntry[]): Buffer {
  const body = entries.length * 8 + SEEK_FOOTER_BYTES;
  const b = Buffer.alloc(8 + body);
  b.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  b.writeUInt32LE(body, 4);
  entries.forEach((e, i) => {
    b.writeUInt32LE(e.compressed, 8 + i * 8);
    b.writeUInt32LE(e.decompressed, 12 + i * 8);
  });
  b.writeUInt32LE(entries.length, 8 + entries.length * 8);
  b.writeUInt8(0, 12 + entries.length * 8);
  b.writeUInt32LE(SEEKABLE_MAGIC, 13 + entries.length * 8);
  return b;
}

/** Frame count from the last 9 bytes of a file, and the size of the whole seek-table frame. */
export function parseSeekFooter(footer: Buffer): { frames: number; tableBytes: number; checksums: boolean } | string {
  if (footer.length !== SEEK_FOOTER_BYTES || footer.readUInt32LE(5) !== SEEKABLE_MAGIC) return 'no zstd seek table at the end of the image';
  const desc = footer[4]!;
  const checksums = (desc & 0x80) !== 0;
  const frames = footer.readUInt32LE(0);
  return { frames, checksums, tableBytes: 8 + frames * (checksums ? 12 : 8) + SEEK_FOOTER_BYTES };
}

export function decodeSeekTable(table: Buffer): SeekEntry[] | string {
  const footer = parseSeekFooter(table.subarray(table.length - SEEK_FOOTER_BYTES));
  if (typeof footer === 'string') return footer;
  if (table.length !== footer.tableBytes || table.readUInt32LE(0) !== SKIPPABLE_MAGIC || table.readUInt32LE(4) !== footer.tableBytes - 8) return 'damaged zstd seek table';
  const size = footer.checksums ? 12 : 8;
  const out: SeekEntry[] = [];
  for (let i = 0; i < footer.frames; i++) out.push({ compressed: table.readUInt32LE(8 + i * size), decompressed: table.readUInt32LE(12 + i * size) });
  return out;
}

/** Where the target partition came from: delta restore applies only to the same filesystem in the same place. */
export const sourceIdentity = z.object({
  fsType: z.string(),
  fsUuid: z.string().nullable(),
  partitionSizeBytes: z.number().int().nonnegative(),
  /** Byte offset of the partition on its disk (sysfs), null for whole devices. */
  partitionStartBytes: z.number().int().nonnegative().nullable(),
});
export type SourceIdentity = z.infer<typeof sourceIdentity>;

/** Why a target does not qualify for delta restore, or null when it does. */
export function deltaMismatch(image: SourceIdentity, target: SourceIdentity): string | null {
  if (!target.fsUuid || target.fsType !== image.fsType || target.fsUuid !== image.fsUuid)
    return `the target holds ${target.fsType || 'no filesystem'} ${target.fsUuid ?? ''}, the image came from ${image.fsType} ${image.fsUuid ?? ''}`.replace(/\s+/g, ' ');
  if (target.partitionSizeBytes !== image.partitionSizeBytes) return `the partition size changed (${image.partitionSizeBytes} -> ${target.partitionSizeBytes} bytes)`;
  if (target.partitionStartBytes !== image.partitionStartBytes) return `the partition moved (start ${image.partitionStartBytes} -> ${target.partitionStartBytes})`;
  return null;
}
