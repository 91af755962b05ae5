// A partclone v2 stream descriptor (110 bytes) for tests of the chunked format's readers.
import { PCL_DESC_BYTES } from '../../../imaging/chunked/format.ts';

export function partcloneDescriptor(o: { totalBlocks: bigint; usedBlocks: bigint; blockSize: number }): Buffer {
  const d = Buffer.alloc(PCL_DESC_BYTES);
  d.write('partclone-image', 0, 'latin1');
  d.write('0002', 30, 'latin1');
  d.writeBigUInt64LE(o.totalBlocks, 60);
  d.writeBigUInt64LE(o.usedBlocks, 68);
  d.writeUInt32LE(o.blockSize, 84);
  d[105] = 1; // bitmap mode: a bit per block
  return d;
}
