// Pure parts of the chunked format: seek table codec (and that zstd skips it), bitmap -> chunks,
// the partclone stream header, delta eligibility.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { zstdCompressSync } from 'node:zlib';
import { chunkRuns, decodeSeekTable, deltaMismatch, encodeSeekTable, parseSeekFooter, parseStreamHead, PCL_DESC_BYTES, usedPerChunk } from '../../imaging/chunked/format.ts';
import { partcloneDescriptor } from './helpers/partclone-desc.ts';

test('seek table round trip; zstd -d skips it between frames', (t) => {
  const a = zstdCompressSync(Buffer.from('hello '));
  const b = zstdCompressSync(Buffer.from('world'));
  const table = encodeSeekTable([
    { compressed: a.length, decompressed: 6 },
    { compressed: b.length, decompressed: 5 },
  ]);
  t.deepEqual(decodeSeekTable(table), [
    { compressed: a.length, decompressed: 6 },
    { compressed: b.length, decompressed: 5 },
  ]);
  const footer = parseSeekFooter(table.subarray(table.length - 9));
  t.deepEqual(footer, { frames: 2, checksums: false, tableBytes: table.length });
  const out = spawnSync('zstd', ['-dc', '-q'], { input: Buffer.concat([a, b, table]) });
  t.is(out.status, 0);
  t.is(out.stdout.toString(), 'hello world');
  t.is(typeof parseSeekFooter(Buffer.alloc(9)), 'string');
  const broken = Buffer.from(table);
  broken.writeUInt32LE(0, 0);
  t.is(decodeSeekTable(broken), 'damaged zstd seek table');
});

test('bitmap -> used blocks per chunk and runs', (t) => {
  // 20 blocks, used: 0,1,2, 7, 9,10, 19; chunks of 8 blocks
  const bitmap = new Uint8Array(3);
  for (const b of [0, 1, 2, 7, 9, 10, 19]) bitmap[b >> 3]! |= 1 << (b & 7);
  t.deepEqual([...usedPerChunk(bitmap, 20, 8)], [4, 2, 1]);
  t.deepEqual(chunkRuns(bitmap, 20, 8, 0), [[0, 3], [7, 1]]);
  t.deepEqual(chunkRuns(bitmap, 20, 8, 1), [[9, 2]]);
  t.deepEqual(chunkRuns(bitmap, 20, 8, 2), [[19, 1]]);
});

test('partclone stream header: chunking needs v2, -a0 and a bit bitmap', (t) => {
  const d = partcloneDescriptor({ totalBlocks: 100n, usedBlocks: 10n, blockSize: 4096 });
  t.like(parseStreamHead(d), { totalBlocks: 100, usedBlocks: 10, blockSize: 4096, bitmapStreamBytes: 13 + 4 });
  d.writeUInt16LE(0x20, 96);
  t.regex(String(parseStreamHead(d)), /checksum mode 32/);
  t.regex(String(parseStreamHead(Buffer.alloc(PCL_DESC_BYTES))), /magic/);
});

test('delta only for the same filesystem in the same place', (t) => {
  const id = { fsType: 'ext4', fsUuid: 'u1', partitionSizeBytes: 100, partitionStartBytes: 1048576 };
  t.is(deltaMismatch(id, { ...id }), null);
  t.regex(deltaMismatch(id, { ...id, fsUuid: 'u2' })!, /the target holds ext4 u2, the image came from ext4 u1/);
  t.regex(deltaMismatch(id, { ...id, fsType: '', fsUuid: null })!, /no filesystem/);
  t.regex(deltaMismatch(id, { ...id, partitionSizeBytes: 200 })!, /size changed/);
  t.regex(deltaMismatch(id, { ...id, partitionStartBytes: 0 })!, /moved/);
});
