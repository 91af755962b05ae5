// The blocks a partclone image marks used, read back from a device: delta restore tests compare
// them with what stock `zstd -dc | partclone.restore` of the same image wrote (free blocks are
// written by neither restore, so they are left out).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { blockUsed, PCL_DESC_BYTES } from '../../../imaging/chunked/format.ts';

/** sha256 over the blocks the decompressed image `stream` marks used, read from `dev`; blocks in `except` ([first, count], or a list of them) left out. */
export async function usedDigest(dev: string, stream: Buffer, except: [number, number] | [number, number][] = [0, 0]): Promise<string> {
  const ranges = (typeof except[0] === 'number' ? [except] : except) as [number, number][];
  const excepted = (block: number) => ranges.some(([first, count]) => block >= first && block < first + count);
  const bs = stream.readUInt32LE(84);
  const total = Number(stream.readBigUInt64LE(60));
  const bitmap = stream.subarray(PCL_DESC_BYTES, PCL_DESC_BYTES + Math.ceil(total / 8));
  const h = createHash('sha256');
  const fh = await open(dev, 'r');
  const piece = 2048;
  const buf = Buffer.alloc(piece * bs);
  try {
    for (let first = 0; first < total; first += piece) {
      const n = Math.min(piece, total - first);
      await fh.read(buf, 0, n * bs, first * bs);
      for (let b = 0; b < n; b++) {
        const block = first + b;
        if (excepted(block)) continue;
        if (blockUsed(bitmap, block)) h.update(buf.subarray(b * bs, (b + 1) * bs));
      }
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** sha256 of the image's data part (everything after header, bitmap and CRC32): what a restore must put into the used blocks. */
export function streamDataDigest(stream: Buffer): string {
  const header = PCL_DESC_BYTES + Math.ceil(Number(stream.readBigUInt64LE(60)) / 8) + 4;
  return createHash('sha256').update(stream.subarray(header)).digest('hex');
}
