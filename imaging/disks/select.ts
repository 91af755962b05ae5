// Which disk gets wiped: a pure decision over discovered disks, with the reason spelled out
// for the job log. Unsafe candidates are excluded first; optional hints (like Ironic's
// root-device hints) must match or the job fails: a miss never falls back to another disk.
import { formatBytes } from '../../lib/sizes.ts';
import type { DiskInfo } from './lsblk.ts';
import { NetimageError } from '../../lib/errors.ts';

export type MultiDiskMode = { kind: 'index'; index: number } | { kind: 'prefer_ssd' } | { kind: 'prefer_rotational' };

export interface DiskHints {
  serial?: string | undefined;
  wwn?: string | undefined;
  minSizeBytes?: number | undefined;
  /** Kernel name (sda, nvme0n1); only as a last resort, names are not stable. */
  name?: string | undefined;
}

export interface SelectOptions {
  multiDiskMode: MultiDiskMode;
  hints?: DiskHints | undefined;
  /** Loop devices are candidates only when asked (tests); the agent never allows them. */
  allowLoop?: boolean | undefined;
  /** Kernel names of the medium the boot image came from (never a target). */
  bootMedium?: string[] | undefined;
  backupOnSameDisk: boolean;
}

export interface DiskSelection {
  system: DiskInfo;
  /** Disk for the backup partition when not on the system disk. */
  backup: DiskInfo | null;
  /** Candidates in stable order, after exclusions. */
  candidates: DiskInfo[];
  excluded: { disk: DiskInfo; reason: string }[];
  /** Human-readable decision, one line each. */
  log: string[];
}

export class DiskSelectionError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'DiskSelectionError';
  }
}

export function parseMultiDiskMode(value: string | undefined): MultiDiskMode {
  const v = (value ?? '0').trim().toLowerCase();
  if (v === 'prefer_ssd') return { kind: 'prefer_ssd' };
  if (v === 'prefer_rotational') return { kind: 'prefer_rotational' };
  if (/^[0-3]$/.test(v)) return { kind: 'index', index: Number(v) };
  throw new DiskSelectionError(`multi_disk_mode "${value}" is not one of 0, 1, 2, 3, prefer_ssd, prefer_rotational`);
}

function describe(d: DiskInfo): string {
  const kind = d.transport === 'nvme' ? 'NVMe' : d.rotational ? 'HDD' : 'SSD';
  const id = [d.model, d.serial ? `serial ${d.serial}` : null].filter(Boolean).join(', ');
  return `${d.path} (${formatBytes(d.sizeBytes)} ${kind}${d.transport ? ` ${d.transport}` : ''}${id ? `, ${id}` : ''}, ${d.logicalSectorSize}-byte sectors)`;
}

/** Why a disk can never be a target, or null if it can. */
export function exclusionReason(d: DiskInfo, opts: Pick<SelectOptions, 'allowLoop' | 'bootMedium'>): string | null {
  if (d.type === 'loop' || /^loop\d/.test(d.name)) return opts.allowLoop ? null : 'loop device';
  if (/^zram\d/.test(d.name)) return 'zram swap device';
  if (/^ram\d/.test(d.name)) return 'RAM disk';
  if (d.type === 'rom' || /^sr\d/.test(d.name)) return 'optical drive';
  if (d.type !== 'disk') return `not a disk (type ${d.type})`;
  if (d.readOnly) return 'read-only';
  if (d.removable && d.transport === 'usb') return 'removable USB stick';
  if (d.removable) return 'removable medium';
  if (opts.bootMedium?.includes(d.name)) return 'boot medium';
  if (d.mountpoints.length > 0) return `in use (mounted at ${d.mountpoints.join(', ')})`;
  if (d.sizeBytes <= 0) return 'no medium (size 0)';
  return null;
}

function isLoopAllowed(d: DiskInfo, opts: SelectOptions): boolean {
  return d.type === 'loop' && opts.allowLoop === true;
}

/** Stable order: physical location (by-path / sysfs topology), natural-sorted; kernel names can change between boots. */
export function stableOrder(disks: DiskInfo[]): DiskInfo[] {
  return [...disks].sort((a, b) => a.location.localeCompare(b.location, 'en', { numeric: true }) || a.name.localeCompare(b.name, 'en', { numeric: true }));
}

const normWwn = (s: string) => s.trim().toLowerCase().replace(/^(naa\.|eui\.|t10\.|0x)/, '');

