// The operations end to end on real disks: discover, select, find the backup partition, mount,
// run the engine, unmount. Used by the products (agent) and the imaging CLI (tests, operators).
import type { ProductOnClientStateWire } from '../lib/agent-protocol.ts';
import { backupPartition, type BackupResult } from './backup.ts';
import { deleteImages, type DeleteResult } from './delimage.ts';
import { partitionPath } from './devices.ts';
import { discoverDisks, type DiskInfo } from './disks/lsblk.ts';
import { exclusionReason, hasHints, hintMismatch, parseMultiDiskMode, selectDisks, type DiskHints } from './disks/select.ts';
import { ImagingError } from './errors.ts';
import { probeFilesystem } from './fsdetect.ts';
import { importImage } from './import.ts';
import { mountTemp } from './mount.ts';
import type { Firmware } from '../lib/firmware.ts';
import { BACKUP_LABEL, planLayout, type OsFamily } from './planner.ts';
import { prepareDisks, type PrepareResult } from './prepare.ts';
import { restorePartition, type RestoreResult } from './restore.ts';
import type { PagefileSetting, RestoreModeSetting } from './restore-mode.ts';
import { parseSize } from '../lib/sizes.ts';
import { backupSpace, type BackupSpace } from './space.ts';
import type { DiskLayout, ImageMetadata } from './store/metadata.ts';
import { imageReports, listImages, readLayout, recoverStore } from './store/store.ts';
import type { BackupImageReport } from '../lib/agent-protocol.ts';

