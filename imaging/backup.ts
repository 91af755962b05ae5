// backup: partition -> partclone (-a0) -> zstd, in kernel pipes, into a staging dir on the
// backup partition; hashed, checked and only then renamed into place (the previous image of the
// same name survives any failure or kill before that rename).
import { createHash } from 'node:crypto';
import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProductOnClientStateWire } from '../lib/agent-protocol.ts';
import { blockGeometry } from './devices.ts';
import { ImagingError } from './errors.ts';
import { checkImageable } from './fsdetect.ts';
import { readImageHeader } from './imagefile.ts';
import { partcloneVersion, progressTracker, zstdVersion } from './partclone.ts';
import { pipelineFailure, runPipeline, spawnReadable, stageFailure, type Stage } from './pipeline.ts';
import { CHUNKS_FILE, type ChunkIndex } from './chunked/format.ts';
import { partitionIdentity } from './chunked/identity.ts';
import { recordsBackend, recordTable } from './chunked/fs-records.ts';
import { findChunkHelpers, findRecordsHelper } from './chunked/native.ts';
import { writeChunkedImage, writeChunkedImageNative, type ChunkedWriteResult } from './chunked/writer.ts';
import { IMAGE_FILE, type ImageMetadata } from './store/metadata.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, commitStaging, createStaging, rebuildIndex, recoverStore, sha256Growing, writeMetadata } from './store/store.ts';
import { formatBytes } from '../lib/sizes.ts';
import { backupSpace } from './space.ts';

export interface BackupOptions {
  /** Mounted backup filesystem. */
  storeRoot: string;
  /** The system partition to image. */
  device: string;
  imageName: string;
  sourceProduct?: string | null | undefined;
  productStates?: ProductOnClientStateWire[] | undefined;
  zstdLevel?: number | undefined;
  /** `chunked` (default, also of the backup product's `image_format` property): netimage-image/2, delta-restorable; `stream`: one zstd stream (netimage-image/1). */
  format?: 'chunked' | 'stream' | undefined;
  /** Disk bytes per chunk of a chunked image. */
  chunkBytes?: number | undefined;
  onProgress?: ((percent: number) => void) | undefined;
  log?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BackupResult {
  metadata: ImageMetadata;
  seconds: number;
  /** Wall seconds of partclone|zstd (+ hash and fsync), the hash's tail after the pipeline ended, the fsync: for the log and the bench. */
  pipelineSeconds: number;
  hashSeconds: number;
  syncSeconds: number;
}

/** partclone's own refusals, translated into what the admin has to do. */
function explainPartcloneFailure(tail: string): string | null {
  if (/dirty|unclean|hibernat|chkdsk/i.test(tail)) return 'partclone refuses the NTFS volume (dirty/hibernated): shut Windows down cleanly with Fast Startup off, or run chkdsk /f';
  if (/bitlocker/i.test(tail)) return 'partclone refuses the BitLocker volume: decrypt it first';
  return null;
}

export async function backupPartition(opts: BackupOptions): Promise<BackupResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const name = normalizeImageName(opts.imageName);
  const root = opts.storeRoot;
  for (const a of await recoverStore(root)) log(`backup partition: ${a}`);
  const { fsType, tool } = await checkImageable(opts.device);
  const geometry = await blockGeometry(opts.device);
  log(`backup of ${opts.device} (${fsType}, ${formatBytes(geometry.sizeBytes)}, ${geometry.logicalSectorSize}-byte sectors) to image "${name}" with ${tool}`);
  await appendMasterLog(root, `backup start image=${name} device=${opts.device} fs=${fsType}`);

