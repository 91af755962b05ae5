// Backup side of the chunked format: cut partclone's -a0 stream into frames as it goes by (header
// + bitmap, then the used blocks of each chunk), compress each frame on libuv's thread pool
// (several at once, written in order), hash each chunk's raw bytes and the whole file, and end
// with the seek table. One pass over the disk; see format.ts for the layout. writeChunkedImageNative
// does the same with native/chunkcut (half the CPU); this one is the fallback where it is missing.
import { createHash } from 'node:crypto';
import { readFile, rm, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { constants, zstdCompress } from 'node:zlib';
import { ImagingError } from '../errors.ts';
import { runPipeline, type PipelineResult, type Stage } from '../pipeline.ts';
import { encodeSeekTable, parseStreamHead, PCL_DESC_BYTES, usedPerChunk, type ChunkIndex, type SeekEntry, type StreamHead } from './format.ts';

const compress = promisify(zstdCompress);

/** Reads exact byte counts from an async stream of Buffers. */
class ExactReader {
  private pending: Buffer[] = [];
  private have = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  constructor(it: AsyncIterator<Buffer>) {
    this.it = it;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.pending.push(r.value);
        this.have += r.value.length;
      }
    }
    return this.have >= n;
  }

  async take(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n))) throw new ImagingError(`partclone's stream ended early (in ${what}: ${this.have} of ${n} bytes)`);
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

export interface ChunkedWriteResult {
  index: ChunkIndex;
  head: StreamHead;
  /** sha256 of the whole image file. */
  sha256: string;
  imageBytes: number;
  frames: number;
}

export interface ChunkedWriteOptions {
  source: AsyncIterable<Buffer>;
  out: FileHandle;
  level: number;
  /** Bytes of disk per chunk (rounded to whole blocks). */
  chunkBytes: number;
  /** Frames compressed at once (libuv's pool has 4 threads by default). */
  parallel?: number | undefined;
}

export async function writeChunkedImage(opts: ChunkedWriteOptions): Promise<ChunkedWriteResult> {
  const reader = new ExactReader(opts.source[Symbol.asyncIterator]());
  const fileHash = createHash('sha256');
  const seek: SeekEntry[] = [];
  const inFlight: { raw: number; packed: Promise<Buffer> }[] = [];
  const parallel = opts.parallel ?? 4;
  let position = 0;
  const params = { [constants.ZSTD_c_compressionLevel]: opts.level, [constants.ZSTD_c_checksumFlag]: 1 };

  const flushOne = async () => {
    const f = inFlight.shift()!;
    const packed = await f.packed;
    await opts.out.write(packed, 0, packed.length, position);
    position += packed.length;
    fileHash.update(packed);
    seek.push({ compressed: packed.length, decompressed: f.raw });
  };
  const frame = async (raw: Buffer) => {
    // chunkSize: Node's default 16 KiB output pieces cost ~3x the CPU of one piece per frame (measured).
    const packed = compress(raw, { params, chunkSize: Math.max(64 * 1024, raw.length) });
    packed.catch(() => undefined);
    inFlight.push({ raw: raw.length, packed });
    if (inFlight.length >= parallel) await flushOne();
  };

  const desc = await reader.take(PCL_DESC_BYTES, 'the header');
  const head = parseStreamHead(desc);
  if (typeof head === 'string') throw new ImagingError(`cannot write a chunked image: ${head}`);
  const bitmapAndCrc = await reader.take(head.bitmapStreamBytes, 'the bitmap');
  const first = Buffer.concat([desc, bitmapAndCrc]);
  const headSha256 = createHash('sha256').update(first).digest('hex');
  await frame(first);

  const chunkBlocks = Math.max(1, Math.floor(opts.chunkBytes / head.blockSize));
  const counts = usedPerChunk(bitmapAndCrc, head.totalBlocks, chunkBlocks);
  const used = counts.reduce((a, b) => a + b, 0);
  // Not head.usedBlocks: that is the file system's summary count, stale after a power cut (the
  // superblock is written back late); the bitmap is what the data follows and partclone.restore uses.
  const chunks: [number, string][] = [];
  for (let k = 0; k < counts.length; k++) {
    if (counts[k] === 0) continue;
    const data = await reader.take(counts[k]! * head.blockSize, `chunk ${k}`);
    chunks.push([k, createHash('sha256').update(data).digest('hex')]);
    await frame(data);
  }
  if (!(await reader.atEnd())) throw new ImagingError('partclone wrote more data than its bitmap announces');
  while (inFlight.length) await flushOne();
  const table = encodeSeekTable(seek);
  await opts.out.write(table, 0, table.length, position);
  position += table.length;
  fileHash.update(table);
  return {
    index: { format: 'netimage-chunks/1', blockSize: head.blockSize, totalBlocks: head.totalBlocks, usedBlocks: used, chunkBlocks, headSha256, chunks },
    head,
    sha256: fileHash.digest('hex'),
    imageBytes: position,
    frames: seek.length,
  };
}

export interface NativeWriteOptions {
  producer: Stage;
  out: FileHandle;
  level: number;
  chunkBytes: number;
  /** native/chunkcut (native.ts). */
  chunkcut: string;
  /** Where chunkcut writes its report (removed here). */
  reportFile: string;
  onProducerLine?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * The same image and chunks.json as writeChunkedImage, cut by chunkcut in a kernel pipe behind
 * partclone (the bytes never pass through JS). `pipeline` when a stage failed (the caller explains it).
 */
export async function writeChunkedImageNative(opts: NativeWriteOptions): Promise<{ written: ChunkedWriteResult } | { failed: PipelineResult }> {
  const pipeline = await runPipeline({
    producer: opts.producer,
    consumer: { file: opts.chunkcut, args: [String(opts.level), String(opts.chunkBytes), opts.reportFile] },
    consumerStdout: opts.out.fd,
    onProducerLine: opts.onProducerLine,
    signal: opts.signal,
  });
  try {
    if (!pipeline.ok) return { failed: pipeline };
    return { written: parseReport(await readFile(opts.reportFile, 'utf8'), opts.chunkBytes) };
  } finally {
    await rm(opts.reportFile, { force: true });
  }
}

/** chunkcut's report -> the writer's result; the header is checked by the same rules as Node's path. */
export function parseReport(text: string, chunkBytes: number): ChunkedWriteResult {
  const lines = text.split('\n').filter(Boolean);
  const field = (tag: string) => lines.find((l) => l.startsWith(`${tag} `))?.slice(tag.length + 1);
  const desc = field('D');
  const headSha256 = field('H');
  const end = field('F')?.split(' ');
  if (!desc || !headSha256 || !end || end.length !== 3) throw new ImagingError('chunkcut wrote an incomplete report');
  const head = parseStreamHead(Buffer.from(desc, 'hex'));
  if (typeof head === 'string') throw new ImagingError(`cannot write a chunked image: ${head}`);
  const chunks = lines
    .filter((l) => l.startsWith('C '))
    .map((l): [number, string] => {
      const [, k, sha] = l.split(' ');
      return [Number(k), sha!];
    });
  const chunkBlocks = Math.max(1, Math.floor(chunkBytes / head.blockSize));
  // The bitmap's count (the header's may be stale, see writeChunkedImage); older helpers did not report it.
  const used = field('U');
  return {
    index: { format: 'netimage-chunks/1', blockSize: head.blockSize, totalBlocks: head.totalBlocks, usedBlocks: used === undefined ? head.usedBlocks : Number(used), chunkBlocks, headSha256, chunks },
    head,
    sha256: end[0]!,
    imageBytes: Number(end[1]),
    frames: Number(end[2]),
  };
}
