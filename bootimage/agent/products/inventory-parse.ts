// Pure parsing for hwinvent: `lsblk -J -b -O` output plus sysfs values -> inventory disks.
// Without udev (the boot image) lsblk leaves model/serial/wwn null; sysfs fills them in.
import { z } from 'zod';
import type { AgentInventory } from '../../../lib/agent-protocol.ts';

type InventoryDisk = AgentInventory['disks'][number];

const numLike = z.union([z.number(), z.string()]).nullish();
const strLike = z.string().nullish();
const boolLike = z.union([z.boolean(), z.string(), z.number()]).nullish();

const lsblkDevice = z.object({
  name: z.string(),
  path: strLike,
  type: z.string(),
  size: numLike,
  'log-sec': numLike,
  'phy-sec': numLike,
  rota: boolLike,
  tran: strLike,
  model: strLike,
  serial: strLike,
  wwn: strLike,
});
const lsblkJson = z.object({ blockdevices: z.array(lsblkDevice.passthrough()) });

/** Raw strings read from /sys/block/<name>/... (absent files as undefined). */
export interface SysfsDisk {
  /** queue/logical_block_size, queue/physical_block_size, queue/rotational, size (512-byte sectors) */
  logicalBlockSize?: string;
  physicalBlockSize?: string;
  rotational?: string;
  sizeSectors?: string;
  /** device/model, device/serial or serial (virtio-blk), wwid or device/wwid */
  model?: string;
  serial?: string;
  wwid?: string;
  /** realpath of /sys/block/<name>/device, for the transport when lsblk has none */
  devicePath?: string;
}

function clean(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const t = v.replace(/\0/g, '').trim();
  return t === '' ? null : t;
}

function toInt(v: string | number | null | undefined): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : null;
}

function toBool(v: string | number | boolean | null | undefined): boolean | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'boolean') return v;
  return v === 1 || v === '1' || v === 'true';
}

/** virtio, nvme, usb, sata, scsi from the sysfs device path when lsblk reports no transport. */
export function transportFromDevicePath(devicePath: string | undefined): string | null {
  if (!devicePath) return null;
  if (/\/virtio\d+/.test(devicePath)) return 'virtio';
  if (/\/nvme\//.test(devicePath)) return 'nvme';
  if (/\/usb\d+\//.test(devicePath)) return 'usb';
  if (/\/ata\d+\//.test(devicePath)) return 'sata';
  if (/\/host\d+\/target/.test(devicePath)) return 'scsi';
  return null;
}

/** WWN from sysfs wwid ("naa.5000c500a1b2c3d4", "eui.0025388...", "t10.ATA ...") in lsblk's style (0x...). */
export function wwnFromWwid(wwid: string | null): string | null {
  if (!wwid) return null;
  const m = /^(?:naa|eui)\.([0-9a-fA-F]+)$/.exec(wwid);
  return m?.[1] ? `0x${m[1].toLowerCase()}` : null;
}

export interface DiskParseOptions {
  /** lsblk TYPEs to list; the boot image lists real disks only. Tests on the host add 'loop'. */
  types?: readonly string[];
}

export function inventoryDisks(
  lsblkOutput: unknown,
  sysfs: Readonly<Record<string, SysfsDisk>>,
  options: DiskParseOptions = {},
): InventoryDisk[] {
  const types = options.types ?? ['disk'];
  const parsed = lsblkJson.parse(lsblkOutput);
  const disks: InventoryDisk[] = [];
  for (const d of parsed.blockdevices) {
    if (!types.includes(d.type)) continue;
    const s = sysfs[d.name] ?? {};
    const sysSize = toInt(s.sizeSectors);
    const sizeBytes = toInt(d.size) ?? (sysSize === null ? 0 : sysSize * 512);
    const logical = toInt(d['log-sec']) ?? toInt(s.logicalBlockSize) ?? 512;
    const physical = toInt(d['phy-sec']) ?? toInt(s.physicalBlockSize) ?? logical;
    disks.push({
      name: d.name,
      path: clean(d.path) ?? `/dev/${d.name}`,
      model: clean(d.model) ?? clean(s.model),
      serial: clean(d.serial) ?? clean(s.serial),
      wwn: clean(d.wwn) ?? wwnFromWwid(clean(s.wwid)),
      sizeBytes,
      rotational: toBool(d.rota) ?? toBool(s.rotational) ?? false,
      transport: clean(d.tran) ?? transportFromDevicePath(s.devicePath),
      logicalSectorSize: logical,
      physicalSectorSize: physical,
    });
  }
  return disks.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/** DMI strings from /sys/class/dmi/id; firmware placeholders ("To be filled by O.E.M.") become null. */
export function cleanDmi(value: string | undefined): string | null {
  const v = clean(value);
  if (!v) return null;
  if (/^(to be filled by o\.?e\.?m\.?|default string|not specified|none|system serial number|0+)$/i.test(v)) return null;
  return v;
}