  const staging = await createStaging(root, name);
  const file = join(staging, IMAGE_FILE);
  let committed = false;
  try {
    const out = await open(file, 'wx');
    const tp = performance.now();
    const producer: Stage = { file: tool, args: ['-a0', '-f', '1', '--rescue', '--clone', '--force', '--source', opts.device, '--output', '-'] };
    const noSpace = async () => {
      const space = await backupSpace(root, 'backup partition');
      return new ImagingError(
        `the backup partition (${formatBytes(space.sizeBytes)}) is full: image "${name}" does not fit; delete images with opsi-local-image-delimage (an existing image "${name}" is kept)`,
      );
    };
    let written: Written;
    try {
      written = opts.format === 'stream' ? await writeStream(opts, producer, out, file) : await writeChunked(opts, producer, out, staging);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || e === NO_SPACE) throw await noSpace();
      throw e;
    } finally {
      await out.close();
    }
    const { sha256, hashSeconds, syncSeconds } = written;
    const pipelineSeconds = (performance.now() - tp) / 1000;
    opts.signal?.throwIfAborted();
    const header = await readImageHeader(file);
    const imageBytes = (await stat(file)).size;
    const metadata: ImageMetadata = {
      format: written.chunked ? 'netimage-image/2' : 'netimage-image/1',
      name,
      sourceProduct: opts.sourceProduct ?? null,
      fsType,
      partitionSizeBytes: geometry.sizeBytes,
      logicalSectorSize: geometry.logicalSectorSize,
      usedBytes: header.usedBlocks * header.blockSize,
      imageFile: IMAGE_FILE,
      imageBytes,
      sha256,
      partcloneVersion: header.partcloneVersion || (await partcloneVersion()),
      partcloneChecksumMode: header.checksumMode,
      compression: 'zstd',
      zstdVersion: await zstdVersion(),
      createdAt: new Date().toISOString(),
      productStates: opts.productStates ?? [],
      imported: false,
      sourceDevice: opts.device,
      ...(written.chunked ? { chunked: written.chunked } : {}),
    };
    await writeMetadata(staging, metadata);
    await commitStaging(root, name, staging);
    committed = true;
    await rebuildIndex(root);
    const seconds = (performance.now() - t0) / 1000;
    await appendMasterLog(
      root,
      `backup done image=${name} fs=${fsType} used=${metadata.usedBytes} image=${imageBytes} sha256=${sha256} seconds=${seconds.toFixed(1)}`,
    );
    const how = metadata.chunked ? `${metadata.chunked.frames - 1} chunks of ${formatBytes(metadata.chunked.chunkBlocks * header.blockSize)}, cut by ${written.cutBy}` : 'one stream';
    log(`image "${name}" written: ${formatBytes(metadata.usedBytes)} used -> ${formatBytes(imageBytes)} (${how}) in ${seconds.toFixed(1)} s (sha256 ${sha256.slice(0, 16)}...)`);
    return { metadata, seconds, pipelineSeconds, hashSeconds, syncSeconds };
  } catch (e) {
    if (!committed) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      await appendMasterLog(root, `backup FAILED image=${name}: ${(e as Error).message}`).catch(() => undefined);
    }
    throw e;
  }
}


interface Written {
  sha256: string;
  hashSeconds: number;
  syncSeconds: number;
  chunked?: ImageMetadata['chunked'];
  /** Chunked: who cut the frames (native/chunkcut or Node's writer). */
  cutBy?: 'chunkcut' | 'node';
}

const NO_SPACE = new Error('no space');

async function timedSync(out: FileHandle): Promise<number> {
  const ts = performance.now();
  await out.sync();
  return (performance.now() - ts) / 1000;
}

function backupFailure(device: string, tail: string[], fallback: string): ImagingError {
  return new ImagingError(`backup of ${device} failed: ${explainPartcloneFailure(tail.join('\n')) ?? fallback}`);
}

/** netimage-image/1: partclone | zstd in kernel pipes, the file hashed while zstd writes it. */
async function writeStream(opts: BackupOptions, producer: Stage, out: FileHandle, file: string): Promise<Written> {
  const pipeline = runPipeline({
    producer,
    consumer: { file: 'zstd', args: ['-T0', `-${opts.zstdLevel ?? 3}`, '-q', '-c'] },
    consumerStdout: out.fd,
    onProducerLine: progressTracker((p) => opts.onProgress?.(p)),
    signal: opts.signal,
  });
  // Hash while zstd writes (measured: cheaper than a second pass; see docs/imaging.md).
  const hashing = sha256Growing(file, pipeline, opts.signal);
  hashing.catch(() => undefined);
  const result = await pipeline;
  const th = performance.now();
  const sha256 = await hashing;
  const hashSeconds = (performance.now() - th) / 1000;
  if (!result.ok) {
    if (result.consumer.stderrTail.some((l) => /No space left/i.test(l))) throw NO_SPACE;
    throw backupFailure(opts.device, result.producer.stderrTail, pipelineFailure(result));
  }
  return { sha256, hashSeconds, syncSeconds: await timedSync(out) };
}