export interface FlowContext {
  log: (line: string) => void;
  progress?: ((percent: number, message?: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Consider only these disks (CLI/tests); default: every disk lsblk reports. */
  devices?: string[] | undefined;
  /** Loop devices as targets: tests only. */
  allowLoop?: boolean | undefined;
  hints?: DiskHints | undefined;
  bootMedium?: string[] | undefined;
}

export interface PrepareProps {
  firmware: Firmware;
  osFamily: OsFamily;
  systemPartitionSize: string;
  dataPartitionSize: string;
  winpePartitionSize: string;
  minimalBackupPartitionSize: string;
  multiDiskMode: string;
  backupPartitionOnSameDisk: boolean;
}

export const PREPARE_DEFAULTS: Omit<PrepareProps, 'firmware' | 'osFamily'> = {
  systemPartitionSize: '30G',
  dataPartitionSize: '0G',
  winpePartitionSize: '4G',
  minimalBackupPartitionSize: '55%',
  multiDiskMode: '0',
  backupPartitionOnSameDisk: true,
};

export async function prepareFlow(ctx: FlowContext, props: PrepareProps): Promise<PrepareResult> {
  const disks = await discoverDisks(ctx.devices ?? []);
  const sel = selectDisks(disks, {
    multiDiskMode: parseMultiDiskMode(props.multiDiskMode),
    hints: ctx.hints,
    allowLoop: ctx.allowLoop,
    bootMedium: ctx.bootMedium,
    backupOnSameDisk: props.backupPartitionOnSameDisk,
  });
  for (const l of sel.log) ctx.log(l);
  const minimal = parseSize(props.minimalBackupPartitionSize, 'minimal_backup_partition_size');
  if (minimal.kind !== 'percent') throw new ImagingError(`minimal_backup_partition_size must be a percentage like 55%, got "${props.minimalBackupPartitionSize}"`);
  const plan = planLayout({
    diskBytes: sel.system.sizeBytes,
    logicalSectorSize: sel.system.logicalSectorSize,
    firmware: props.firmware,
    osFamily: props.osFamily,
    systemPartitionSize: parseSize(props.systemPartitionSize, 'system_partition_size'),
    dataPartitionSize: parseSize(props.dataPartitionSize, 'data_partition_size'),
    winpePartitionSize: parseSize(props.winpePartitionSize, 'winpe_partition_size'),
    minimalBackupPercent: minimal.percent,
    backupOnSameDisk: props.backupPartitionOnSameDisk,
    backupDisk: sel.backup ? { diskBytes: sel.backup.sizeBytes, logicalSectorSize: sel.backup.logicalSectorSize } : undefined,
  });
  for (const l of plan.summary) ctx.log(l);
  return prepareDisks({ systemDisk: sel.system, backupDisk: sel.backup, plan, firmware: props.firmware, osFamily: props.osFamily, log: ctx.log });
}

export interface OpenImageStore {
  root: string;
  backupDevice: string;
  layout: DiskLayout;
  systemDisk: DiskInfo;
  systemPartition: string;
  systemPartitionNumber: number;
  close(): Promise<void>;
}

/** Partitions labelled netimage-backup on the given disks (lsblk label, else blkid -p: no udev in the boot image). */
async function findBackupPartitions(disks: DiskInfo[]): Promise<{ disk: DiskInfo; device: string }[]> {
  const found: { disk: DiskInfo; device: string }[] = [];
  for (const d of disks)
    for (const p of d.partitions) {
      const label = p.label ?? (await probeFilesystem(p.path)).label;
      if (label === BACKUP_LABEL) found.push({ disk: d, device: p.path });
    }
  return found;
}

function sameDisk(d: DiskInfo, id: DiskLayout['systemDisk']): boolean {
  if (id.serial && d.serial) return id.serial === d.serial;
  if (id.wwn && d.wwn) return id.wwn === d.wwn;
  return d.location === id.location;
}

/** Locate and mount the backup partition, and work out the system partition from layout.json. */
/** readOnly: only read layout.json (the OS install): mounted ro, no recovery of half-written images. */
export async function openImageStore(ctx: FlowContext, opts: { readOnly?: boolean } = {}): Promise<OpenImageStore> {
  const disks = (await discoverDisks(ctx.devices ?? [])).filter((d) => {
    const why = exclusionReason(d, { allowLoop: ctx.allowLoop, bootMedium: ctx.bootMedium });
    return why === null || (d.type === 'loop' && ctx.allowLoop === true);
  });
  let found = await findBackupPartitions(disks);
  if (found.length > 1 && hasHints(ctx.hints)) found = found.filter((f) => hintMismatch(f.disk, ctx.hints!) === null);
  if (found.length === 0) throw new ImagingError(`no backup partition (label ${BACKUP_LABEL}) on ${disks.map((d) => d.name).join(', ') || 'any disk'}: run opsi-local-image-prepare first`);
  if (found.length > 1) throw new ImagingError(`several backup partitions found (${found.map((f) => f.device).join(', ')}): give a disk hint`);
  const { disk: backupDisk, device } = found[0]!;
  const m = await mountTemp(device, { fsType: 'ext4', readOnly: opts.readOnly === true });
  try {
    if (!opts.readOnly) for (const a of await recoverStore(m.dir)) ctx.log(`backup partition: ${a}`);
    const layout = await readLayout(m.dir);
    const systemDisk = layout.backupOnSameDisk ? backupDisk : disks.find((d) => sameDisk(d, layout.systemDisk));
    if (!systemDisk) throw new ImagingError('the system disk recorded at prepare time is not present');
    if (hasHints(ctx.hints)) {
      const miss = hintMismatch(systemDisk, ctx.hints);
      if (miss) throw new ImagingError(`the system disk ${systemDisk.path} does not match the disk hints (${miss}); refusing to touch it`);
    }
    if (systemDisk.logicalSectorSize !== layout.systemDisk.logicalSectorSize || systemDisk.sizeBytes !== layout.systemDisk.sizeBytes)
      throw new ImagingError(`${systemDisk.path} is not the disk prepare partitioned (size/sector size changed): run prepare again`);
    const sys = layout.partitions.find((p) => p.disk === 'system' && p.role === 'system');
    if (!sys) throw new ImagingError('layout.json has no system partition');
    ctx.log(`backup partition ${device}, system partition ${partitionPath(systemDisk.path, sys.number)} on ${systemDisk.path}`);
    return {
      root: m.dir,
      backupDevice: device,
      layout,
      systemDisk,
      systemPartition: partitionPath(systemDisk.path, sys.number),
      systemPartitionNumber: sys.number,
      close: m.unmount,
    };
  } catch (e) {
    await m.unmount();
    throw e;
  }
}

/** Run fn with the image store open (backup partition mounted), closing it afterwards. */
export async function withStore<T>(ctx: FlowContext, fn: (s: OpenImageStore) => Promise<T>): Promise<T> {
  const s = await openImageStore(ctx);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function backupFlow(
  ctx: FlowContext,
  opts: { imageName: string; sourceProduct?: string | null; productStates?: ProductOnClientStateWire[]; format?: 'stream' | 'chunked' },
): Promise<{ backup: BackupResult; space: BackupSpace; images: BackupImageReport[] }> {
  return withStore(ctx, async (s) => {
    const backup = await backupPartition({
      storeRoot: s.root,
      device: s.systemPartition,
      imageName: opts.imageName,
      sourceProduct: opts.sourceProduct,
      productStates: opts.productStates,
      format: opts.format,
      onProgress: (p) => ctx.progress?.(p, 'backup'),
      log: ctx.log,
      signal: ctx.signal,
    });
    return { backup, space: await backupSpace(s.root, s.backupDevice), images: await imageReports(s.root) };
  });
}

export async function restoreFlow(ctx: FlowContext, opts: { imageName: string; fullCheck?: boolean; mode?: RestoreModeSetting; pagefile?: PagefileSetting }): Promise<RestoreResult> {
  return withStore(ctx, (s) =>
    restorePartition({
      storeRoot: s.root,
      imageName: opts.imageName,
      device: s.systemPartition,
      bootFlag: { diskPath: s.systemDisk.path, partitionNumber: s.systemPartitionNumber },
      fullCheck: opts.fullCheck,
      mode: opts.mode,
      pagefile: opts.pagefile,
      onProgress: (p) => ctx.progress?.(p, 'restore'),
      log: ctx.log,
      signal: ctx.signal,
    }),
  );
}

export async function delimageFlow(ctx: FlowContext, imagefile: string): Promise<DeleteResult & { space: BackupSpace; images: BackupImageReport[] }> {
  return withStore(ctx, async (s) => ({ ...(await deleteImages(s.root, imagefile, ctx.log)), space: await backupSpace(s.root, s.backupDevice), images: await imageReports(s.root) }));
}

export async function spaceFlow(ctx: FlowContext): Promise<{ space: BackupSpace; images: ImageMetadata[] }> {
  return withStore(ctx, async (s) => ({ space: await backupSpace(s.root, s.backupDevice), images: await listImages(s.root) }));
}

export async function importFlow(ctx: FlowContext, opts: { file: string; imageName: string; logicalSectorSize?: number }): Promise<ImageMetadata> {
  return withStore(ctx, (s) => importImage({ storeRoot: s.root, file: opts.file, imageName: opts.imageName, logicalSectorSize: opts.logicalSectorSize ?? s.layout.systemDisk.logicalSectorSize }));
}