/** Why a disk does not match the hints, or null if it does. */
export function hintMismatch(d: DiskInfo, h: DiskHints): string | null {
  if (h.serial !== undefined && (d.serial ?? '').trim() !== h.serial.trim()) return `serial ${d.serial ?? 'unknown'} != ${h.serial}`;
  if (h.wwn !== undefined && (d.wwn === null || normWwn(d.wwn) !== normWwn(h.wwn))) return `wwn ${d.wwn ?? 'unknown'} != ${h.wwn}`;
  if (h.minSizeBytes !== undefined && d.sizeBytes < h.minSizeBytes) return `size ${formatBytes(d.sizeBytes)} < ${formatBytes(h.minSizeBytes)}`;
  if (h.name !== undefined && d.name !== h.name) return `name ${d.name} != ${h.name}`;
  return null;
}

export function hasHints(h: DiskHints | undefined): h is DiskHints {
  return !!h && (h.serial !== undefined || h.wwn !== undefined || h.minSizeBytes !== undefined || h.name !== undefined);
}

export function selectDisks(disks: DiskInfo[], opts: SelectOptions): DiskSelection {
  const log: string[] = [];
  const excluded: { disk: DiskInfo; reason: string }[] = [];
  const eligible: DiskInfo[] = [];
  for (const d of stableOrder(disks)) {
    const reason = exclusionReason(d, opts);
    if (reason && !isLoopAllowed(d, opts)) {
      excluded.push({ disk: d, reason });
      log.push(`skipped ${d.path}: ${reason}`);
    } else eligible.push(d);
  }
  if (eligible.length === 0) throw new DiskSelectionError(`no usable disk found (${excluded.map((e) => `${e.disk.name}: ${e.reason}`).join('; ') || 'no disks at all'})`);
  log.push(`candidate disks in stable order: ${eligible.map((d, i) => `${i}=${d.name}`).join(', ')}`);

  let pool = eligible;
  if (hasHints(opts.hints)) {
    const hints = opts.hints;
    pool = eligible.filter((d) => hintMismatch(d, hints) === null);
    if (pool.length === 0)
      throw new DiskSelectionError(
        `no disk matches the disk hints ${JSON.stringify(hints)}; refusing to pick another disk (${eligible.map((d) => `${d.name}: ${hintMismatch(d, hints)}`).join('; ')})`,
      );
    log.push(`disk hints ${JSON.stringify(hints)} match: ${pool.map((d) => d.name).join(', ')}`);
  }

  let system: DiskInfo;
  const mode = opts.multiDiskMode;
  if (pool.length === 1) {
    system = pool[0]!;
    log.push(`only one ${hasHints(opts.hints) ? 'matching' : 'usable'} disk: ${describe(system)}${mode.kind === 'index' && mode.index === 0 ? '' : ' (multi_disk_mode ignored)'}`);
  } else if (mode.kind === 'index') {
    const d = pool[mode.index];
    if (!d) throw new DiskSelectionError(`multi_disk_mode ${mode.index}: only ${pool.length} usable disks (${pool.map((x) => x.name).join(', ')})`);
    system = d;
    log.push(`multi_disk_mode ${mode.index}: disk #${mode.index} in stable order is ${describe(d)}`);
  } else {
    const wantSsd = mode.kind === 'prefer_ssd';
    const isSsd = (d: DiskInfo) => !d.rotational || d.transport === 'nvme';
    const hit = pool.find((d) => isSsd(d) === wantSsd);
    if (hit) {
      system = hit;
      log.push(`multi_disk_mode ${mode.kind}: first ${wantSsd ? 'SSD/NVMe' : 'rotational'} disk is ${describe(hit)}`);
    } else {
      system = pool[0]!;
      log.push(`multi_disk_mode ${mode.kind}: no ${wantSsd ? 'SSD/NVMe' : 'rotational'} disk, falling back to the first disk ${describe(system)}`);
    }
  }

  let backup: DiskInfo | null = null;
  if (!opts.backupOnSameDisk) {
    backup = eligible.find((d) => d !== system) ?? null;
    if (!backup) throw new DiskSelectionError(`backup_partition_on_same_disk is false but there is no other usable disk besides ${system.name}`);
    log.push(`backup partition goes to the first other disk: ${describe(backup)}`);
  }
  return { system, backup, candidates: eligible, excluded, log };
}