/** netimage-image/2: partclone's stream cut into chunk frames by native/chunkcut when built, else by Node (imaging/chunked/). */
async function writeChunked(opts: BackupOptions, producer: Stage, out: FileHandle, staging: string): Promise<Written> {
  const source = await partitionIdentity(opts.device);
  const level = opts.zstdLevel ?? 3;
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const helpers = findChunkHelpers();
  // The record table is read beside partclone's pass (both read-only): on a cold cache its inode
  // tables and extent blocks (NTFS: the MFT) are a few % of the used blocks (docs/performance.md).
  const records = recordFsRecords(opts, source.fsType, staging);
  records.catch(() => undefined);
  const r = helpers ? await cutNative(opts, producer, out, `${staging}/chunkcut.report`, helpers.chunkcut) : await cutInNode(opts, producer, out);
  const indexText = `${JSON.stringify(r.index satisfies ChunkIndex)}\n`;
  await writeFile(`${staging}/${CHUNKS_FILE}`, indexText, { flush: true });
  const inodeTable = await records;
  return {
    sha256: r.sha256,
    hashSeconds: 0,
    syncSeconds: await timedSync(out),
    cutBy: helpers ? 'chunkcut' : 'node',
    chunked: {
      indexFile: CHUNKS_FILE,
      indexSha256: createHash('sha256').update(indexText).digest('hex'),
      chunkBlocks: r.index.chunkBlocks,
      frames: r.frames,
      source,
      ...(inodeTable ? { inodeTable } : {}),
    },
  };

  async function cutNative(o: BackupOptions, p: Stage, f: FileHandle, reportFile: string, chunkcut: string): Promise<ChunkedWriteResult> {
    const res = await writeChunkedImageNative({ producer: p, out: f, level, chunkBytes, chunkcut, reportFile, onProducerLine: progressTracker((x) => o.onProgress?.(x)), signal: o.signal });
    o.signal?.throwIfAborted();
    if ('written' in res) return res.written;
    if (res.failed.consumer.stderrTail.some((l) => /No space left/i.test(l))) throw NO_SPACE;
    throw backupFailure(o.device, res.failed.producer.stderrTail, pipelineFailure(res.failed));
  }
}

/**
 * ext2/3/4: the inode table, NTFS: the MFT record table, for delta restores
 * (imaging/chunked/fs-records.ts); null (and why, in the job log) where there is none. A failing
 * helper never fails the backup: the image itself does not depend on the table.
 */
async function recordFsRecords(opts: BackupOptions, fsType: string, staging: string): Promise<NonNullable<ImageMetadata['chunked']>['inodeTable'] | null> {
  const log = opts.log ?? (() => undefined);
  const backend = recordsBackend(fsType);
  if (!backend) return null;
  const helper = findRecordsHelper(backend.helper);
  const without = `no ${backend.table}`;
  if (!helper) {
    log(`${without}: the ${backend.helper} helper is not built; a delta restore of this image compares every chunk`);
    return null;
  }
  const t = performance.now();
  const file = join(staging, backend.file);
  let r;
  try {
    r = await recordTable(helper, opts.device, file, opts.signal);
  } catch (e) {
    opts.signal?.throwIfAborted();
    await rm(file, { force: true });
    log(`${without}: ${backend.helper} failed (${(e as Error).message.split('\n')[0]}); a delta restore of this image compares every chunk`);
    return null;
  }
  if ('skipped' in r) {
    log(`${without}: ${r.skipped}; a delta restore of this image compares every chunk`);
    return null;
  }
  const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
  log(`${backend.table}: ${r.records} ${backend.unit} recorded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { file: backend.file, sha256, records: r.records };
}

/** Node's own cutter (imaging/chunked/writer.ts): where the C helper is missing. */
async function cutInNode(opts: BackupOptions, producer: Stage, out: FileHandle): Promise<ChunkedWriteResult> {
  const child = spawnReadable(producer, { onLine: progressTracker((p) => opts.onProgress?.(p)), signal: opts.signal });
  let r;
  try {
    r = await writeChunkedImage({ source: child.stdout, out, level: opts.zstdLevel ?? 3, chunkBytes: opts.chunkBytes ?? DEFAULT_CHUNK_BYTES });
  } catch (e) {
    child.kill();
    child.stdout.destroy();
    const p = await child.done;
    opts.signal?.throwIfAborted();
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC' && p.exitCode !== 0 && p.signal === null)
      throw backupFailure(opts.device, p.stderrTail, stageFailure(p));
    throw e;
  }
  const p = await child.done;
  opts.signal?.throwIfAborted();
  if (p.exitCode !== 0) throw backupFailure(opts.device, p.stderrTail, stageFailure(p));
  return r;
}

/** 1 MiB: small enough that a few changed files rewrite little, large enough for zstd -3 (see docs/performance.md). */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
