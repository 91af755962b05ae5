// Restore side of the chunked format. Every frame is decompressed and its sha256 checked against
// chunks.json before any of its bytes reach the disk (a damaged image stops the restore at that
// chunk; nothing unverified is written). `delta` first hashes the target's own blocks of each
// chunk and skips the chunks that already match, so a re-run after a crash only writes what is
// still different (a delta restore is idempotent: no journal needed). The byte work (read, compare,
// decompress, hash, write) runs in native/chunkapply when it is built (same checks, half the CPU);
// this file's own loop is the fallback. `trusted` (ext2/3/4 and NTFS with a record table, fs-records.ts):
// chunks whose image-used blocks the file system vouches for are neither read nor written.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { zstdDecompress } from 'node:zlib';
import { ImagingError } from '../errors.ts';
import { splitLines } from '../../lib/process.ts';
import { findChunkHelpers } from './native.ts';
import { trustedChunks, type Trusted } from './fs-records.ts';
import { chunkRuns, decodeSeekTable, parseSeekFooter, parseStreamHead, PCL_DESC_BYTES, SEEK_FOOTER_BYTES, type ChunkIndex } from './format.ts';

const decompress = promisify(zstdDecompress);

export type RestoreMode = 'full' | 'delta';

export interface ApplyOptions {
  /** image.pcl.zst of a netimage-image/2 image. */
  file: string;
  index: ChunkIndex;
  device: string;
  mode: RestoreMode;
  /** Delta only: blocks the target's file system vouches for (fs-records.ts). */
  trusted?: Trusted | undefined;
  /** Chunks in flight at once (decompression runs on libuv's pool). */
  parallel?: number | undefined;
  onProgress?: ((percent: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Tests only: stop (and wait to be killed) after this many chunks were written. */
  pauseAfterWrites?: number | undefined;
  onPause?: (() => void) | undefined;
}

export interface ApplyResult {
  mode: RestoreMode;
  chunks: number;
  /** Chunks whose blocks were written. */
  writtenChunks: number;
  writtenBytes: number;
  /** Bytes read from the target to compare (delta). */
  comparedBytes: number;
  /** Delta with inode records: chunks skipped unread because all their used blocks are trusted, and their used bytes. */
  trustedChunks: number;
  trustedBytes: number;
  /** Who did the byte work: native/chunkapply or this file's Node loop. */
  engine: 'chunkapply' | 'node';
  /** chunkapply only: wall seconds in each step (bench/delta-fs.ts shows where a restore's time goes); full: sha256Frames, imageRead and decompress summed over the decoder threads, targetWrite over the writer threads, waitFrames the main thread waiting for the decoders. */
  seconds?: { waitTarget: number; sha256Frames: number; imageRead: number; decompress: number; targetWrite: number; fsync: number; readersRead: number; readersSha256: number; waitFrames?: number | undefined } | undefined;
}

interface Frame {
  offset: number;
  compressed: number;
  decompressed: number;
}

/** Frame offsets from the seek table, checked against the index. */
async function readFrames(img: FileHandle, index: ChunkIndex, fileBytes: number): Promise<Frame[]> {
  const footer = Buffer.alloc(SEEK_FOOTER_BYTES);
  await img.read(footer, 0, footer.length, fileBytes - footer.length);
  const f = parseSeekFooter(footer);
  if (typeof f === 'string') throw new ImagingError(`the image is damaged: ${f}`);
  const table = Buffer.alloc(f.tableBytes);
  await img.read(table, 0, table.length, fileBytes - table.length);
  const entries = decodeSeekTable(table);
  if (typeof entries === 'string') throw new ImagingError(`the image is damaged: ${entries}`);
  if (entries.length !== index.chunks.length + 1) throw new ImagingError(`the image is damaged: ${entries.length} frames, the index lists ${index.chunks.length} chunks`);
  const frames: Frame[] = [];
  let offset = 0;
  for (const e of entries) {
    frames.push({ offset, ...e });
    offset += e.compressed;
  }
  if (offset + table.length !== fileBytes) throw new ImagingError('the image is damaged: its frames and seek table do not add up to its size');
  return frames;
}

/** `scratch`: a buffer to read the compressed frame into when it is large enough (reused: fresh 1 MiB buffers per chunk cost ~20 % more CPU in read + hash, measured). */
async function readVerified(img: FileHandle, frame: Frame, sha256: string, what: string, scratch?: Buffer): Promise<Buffer> {
  const packed = scratch && scratch.length >= frame.compressed ? scratch.subarray(0, frame.compressed) : Buffer.allocUnsafe(frame.compressed);
  const { bytesRead } = await img.read(packed, 0, packed.length, frame.offset);
  if (bytesRead !== packed.length) throw new ImagingError(`the image is damaged: ${what} is truncated`);
  let raw: Buffer;
  try {
    // One output piece of the known size (Node's default 16 KiB pieces cost ~3x the CPU, measured).
    raw = await decompress(packed, { chunkSize: Math.max(64 * 1024, frame.decompressed) });
  } catch (e) {
    throw new ImagingError(`the image is damaged: ${what} does not decompress (${(e as Error).message})`);
  }
  if (raw.length !== frame.decompressed || createHash('sha256').update(raw).digest('hex') !== sha256)
    throw new ImagingError(`the image is damaged: ${what} does not match its sha256 in the chunk index; nothing of it was written`);
  return raw;
}

/** The partclone header + bitmap (frame 0), verified. */
export async function readBitmap(img: FileHandle, frames: Frame[], index: ChunkIndex): Promise<Buffer> {
  const first = await readVerified(img, frames[0]!, index.headSha256, 'the header frame');
  const head = parseStreamHead(first);
  if (typeof head === 'string') throw new ImagingError(`the image is damaged: ${head}`);
  if (head.totalBlocks !== index.totalBlocks || head.blockSize !== index.blockSize) throw new ImagingError('the image is damaged: header and chunk index disagree');
  return first.subarray(PCL_DESC_BYTES);
}

export async function applyChunkedImage(opts: ApplyOptions): Promise<ApplyResult> {
  const { index } = opts;
  const bs = index.blockSize;
  const img = await open(opts.file, 'r');
  let dev: FileHandle | null = null;
  const result: ApplyResult = { mode: opts.mode, chunks: index.chunks.length, writtenChunks: 0, writtenBytes: 0, comparedBytes: 0, trustedChunks: 0, trustedBytes: 0, engine: 'node' };
  try {
    const frames = await readFrames(img, index, (await img.stat()).size);
    const bitmap = await readBitmap(img, frames, index);
    let skip = new Set<number>();
    if (opts.mode === 'delta' && opts.trusted) {
      if (opts.trusted.blockSize !== bs || opts.trusted.blocks !== index.totalBlocks) throw new ImagingError(`the file system's records describe ${opts.trusted.blocks} blocks of ${opts.trusted.blockSize} bytes, the image ${index.totalBlocks} of ${bs}`);
      skip = trustedChunks(opts.trusted, bitmap, index.totalBlocks, index.chunkBlocks, index.chunks.map(([k]) => k));
      index.chunks.forEach(([k], pos) => {
        if (!skip.has(k)) return;
        result.trustedChunks++;
        result.trustedBytes += frames[pos + 1]!.decompressed;
      });
    }
    const helpers = findChunkHelpers();
    if (helpers) return await applyNative(opts, helpers.chunkapply, frames, bitmap, result, skip);
    dev = await open(opts.device, 'r+');
    const target = dev;
    let next = 0;
    let done = 0;
    let failed = false;
    let paused = false;

    // Per worker: the target span read for the delta compare and the compressed frame.
    const scratchBytes = index.chunkBlocks * bs;
    const one = async (pos: number, scratch: { span: Buffer; packed: Buffer }) => {
      const [k, sha256] = index.chunks[pos]!;
      if (skip.has(k)) return;
      const runs = chunkRuns(bitmap, index.totalBlocks, index.chunkBlocks, k);
      const used = runs.reduce((a, r) => a + r[1], 0);
      if (used * bs !== frames[pos + 1]!.decompressed) throw new ImagingError(`the image is damaged: chunk ${k} has ${used} used blocks in the bitmap, its frame holds ${frames[pos + 1]!.decompressed} bytes`);
      if (opts.mode === 'delta') {
        // One read of the chunk's span (free blocks inside it included): fewer, larger reads.
        const first = runs[0]![0];
        const last = runs[runs.length - 1]!;
        const span = scratch.span.subarray(0, (last[0] + last[1] - first) * bs);
        const { bytesRead } = await target.read(span, 0, span.length, first * bs);
        result.comparedBytes += bytesRead;
        const h = createHash('sha256');
        for (const [b, n] of runs) h.update(span.subarray((b - first) * bs, (b - first + n) * bs));
        if (bytesRead === span.length && h.digest('hex') === sha256) return;
      }
      const raw = await readVerified(img, frames[pos + 1]!, sha256, `chunk ${k}`, scratch.packed);
      if (opts.pauseAfterWrites !== undefined && result.writtenChunks >= opts.pauseAfterWrites) {
        if (!paused) opts.onPause?.();
        paused = true;
        await new Promise(() => setInterval(() => undefined, 60_000));
      }
      let at = 0;
      for (const [b, n] of runs) {
        await target.write(raw, at, n * bs, b * bs);
        at += n * bs;
      }
      result.writtenChunks++;
      result.writtenBytes += raw.length;
    };
    const worker = async () => {
      const scratch = { span: Buffer.allocUnsafe(scratchBytes), packed: Buffer.allocUnsafe(scratchBytes) };
      while (!failed && next < index.chunks.length) {
        opts.signal?.throwIfAborted();
        const pos = next++;
        try {
          await one(pos, scratch);
        } catch (e) {
          failed = true;
          throw e;
        }
        done++;
        opts.onProgress?.((done * 100) / index.chunks.length);
      }
    };
    // allSettled: no write may still be in flight when the device is closed.
    const settled = await Promise.allSettled(Array.from({ length: opts.parallel ?? 4 }, worker));
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) throw failure.reason;
    // The data must be on the disk before the restore says done.
    await target.sync();
    return result;
  } finally {
    await dev?.close();
    await img.close();
  }
}

/** The block runs of one chunk, checked against its frame like Node's own path does. */
function runsOf(index: ChunkIndex, bitmap: Buffer, frames: Frame[], pos: number): [number, number][] {
  const k = index.chunks[pos]![0];
  const runs = chunkRuns(bitmap, index.totalBlocks, index.chunkBlocks, k);
  const used = runs.reduce((a, r) => a + r[1], 0);
  if (used * index.blockSize !== frames[pos + 1]!.decompressed) throw new ImagingError(`the image is damaged: chunk ${k} has ${used} used blocks in the bitmap, its frame holds ${frames[pos + 1]!.decompressed} bytes`);
  return runs;
}

/** Node computes each chunk's frame, sha256 and block runs; chunkapply reads, compares, verifies and writes. */
async function applyNative(opts: ApplyOptions, chunkapply: string, frames: Frame[], bitmap: Buffer, result: ApplyResult, skip: Set<number>): Promise<ApplyResult> {
  const { index } = opts;
  // Positions (in the index) of the chunks chunkapply gets: its "chunk line N" is sent[N - 1].
  const sent: number[] = [];
  const list: string[] = [];
  index.chunks.forEach(([k, sha256], pos) => {
    if (skip.has(k)) return;
    const f = frames[pos + 1]!;
    sent.push(pos);
    list.push(`${f.offset} ${f.compressed} ${f.decompressed} ${sha256} ${runsOf(index, bitmap, frames, pos).flat().join(' ')}\n`);
  });
  if (list.length === 0) {
    opts.onProgress?.(100);
    return { ...result, engine: 'chunkapply' };
  }
  const args = [opts.file, opts.device, String(index.blockSize), opts.mode, ...(opts.pauseAfterWrites !== undefined ? [String(opts.pauseAfterWrites)] : [])];
  const child = spawn(chunkapply, args, { stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal });
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  failed.catch(() => undefined);
  child.stdin.on('error', () => undefined);
  child.stdin.end(list.join(''));
  const stderr: string[] = [];
  const errors = (async () => {
    for await (const line of splitLines(child.stderr)) stderr.push(line);
  })();
  let done = skip.size;
  let summary: string | null = null;
  const closed = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  const reading = Promise.race([
    failed,
    (async () => {
      for await (const line of splitLines(child.stdout)) {
        if (line === 'w' || line === 's') opts.onProgress?.((++done * 100) / index.chunks.length);
        else if (line === 'PAUSED') opts.onPause?.();
        else if (line.startsWith('OK ')) summary = line;
      }
    })(),
  ]);
  try {
    await reading;
  } catch (e) {
    // No write may still be in flight when the restore returns (abort, spawn failure).
    child.kill('SIGKILL');
    if (child.pid !== undefined) await closed;
    throw e;
  }
  const code = await closed;
  await errors;
  opts.signal?.throwIfAborted();
  if (code !== 0 || !summary) {
    // "chunk line N" is the Nth chunk of the index: say which chunk, as Node's path does.
    const why = (stderr.at(-1) ?? `chunkapply exit ${code}`).replace(/^chunkapply: chunk line (\d+): /, (_m, n: string) => `chunk ${index.chunks[sent[Number(n) - 1] ?? -1]?.[0] ?? '?'}: `);
    throw new ImagingError(why.replace(/^chunk (\d+): the image is damaged: the chunk/, 'the image is damaged: chunk $1'));
  }
  const [, chunks, bytes, compared, ...t] = (summary as string).split(' ').map(Number);
  const seconds = t.length >= 8 ? { waitTarget: t[0]!, sha256Frames: t[1]!, imageRead: t[2]!, decompress: t[3]!, targetWrite: t[4]!, fsync: t[5]!, readersRead: t[6]!, readersSha256: t[7]!, waitFrames: t[8] } : undefined;
  return { ...result, writtenChunks: chunks!, writtenBytes: bytes!, comparedBytes: compared!, engine: 'chunkapply', seconds };
}
