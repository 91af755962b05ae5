// opsi-local-image-wim-capture and opsi-wim-info end to end on the client's disks: find the
// backup partition and the system partition (layout.json), refuse what opsi refuses, back up,
// capture. The captured install.wim is kept on the backup partition under .wim/ (a dot folder:
// never an image name, skipped by the image store), as `<target product>/installfiles/sources/
// install.wim` (appends go on from it), and, when the product asks, uploaded into the server's
// depot while the backup partition is still mounted.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupImageReport, ProductOnClientStateWire } from '../../lib/agent-protocol.ts';
import { backupPartition, type BackupResult } from '../backup.ts';
import { ImagingError } from '../errors.ts';
import { checkImageable } from '../fsdetect.ts';
import { withStore, type FlowContext } from '../flows.ts';
import { backupSpace, type BackupSpace } from '../space.ts';
import type { UploadOutcome } from '../depot-upload.ts';
import type { DiskLayout } from '../store/metadata.ts';
import { appendMasterLog, imageReports } from '../store/store.ts';
import { checkGeneralized } from './generalized.ts';
import { describeImage, type WimInfo } from './info.ts';
import { captureWim, wimInfo, type CaptureMode, type CaptureResult, type WimCompression } from './wimlib.ts';

export const WIM_STORE_DIR = '.wim';

/** Where a target product's install.wim lives on the backup partition (relative to its root). */
export function localWimPath(targetProduct: string): string {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(targetProduct)) throw new ImagingError(`target_product "${targetProduct}" is not a product id`);
  return join(WIM_STORE_DIR, targetProduct, 'installfiles', 'sources', 'install.wim');
}

/** opsi: "opsi-local-image-wim-capture will fail if your system has a data partition". Pure. */
export function dataPartitionRefusal(layout: DiskLayout): string | null {
  const data = layout.partitions.find((p) => p.role === 'data');
  return data
    ? `the disk has a data partition (partition ${data.number}): a WIM holds the system partition only, so its data would be missing from every PC installed from it; prepare again with data_partition_size=0`
    : null;
}

export interface WimCaptureOptions {
  targetProduct: string;
  imageName: string;
  description?: string | undefined;
  compression: WimCompression;
  mode: CaptureMode;
  /** true: refuse a system that is not generalized; false: warn and capture anyway. */
  requireGeneralized: boolean;
  /** Name of the backup image taken first (opsi backs up before capturing). */
  backupImageName: string;
  sourceProduct: string | null;
  productStates: ProductOnClientStateWire[];
  /** The upload step (imaging/depot-upload.ts), given the captured file; null: keep it on the PC only. */
  upload: ((wimFile: string) => Promise<UploadOutcome>) | null;
}

export interface WimCaptureResult {
  backup: BackupResult;
  capture: CaptureResult;
  /** Path of install.wim relative to the backup partition's root. */
  localPath: string;
  images: BackupImageReport[];
  space: BackupSpace;
  /** null: no upload was asked for. */
  upload: UploadOutcome | null;
}

export async function wimCaptureFlow(ctx: FlowContext, o: WimCaptureOptions): Promise<WimCaptureResult> {
  const rel = localWimPath(o.targetProduct);
  return withStore(ctx, async (s) => {
    // Every refusal comes before the first write.
    const refusal = dataPartitionRefusal(s.layout);
    if (refusal) throw new ImagingError(`refusing to capture: ${refusal}`);
    // Hibernated / Fast Startup / BitLocker first: their refusal says what to do in Windows.
    await checkImageable(s.systemPartition);
    const g = await checkGeneralized(s.systemPartition);
    if (!g.generalized) {
      const why = `Windows on ${s.systemPartition} is not generalized: ${g.reasons.join('; ')}. Run "sysprep /generalize /oobe /shutdown" in Windows first`;
      if (o.requireGeneralized) throw new ImagingError(`refusing to capture: ${why} (or set require_generalized=false)`);
      ctx.log(`warning: ${why}; capturing anyway (require_generalized=false)`);
    } else ctx.log(`${s.systemPartition}: Windows is generalized (sysprep state found in the SYSTEM hive)`);

    ctx.progress?.(0, 'backup');
    const backup = await backupPartition({
      storeRoot: s.root,
      device: s.systemPartition,
      imageName: o.backupImageName,
      sourceProduct: o.sourceProduct,
      productStates: o.productStates,
      onProgress: (p) => ctx.progress?.(p * 0.4, 'backup'),
      log: ctx.log,
      signal: ctx.signal,
    });

    const wimFile = join(s.root, rel);
    await mkdir(join(wimFile, '..'), { recursive: true, mode: 0o700 });
    // Leftovers of a capture killed before its rename (always_create writes .tmp-install.wim-*).
    for (const f of await readdir(join(wimFile, '..'))) if (f.startsWith('.tmp-install.wim-')) await rm(join(wimFile, '..', f), { force: true });
    await appendMasterLog(s.root, `wim-capture start target=${o.targetProduct} name=${JSON.stringify(o.imageName)} mode=${o.mode} device=${s.systemPartition}`);
    const capture = await captureWim({
      device: s.systemPartition,
      wimFile,
      imageName: o.imageName,
      description: o.description,
      compression: o.compression,
      mode: o.mode,
      onProgress: (p) => ctx.progress?.(40 + p * 0.6, 'capture'),
      log: ctx.log,
      signal: ctx.signal,
    });
    await appendMasterLog(s.root, `wim-capture done target=${o.targetProduct} index=${capture.image.index} images=${capture.info.imageCount} bytes=${capture.info.sizeBytes}`);
    // The whole file (with appended images) goes up: the depot's entry is replaced by a new version.
    const upload = o.upload ? await o.upload(wimFile) : null;
    if (upload?.uploaded) await appendMasterLog(s.root, `wim-upload done entry=${upload.committed.entry} sha256=${upload.committed.upload.sha256} bytes=${upload.committed.upload.size}`);
    return { backup, capture, localPath: rel, images: await imageReports(s.root), space: await backupSpace(s.root, s.backupDevice), upload };
  });
}

/** The images of the target product's install.wim on this PC's backup partition. */
export async function wimInfoFlow(ctx: FlowContext, targetProduct: string): Promise<{ info: WimInfo; localPath: string }> {
  const rel = localWimPath(targetProduct);
  return withStore(ctx, async (s) => {
    const file = join(s.root, rel);
    if (!(await stat(file).catch(() => null)))
      throw new ImagingError(`no install.wim for ${targetProduct} on this PC's backup partition (${rel}): capture one with opsi-local-image-wim-capture first (the copy in the server's depot is not read here)`);
    const info = await wimInfo(file);
    ctx.log(`${rel}: ${info.imageCount} image(s), ${info.compression}, ${info.sizeBytes} bytes`);
    for (const i of info.images) ctx.log(describeImage(i));
    return { info, localPath: rel };
  });
}
