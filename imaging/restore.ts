// restore: check the image against its metadata and the target BEFORE the first write.
// Chunked images (netimage-image/2): delta when the target still holds the filesystem the image
// came from, else full, each frame verified before it is written (imaging/chunked/apply.ts).
// Stream images (netimage-image/1): verified completely first, then zstd -dc | partclone.restore
// in kernel pipes. Then the MBR boot flag (GPT: the ESP is not touched, its boot entries stay).
import { createHash, randomUUID } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProductOnClientStateWire } from '../lib/agent-protocol.ts';
import { run, runAllowFailure } from '../lib/process.ts';
import { blockGeometry } from './devices.ts';
import { ImagingError } from './errors.ts';
import { checkChunkedImage, verifyStoredImage } from './imagefile.ts';
import { applyChunkedImage, type ApplyResult, type RestoreMode } from './chunked/apply.ts';
import { deltaMismatch } from './chunked/format.ts';
import { partitionEntryUuid, partitionIdentity } from './chunked/identity.ts';
import { recordsBackend, trustedBlocks, type Trusted } from './chunked/fs-records.ts';
import { findRecordsHelper } from './chunked/native.ts';
import { progressTracker } from './partclone.ts';
import { pipelineFailure, runPipeline } from './pipeline.ts';
import { formatBytes } from '../lib/sizes.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, imageDir, readMasterLog, readMetadata, recoverStore } from './store/store.ts';
import { pastRestores, preferFullByHistory, targetWords, unfinishedRestore, type PagefileSetting, type RestoreModeSetting, type RestoreTarget } from './restore-mode.ts';
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
  /**
   * Chunked images only. `delta` (default): write only what differs when the target qualifies,
   * reading only the chunks the file system's own records cannot vouch for (ext2/3/4 images with
   * an inode table, NTFS images with an MFT record table; else every chunk); `compare`: delta that reads and compares every chunk
   * (never trusts the file system); `auto`: like delta, unless this disk's master.log shows full
   * restores are quicker here (imaging/restore-mode.ts); `full`: always write every chunk.
   */
  mode?: RestoreModeSetting | undefined;
  /**
   * `skip`: a delta with the file system's records leaves pagefile.sys / swapfile.sys (NTFS) or a
   * swap file (ext2/3/4: plain swap at backup) as they are beyond their first MiB, where their
   * runlist / block map is the backup's (restore-mode.ts PAGEFILE_SETTINGS).
   * `restore` (default): every used cluster equals a full restore's.
   */
  pagefile?: PagefileSetting | undefined;
  onProgress?: ((percent: number) => void) | undefined;
  log?: ((line: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface RestoreResult {
  metadata: ImageMetadata;
  productStates: ProductOnClientStateWire[];
  seconds: number;
  verifySeconds: number;
  /** `stream`: a netimage-image/1 image through partclone.restore. */
  mode: RestoreMode | 'stream';
  /** Chunked images: what was compared and written. */
  applied: ApplyResult | null;
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

  let meta: ImageMetadata;
  try {
    meta = await readMetadata(root, name);
  } catch (e) {
    await appendMasterLog(root, `restore REFUSED image=${name} device=${opts.device}: ${(e as Error).message}`).catch(() => undefined);
    throw e;
  }
  const target: RestoreTarget = { device: opts.device, partition: await partitionEntryUuid(opts.device) };
  const r = meta.chunked ? await restoreChunked(opts, target, name, meta, t0, log) : await restoreStream(opts, target, name, t0, log);
  await runAllowFailure('blockdev', ['--flushbufs', opts.device]);
  if (opts.bootFlag) await setBootFlag(opts.bootFlag.diskPath, opts.bootFlag.partitionNumber, log);
  const seconds = (performance.now() - t0) / 1000;
  const a = r.applied;
  const what = a ? ` mode=${a.mode} chunks=${a.writtenChunks}/${a.chunks} written=${a.writtenBytes} compared=${a.comparedBytes} trusted=${a.trustedChunks} trustedBytes=${a.trustedBytes}` : ' mode=stream';
  await appendMasterLog(root, `restore done image=${name} device=${opts.device}${what} seconds=${seconds.toFixed(1)}${targetWords(target)}`);
  const how = a?.mode === 'delta' ? `, ${a.trustedChunks} trusted unread, ${a.chunks - a.trustedChunks} compared (${formatBytes(a.comparedBytes)} read)` : '';
  log(`image "${name}" restored to ${opts.device} in ${seconds.toFixed(1)} s${a ? ` (${a.mode}: ${a.writtenChunks} of ${a.chunks} chunks written, ${formatBytes(a.writtenBytes)}${how}, by ${a.engine})` : ''}`);
  return { metadata: meta, productStates: meta.productStates, seconds, verifySeconds: r.verifySeconds, mode: a?.mode ?? 'stream', applied: a };
}

/** Checks that throw are logged as a refusal: nothing has been written yet. */
async function refuseOnError<T>(root: string, name: string, device: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    await appendMasterLog(root, `restore REFUSED image=${name} device=${device}: ${(e as Error).message}`).catch(() => undefined);
    throw e;
  }
}

async function refuseTarget(meta: ImageMetadata, headerDeviceSize: number, name: string, device: string): Promise<void> {
  const why = targetMismatch(meta, headerDeviceSize, await blockGeometry(device));
  if (why) throw new ImagingError(`refusing to restore image "${name}" to ${device}: ${why}`);
}

interface Restored {
  verifySeconds: number;
  applied: ApplyResult | null;
}

async function restoreChunked(opts: RestoreOptions, target: RestoreTarget, name: string, meta: ImageMetadata, t0: number, log: (line: string) => void): Promise<Restored> {
  const root = opts.storeRoot;
  const { checked, mode } = await refuseOnError(root, name, opts.device, async () => {
    const c = await checkChunkedImage(root, name, meta, { full: opts.fullCheck, signal: opts.signal });
    await refuseTarget(meta, c.header.deviceSize, name, opts.device);
    let why = opts.mode === 'full' ? 'full restore requested (restore_mode=full)' : deltaMismatch(c.chunked.source, await partitionIdentity(opts.device));
    if (!why && opts.mode === 'auto') why = preferFullByHistory(pastRestores(await readMasterLog(root)));
    if (why) log(`full restore: ${why}`);
    else log(`delta restore: ${opts.device} still holds the ${c.chunked.source.fsType} filesystem ${c.chunked.source.fsUuid} the image came from; only chunks that differ are written`);
    return { checked: c, mode: (why ? 'full' : 'delta') as RestoreMode };
  });
  if (mode === 'full' && opts.pagefile === 'skip') log('pagefile=skip not applied: a full restore writes every used cluster');
  const trusted = mode === 'delta' ? await trustFor(opts, target, name, meta, log) : undefined;
  const verifySeconds = (performance.now() - t0) / 1000;
  await appendMasterLog(root, `restore start image=${name} device=${opts.device} mode=${mode}${targetWords(target)}`);
  const pause = process.env['NETIMAGE_TEST_HOOK_PAUSE_RESTORE_AFTER'];
  try {
    const applied = await applyChunkedImage({
      file: checked.file,
      index: checked.index,
      device: opts.device,
      mode,
      trusted,
      onProgress: opts.onProgress,
      signal: opts.signal,
      pauseAfterWrites: pause ? Number(pause) : undefined,
      onPause: () => log(`test hook: paused after ${pause} written chunks`),
    });
    return { verifySeconds, applied };
  } catch (e) {
    const msg = `restore of image "${name}" to ${opts.device} failed: ${(e as Error).message}`;
    await appendMasterLog(root, `restore FAILED image=${name} device=${opts.device} mode=${mode}: ${msg}`).catch(() => undefined);
    throw new ImagingError(msg);
  }
}

/**
 * Delta: the blocks the target's own records vouch for (fs-records.ts: ext4 inodes, NTFS MFT
 * records), or undefined to compare every chunk; the job log says which and why.
 */
async function trustFor(opts: RestoreOptions, target: RestoreTarget, name: string, meta: ImageMetadata, log: (line: string) => void): Promise<Trusted | undefined> {
  const backend = recordsBackend(meta.fsType);
  const skipPagefile = opts.pagefile === 'skip';
  const compareAll = (why: string) => {
    log(`delta compares every chunk: ${why}`);
    if (skipPagefile && backend) log(`pagefile=skip not applied: it needs the ${backend.records}; its ${backend.pagefile.name} is restored like every other file`);
    return undefined;
  };
  if (skipPagefile && !backend) log(`pagefile=skip not applied: it is for NTFS and ext2/3/4 images (this one is ${meta.fsType})`);
  const table = meta.chunked?.inodeTable;
  if (opts.mode === 'compare') return compareAll('restore_mode=compare');
  if (!backend) return compareAll(`${meta.fsType} images carry no file-system records (ext2/3/4 and NTFS only)`);
  if (!table) return compareAll(`the image has no ${backend.table} (taken before netimage recorded one, of an unclean file system, or without the ${backend.helper} helper)`);
  if (table.file !== backend.file) return compareAll(`the image's record table ${table.file} is not the ${meta.fsType} one`);
  const unfinished = unfinishedRestore(await readMasterLog(opts.storeRoot), target);
  if (unfinished) return compareAll(unfinished);
  const helper = findRecordsHelper(backend.helper);
  if (!helper) return compareAll(`the ${backend.helper} helper is not built`);
  const file = join(imageDir(opts.storeRoot, name), table.file);
  const text = await readFile(file).catch(() => null);
  if (!text) return compareAll(`${table.file} is missing from the backup partition`);
  if (createHash('sha256').update(text).digest('hex') !== table.sha256) return compareAll(`${table.file} does not match its sha256 in metadata.json`);
  const t = performance.now();
  let r;
  try {
    r = await trustedBlocks(helper, opts.device, file, join(tmpdir(), `netimage-trusted-${process.pid}-${randomUUID()}`), opts.signal, { pagefileSkip: skipPagefile });
  } catch (e) {
    opts.signal?.throwIfAborted();
    return compareAll(`reading the target's ${backend.records} failed: ${(e as Error).message}`);
  }
  if ('untrusted' in r) return compareAll(`the target's ${backend.records} cannot be trusted: ${r.untrusted}`);
  log(`delta with ${backend.records}: ${r.trustedInodes} of ${table.records} ${backend.unit} unchanged, ${formatBytes(r.trustedBlocks * r.blockSize)} trusted (read in ${((performance.now() - t) / 1000).toFixed(1)} s)${r.swapFiles ? `; ${backend.swapNote(r.swapFiles)}` : ''}`);
  if (r.pagefile) {
    const mbLeft = ((r.pagefile.blocks * r.blockSize) / 1e6).toFixed(0);
    if (r.pagefile.blocks) log(`${backend.pagefile.name} left as it is: ${mbLeft} MB (pagefile=skip); its first MiB was compared`);
    if (r.pagefile.notApplied) log(`pagefile=skip not applied${r.pagefile.blocks ? ` to every ${backend.pagefile.kind}` : ''}: ${r.pagefile.notApplied}; compared like every other file`);
  }
  return r;
}

async function restoreStream(opts: RestoreOptions, target: RestoreTarget, name: string, t0: number, log: (line: string) => void): Promise<Restored> {
  const root = opts.storeRoot;
  const verified = await refuseOnError(root, name, opts.device, async () => {
    const v = await verifyStoredImage(root, name, { full: opts.fullCheck, signal: opts.signal });
    await refuseTarget(v.meta, v.header.deviceSize, name, opts.device);
    return v;
  });
  const verifySeconds = (performance.now() - t0) / 1000;
  log(`image "${name}" verified in ${verifySeconds.toFixed(1)} s (sha256, partclone header ${verified.header.fs}); restoring to ${opts.device}`);
  await appendMasterLog(root, `restore start image=${name} device=${opts.device} mode=stream${targetWords(target)}`);
  const input = await open(verified.file, 'r');
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
  return { verifySeconds, applied: null };
}

/** MBR: mark the system partition active. GPT: nothing to do (the ESP and its entries are left as they are). */
export async function setBootFlag(diskPath: string, partitionNumber: number, log: (line: string) => void): Promise<void> {
  const pt = await runAllowFailure('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', diskPath]);
  if (pt.stdout.trim() === 'dos') {
    await run('sfdisk', ['--activate', diskPath, String(partitionNumber)]);
    log(`boot flag set on ${diskPath} partition ${partitionNumber}`);
  }
}
