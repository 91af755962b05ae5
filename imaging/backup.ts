// backup: partition -> partclone (-a0) -> zstd, in kernel pipes, into a staging dir on the
// backup partition; hashed, checked and only then renamed into place (the previous image of the
// same name survives any failure or kill before that rename).
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProductOnClientStateWire } from '../lib/agent-protocol.ts';
import { blockGeometry } from './devices.ts';
import { ImagingError } from './errors.ts';
import { checkImageable } from './fsdetect.ts';
import { readImageHeader } from './imagefile.ts';
import { partcloneVersion, progressTracker, zstdVersion } from './partclone.ts';
import { pipelineFailure, runPipeline } from './pipeline.ts';
import { IMAGE_FILE, type ImageMetadata } from './store/metadata.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, commitStaging, createStaging, rebuildIndex, recoverStore, sha256Growing, writeMetadata } from './store/store.ts';
import { formatBytes } from './sizes.ts';
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
    let result;
    let sha256: string;
    let hashSeconds = 0;
    let syncSeconds = 0;
    try {
      const pipeline = runPipeline({
        producer: { file: tool, args: ['-a0', '-f', '1', '--rescue', '--clone', '--force', '--source', opts.device, '--output', '-'] },
        consumer: { file: 'zstd', args: ['-T0', `-${opts.zstdLevel ?? 3}`, '-q', '-c'] },
        consumerStdout: out.fd,
        onProducerLine: progressTracker((p) => opts.onProgress?.(p)),
        signal: opts.signal,
      });
      // Hash while zstd writes (measured: cheaper than a second pass; see docs/imaging.md).
      const hashing = sha256Growing(file, pipeline, opts.signal);
      hashing.catch(() => undefined);
      result = await pipeline;
      const th = performance.now();
      sha256 = await hashing;
      hashSeconds = (performance.now() - th) / 1000;
      const ts = performance.now();
      await out.sync();
      syncSeconds = (performance.now() - ts) / 1000;
    } finally {
      await out.close();
    }
    const pipelineSeconds = (performance.now() - tp) / 1000;
    if (!result.ok) {
      if (result.consumer.stderrTail.some((l) => /No space left/i.test(l))) {
        const space = await backupSpace(root, 'backup partition');
        throw new ImagingError(
          `the backup partition (${formatBytes(space.sizeBytes)}) is full: image "${name}" does not fit; delete images with opsi-local-image-delimage (an existing image "${name}" is kept)`,
        );
      }
      const tail = result.producer.stderrTail.join('\n');
      throw new ImagingError(`backup of ${opts.device} failed: ${explainPartcloneFailure(tail) ?? pipelineFailure(result)}`);
    }
    opts.signal?.throwIfAborted();
    const header = await readImageHeader(file);
    const imageBytes = (await stat(file)).size;
    const metadata: ImageMetadata = {
      format: 'netimage-image/1',
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
    log(`image "${name}" written: ${formatBytes(metadata.usedBytes)} used -> ${formatBytes(imageBytes)} in ${seconds.toFixed(1)} s (sha256 ${sha256.slice(0, 16)}...)`);
    return { metadata, seconds, pipelineSeconds, hashSeconds, syncSeconds };
  } catch (e) {
    if (!committed) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      await appendMasterLog(root, `backup FAILED image=${name}: ${(e as Error).message}`).catch(() => undefined);
    }
    throw e;
  }
}

