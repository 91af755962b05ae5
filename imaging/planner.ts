// The partition planner: disk geometry + firmware + opsi-local-image-prepare properties -> an exact
// partition table, or a clear error. Pure; prepare.ts applies the result.
//
// Layout (opsi-local-image): [ESP, MSR on UEFI] system, [sysdata], [winpe/swap], backup = rest.
// Everything starts and ends on 1 MiB boundaries; on GPT the last MiB is left for the backup header.
import { formatBytes, resolveSize, type SizeSpec } from '../lib/sizes.ts';
import type { Firmware } from '../lib/firmware.ts';
import { NetimageError } from '../lib/errors.ts';

export type OsFamily = 'windows' | 'linux';
export type PartitionRole = 'esp' | 'msr' | 'system' | 'data' | 'winpe' | 'backup';
export type FsKind = 'vfat' | 'ntfs' | 'ext4' | 'swap' | 'none';

export const MiB = 1024 * 1024;
/** MBR addresses 2^32 sectors; opsi refuses MBR above 2 TiB, so do we. */
export const MBR_MAX_BYTES = 2 * 1024 ** 4;
/** 260 MiB: the smallest ESP that is still FAT32 on 4Kn disks (65525 clusters x 4 KiB), used on all disks. */
export const ESP_BYTES = 260 * MiB;
export const MSR_BYTES = 16 * MiB;
export const BACKUP_LABEL = 'netimage-backup';

