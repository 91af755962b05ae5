// Checks on an image file before anything is written to a disk.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runAllowFailure } from '../lib/process.ts';
import { ImagingError } from './errors.ts';
import { parsePartcloneHeader, type PartcloneHeader } from './partclone.ts';
import { chunkIndex, type ChunkIndex } from './chunked/format.ts';
import { imageDir, readMetadata, sha256File } from './store/store.ts';
import type { ImageMetadata } from './store/metadata.ts';

/** The first `bytes` of the decompressed stream (zstd stops when we close the pipe). */
export async function readDecompressedHead(file: string, bytes = 4096): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-dc', '-q', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      child.stdout.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve(Buffer.concat(chunks).subarray(0, bytes));
    };
    child.stdout.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= bytes) finish();
    });
    child.stdout.on('end', finish);
    child.on('error', (e) => {
      if (!done) reject(e);
    });
  });
}

export async function readImageHeader(file: string): Promise<PartcloneHeader> {
  const head = await readDecompressedHead(file, 4096);
  const header = parsePartcloneHeader(head);
  if (!header) {
    const shown = head.subarray(0, 16).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    throw new ImagingError(`${file} is not a partclone image: no "partclone-image" magic at the start of the decompressed stream (found "${shown}")`);
  }
  return header;
}

/** Full zstd frame check (decompresses everything; checks zstd's own checksums). */
export async function zstdIntegrity(file: string): Promise<void> {
  const r = await runAllowFailure('zstd', ['-t', '-q', file]);
  if (r.exitCode !== 0) throw new ImagingError(`${file} fails the zstd integrity test: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
}

export interface VerifiedImage {
  meta: ImageMetadata;
  header: PartcloneHeader;
  file: string;
}

/**
 * Everything restore checks about the image itself: metadata, file size, sha256 (the file is
 * exactly what backup verified), partclone magic; `full` also runs zstd -t (in parallel with the hash).
 */
export async function verifyStoredImage(root: string, name: string, opts: { full?: boolean; signal?: AbortSignal | undefined } = {}): Promise<VerifiedImage> {
  const meta = await readMetadata(root, name);
  const file = await sizedImageFile(root, name, meta);
  const [sha] = await Promise.all([sha256File(file, opts.signal), opts.full ? zstdIntegrity(file) : Promise.resolve()]);
  if (sha !== meta.sha256) throw new ImagingError(`image "${name}" is damaged: sha256 ${sha} does not match the recorded ${meta.sha256}; refusing to restore it`);
  const header = await readImageHeader(file);
  return { meta, header, file };
}

/** The image file, present and of the recorded size. */
async function sizedImageFile(root: string, name: string, meta: ImageMetadata): Promise<string> {
  const file = join(imageDir(root, name), meta.imageFile);
  const st = await stat(file).catch(() => null);
  if (!st) throw new ImagingError(`image "${name}": ${meta.imageFile} is missing`);
  if (st.size !== meta.imageBytes) throw new ImagingError(`image "${name}" is damaged: ${meta.imageFile} has ${st.size} bytes, metadata says ${meta.imageBytes}`);
  return file;
}

export interface CheckedChunkedImage extends VerifiedImage {
  index: ChunkIndex;
  chunked: NonNullable<ImageMetadata['chunked']>;
}

/**
 * What restore checks about a chunked image before writing: metadata, file size, the chunk
 * index against its sha256, partclone magic. The frames are checked one by one as they are
 * restored (imaging/chunked/apply.ts); `full` still hashes the whole file and runs zstd -t first.
 */
export async function checkChunkedImage(root: string, name: string, meta: ImageMetadata, opts: { full?: boolean; signal?: AbortSignal | undefined } = {}): Promise<CheckedChunkedImage> {
  const chunked = meta.chunked;
  if (!chunked) throw new ImagingError(`image "${name}" is not a chunked image`);
  const file = opts.full ? (await verifyStoredImage(root, name, opts)).file : await sizedImageFile(root, name, meta);
  const text = await readFile(join(imageDir(root, name), chunked.indexFile)).catch(() => null);
  if (!text) throw new ImagingError(`image "${name}": ${chunked.indexFile} is missing`);
  if (createHash('sha256').update(text).digest('hex') !== chunked.indexSha256) throw new ImagingError(`image "${name}" is damaged: ${chunked.indexFile} does not match its sha256`);
  const index = chunkIndex.parse(JSON.parse(text.toString('utf8')));
  return { meta, header: await readImageHeader(file), file, index, chunked };
}
