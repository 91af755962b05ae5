// restore: verify the image completely against its metadata and the target BEFORE the first
// write, then zstd -dc | partclone.restore in kernel pipes; set the MBR boot flag (GPT: the ESP
// is not touched, its boot entries stay).
import { open } from 'node:fs/promises';
import type { ProductOnClientStateWire } from '../lib/agent-protocol.ts';
import { run, runAllowFailure } from '../lib/process.ts';
import { blockGeometry } from './devices.ts';
import { ImagingError } from './errors.ts';
import { verifyStoredImage } from './imagefile.ts';
import { progressTracker } from './partclone.ts';
import { pipelineFailure, runPipeline } from './pipeline.ts';
import { formatBytes } from './sizes.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, recoverStore } from './store/store.ts';
import type { ImageMetadata } from './store/metadata.ts';

export interface RestoreOptions {
  storeRoot: string;
  imageName: string;
  /** Target partition. */
  device: string;
  /** Disk and partition number, to set the boot flag on MBR disks. */
  bootFlag?: { diskPath: string; partitionNumber: number } | undefined;
  /** Also run zstd -t over the whole image before writing (slower; sha256 already proves the file unchanged). */
  fullCheck?: boolean | undefined;
  onProgress?: ((percent: number) => void) | undefined;
  log?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  metadata: ImageMetadata;
  productStates: ProductOnClientStateWire[];
  seconds: number;
  verifySeconds: number;
}

/** Target compatibility: pure, so the refusals are unit-testable. Returns the reason or null. */
export function targetMismatch(meta: Pick<ImageMetadata, 'logicalSectorSize' | 'partitionSizeBytes'>, headerDeviceSize: number, target: { sizeBytes: number; logicalSectorSize: number }): string | null {
  if (meta.logicalSectorSize !== target.logicalSectorSize)
    return `the image was taken from a disk with ${meta.logicalSectorSize}-byte sectors, the target has ${target.logicalSectorSize}-byte sectors (512e/4Kn mismatch): filesystems would be unusable`;
  const need = Math.max(meta.partitionSizeBytes, headerDeviceSize);
  if (target.sizeBytes < need) return `the target partition has ${formatBytes(target.sizeBytes)}, the image needs ${formatBytes(need)}`;
  return null;
}

export async function restorePartition(opts: RestoreOptions): Promise<RestoreResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const name = normalizeImageName(opts.imageName);
  const root = opts.storeRoot;
  for (const a of await recoverStore(root)) log(`backup partition: ${a}`);

  let verified;
  try {
    verified = await verifyStoredImage(root, name, { full: opts.fullCheck, signal: opts.signal });
    const target = await blockGeometry(opts.device);
    const why = targetMismatch(verified.meta, verified.header.deviceSize, target);
    if (why) throw new ImagingError(`refusing to restore image "${name}" to ${opts.device}: ${why}`);
  } catch (e) {
    await appendMasterLog(root, `restore REFUSED image=${name} device=${opts.device}: ${(e as Error).message}`).catch(() => undefined);
    throw e;
  }
  const { meta, file } = verified;
  const verifySeconds = (performance.now() - t0) / 1000;
  log(`image "${name}" verified in ${verifySeconds.toFixed(1)} s (sha256, partclone header ${verified.header.fs}); restoring to ${opts.device}`);
  await appendMasterLog(root, `restore start image=${name} device=${opts.device}`);

  const input = await open(file, 'r');
  let result;
  try {
    result = await runPipeline({
      producer: { file: 'zstd', args: ['-dc', '-q'] },
      producerStdin: input.fd,
      // No -a: partclone.restore takes the checksum mode from the image header.
      consumer: { file: 'partclone.restore', args: ['-f', '1', '--source', '-', '--overwrite', opts.device] },
      onConsumerLine: progressTracker((p) => opts.onProgress?.(p)),
      signal: opts.signal,
    });
  } finally {
    await input.close();
  }
  if (!result.ok) {
    const msg = `restore of image "${name}" to ${opts.device} failed: ${pipelineFailure(result)}`;
    await appendMasterLog(root, `restore FAILED image=${name} device=${opts.device}: ${msg}`).catch(() => undefined);
    throw new ImagingError(msg);
  }
  await runAllowFailure('blockdev', ['--flushbufs', opts.device]);
  if (opts.bootFlag) await setBootFlag(opts.bootFlag.diskPath, opts.bootFlag.partitionNumber, log);
  const seconds = (performance.now() - t0) / 1000;
  await appendMasterLog(root, `restore done image=${name} device=${opts.device} seconds=${seconds.toFixed(1)}`);
  log(`image "${name}" restored to ${opts.device} in ${seconds.toFixed(1)} s`);
  return { metadata: meta, productStates: meta.productStates, seconds, verifySeconds };
}

/** MBR: mark the system partition active. GPT: nothing to do (the ESP and its entries are left as they are). */
export async function setBootFlag(diskPath: string, partitionNumber: number, log: (line: string) => void): Promise<void> {
  const pt = await runAllowFailure('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', diskPath]);
  if (pt.stdout.trim() === 'dos') {
    await run('sfdisk', ['--activate', diskPath, String(partitionNumber)]);
    log(`boot flag set on ${diskPath} partition ${partitionNumber}`);
  }
}