export const GPT_TYPE = {
  esp: { code: 'ef00', guid: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
  msr: { code: '0c01', guid: 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE' },
  windowsData: { code: '0700', guid: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' },
  linux: { code: '8300', guid: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' },
  swap: { code: '8200', guid: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F' },
} as const;
export const MBR_TYPE = { ntfs: '07', linux: '83', swap: '82' } as const;

export interface PlannedPartition {
  number: number;
  role: PartitionRole;
  startSector: number;
  sizeSectors: number;
  sizeBytes: number;
  /** sgdisk type code (GPT) or MBR id in hex (MBR). */
  typeCode: string;
  /** GPT type GUID; null on MBR. */
  typeGuid: string | null;
  fs: FsKind;
  /** Filesystem label and GPT partition name. */
  label: string;
  bootable: boolean;
}

export interface DiskPlan {
  table: 'gpt' | 'dos';
  sectorSize: number;
  diskBytes: number;
  partitions: PlannedPartition[];
}

export interface PlanInput {
  diskBytes: number;
  logicalSectorSize: number;
  firmware: Firmware;
  /** Decides the system fs (NTFS / ext4) and what the winpe partition becomes (NTFS / swap). */
  osFamily: OsFamily;
  systemPartitionSize: SizeSpec;
  dataPartitionSize: SizeSpec;
  winpePartitionSize: SizeSpec;
  /** Percent of the system disk the backup partition must at least have. */
  minimalBackupPercent: number;
  backupOnSameDisk: boolean;
  /** Size of the other disk when backupOnSameDisk is false. */
  backupDisk?: { diskBytes: number; logicalSectorSize: number };
}

export interface LayoutPlan {
  systemDisk: DiskPlan;
  /** Separate backup disk (backup_partition_on_same_disk=false), else null. */
  backupDisk: DiskPlan | null;
  /** One line per decision, for the job log. */
  summary: string[];
}

export class PlanError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PlanError';
  }
}

function checkGeometry(diskBytes: number, sectorSize: number, what: string): void {
  if (sectorSize !== 512 && sectorSize !== 4096) throw new PlanError(`${what}: unsupported logical sector size ${sectorSize} (512 or 4096)`);
  if (!Number.isSafeInteger(diskBytes) || diskBytes <= 0) throw new PlanError(`${what}: invalid size ${diskBytes}`);
}

function tableFor(firmware: Firmware, diskBytes: number, what: string): 'gpt' | 'dos' {
  if (firmware === 'uefi') return 'gpt';
  if (diskBytes > MBR_MAX_BYTES)
    throw new PlanError(`${what} is ${formatBytes(diskBytes)}: BIOS boot needs an MBR partition table, which cannot address more than 2 TiB; boot the client in UEFI mode`);
  return 'dos';
}

/** Usable area [first, end) in MiB units. */
function usableMiB(table: 'gpt' | 'dos', diskBytes: number): { first: number; end: number } {
  const whole = Math.floor(diskBytes / MiB);
  return { first: 1, end: table === 'gpt' ? whole - 1 : whole };
}

interface Piece {
  role: PartitionRole;
  mib: number;
}

function materialize(table: 'gpt' | 'dos', sectorSize: number, diskBytes: number, pieces: Piece[], osFamily: OsFamily): DiskPlan {
  const perMiB = MiB / sectorSize;
  let cursor = 1;
  const partitions = pieces.map((p, i): PlannedPartition => {
    const t = typeOf(table, p.role, osFamily);
    const part: PlannedPartition = {
      number: i + 1,
      role: p.role,
      startSector: cursor * perMiB,
      sizeSectors: p.mib * perMiB,
      sizeBytes: p.mib * MiB,
      typeCode: t.code,
      typeGuid: t.guid,
      fs: t.fs,
      label: t.label,
      bootable: table === 'dos' && p.role === 'system',
    };
    cursor += p.mib;
    return part;
  });
  return { table, sectorSize, diskBytes, partitions };
}

function typeOf(table: 'gpt' | 'dos', role: PartitionRole, os: OsFamily): { code: string; guid: string | null; fs: FsKind; label: string } {
  const gpt = (t: { code: string; guid: string }) => (table === 'gpt' ? { code: t.code, guid: t.guid } : null);
  switch (role) {
    case 'esp':
      return { ...GPT_TYPE.esp, fs: 'vfat', label: 'EFI' };
    case 'msr':
      return { ...GPT_TYPE.msr, fs: 'none', label: 'MSR' };
    case 'system':
      return os === 'windows'
        ? { ...(gpt(GPT_TYPE.windowsData) ?? { code: MBR_TYPE.ntfs, guid: null }), fs: 'ntfs', label: 'system' }
        : { ...(gpt(GPT_TYPE.linux) ?? { code: MBR_TYPE.linux, guid: null }), fs: 'ext4', label: 'system' };
    case 'data':
      return { ...(gpt(GPT_TYPE.windowsData) ?? { code: MBR_TYPE.ntfs, guid: null }), fs: 'ntfs', label: 'sysdata' };
    case 'winpe':
      return os === 'windows'
        ? { ...(gpt(GPT_TYPE.windowsData) ?? { code: MBR_TYPE.ntfs, guid: null }), fs: 'ntfs', label: 'winpe' }
        : { ...(gpt(GPT_TYPE.swap) ?? { code: MBR_TYPE.swap, guid: null }), fs: 'swap', label: 'swap' };
    case 'backup':
      return { ...(gpt(GPT_TYPE.linux) ?? { code: MBR_TYPE.linux, guid: null }), fs: 'ext4', label: BACKUP_LABEL };
  }
}

function toMiB(bytes: number, what: string): number {
  if (bytes > 0 && bytes < MiB) throw new PlanError(`${what} ${bytes} bytes is below 1 MiB`);
  return Math.floor(bytes / MiB);
}

/** Plan the system disk (and the backup disk, if separate). Throws PlanError with the reason. */
export function planLayout(input: PlanInput): LayoutPlan {
  checkGeometry(input.diskBytes, input.logicalSectorSize, 'system disk');
  if (!(input.minimalBackupPercent >= 0 && input.minimalBackupPercent <= 100))
    throw new PlanError(`minimal_backup_partition_size must be 0..100%, got ${input.minimalBackupPercent}`);
  const table = tableFor(input.firmware, input.diskBytes, 'system disk');
  const { first, end } = usableMiB(table, input.diskBytes);
  const summary: string[] = [];

  const sys = toMiB(resolveSize(input.systemPartitionSize, input.diskBytes), 'system_partition_size');
  const data = toMiB(resolveSize(input.dataPartitionSize, input.diskBytes), 'data_partition_size');
  const winpe = toMiB(resolveSize(input.winpePartitionSize, input.diskBytes), 'winpe_partition_size');
  if (sys <= 0) throw new PlanError('system_partition_size must be more than 0');

  const pieces: Piece[] = [];
  if (table === 'gpt') pieces.push({ role: 'esp', mib: ESP_BYTES / MiB }, { role: 'msr', mib: MSR_BYTES / MiB });
  pieces.push({ role: 'system', mib: sys });
  if (data > 0) pieces.push({ role: 'data', mib: data });
  if (winpe > 0) pieces.push({ role: 'winpe', mib: winpe });
  const fixed = pieces.reduce((s, p) => s + p.mib, 0);
  const available = end - first;
  const diskText = formatBytes(input.diskBytes);
  if (fixed > available)
    throw new PlanError(
      `system disk of ${diskText} is too small: ${pieces.map((p) => `${p.role} ${formatBytes(p.mib * MiB)}`).join(' + ')} = ${formatBytes(fixed * MiB)} > ${formatBytes(available * MiB)} usable`,
    );

  summary.push(`system disk ${diskText}, ${input.logicalSectorSize}-byte sectors, ${table === 'gpt' ? 'GPT (UEFI)' : 'MBR (BIOS)'}`);
  let backupDisk: DiskPlan | null = null;
  if (input.backupOnSameDisk) {
    const rest = available - fixed;
    const pct = (rest * MiB * 100) / input.diskBytes;
    if (rest <= 0 || pct < input.minimalBackupPercent)
      throw new PlanError(
        `backup partition would be ${formatBytes(Math.max(rest, 0) * MiB)} (${pct.toFixed(1)}% of ${diskText}), below minimal_backup_partition_size ${input.minimalBackupPercent}%: make system/data/winpe smaller`,
      );
    pieces.push({ role: 'backup', mib: rest });
    summary.push(`backup partition on the system disk: ${formatBytes(rest * MiB)} (${pct.toFixed(1)}%)`);
  } else {
    const other = input.backupDisk;
    if (!other) throw new PlanError('backup_partition_on_same_disk is false but there is no other disk for the backup partition');
    checkGeometry(other.diskBytes, other.logicalSectorSize, 'backup disk');
    const otherTable = tableFor(input.firmware, other.diskBytes, 'backup disk');
    const u = usableMiB(otherTable, other.diskBytes);
    const rest = u.end - u.first;
    const pct = (rest * MiB * 100) / input.diskBytes;
    if (rest <= 0 || pct < input.minimalBackupPercent)
      throw new PlanError(
        `backup disk gives ${formatBytes(Math.max(rest, 0) * MiB)} (${pct.toFixed(1)}% of the system disk's ${diskText}), below minimal_backup_partition_size ${input.minimalBackupPercent}%`,
      );
    backupDisk = materialize(otherTable, other.logicalSectorSize, other.diskBytes, [{ role: 'backup', mib: rest }], input.osFamily);
    summary.push(`backup partition on the other disk: ${formatBytes(rest * MiB)}`);
  }
  const systemDisk = materialize(table, input.logicalSectorSize, input.diskBytes, pieces, input.osFamily);
  for (const p of systemDisk.partitions)
    summary.push(`  p${p.number} ${p.role} ${formatBytes(p.sizeBytes)} ${p.fs} (type ${p.typeCode}${p.bootable ? ', boot flag' : ''})`);
  return { systemDisk, backupDisk, summary };
}
