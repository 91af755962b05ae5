// Disk discovery: `lsblk -J -b -O` validated with zod, completed from /sys/block.
// In the boot image there is devtmpfs but no udev, so lsblk's udev-sourced fields (model,
// serial, wwn, by-path) are often null: sysfs is the fallback, and the physical sysfs path
// (PCI/ATA/SCSI topology) stands in for by-path as the stable order key.
import { readFile, readlink, realpath, readdir } from 'node:fs/promises';
import { z } from 'zod';
import { run } from '../../lib/process.ts';

const flag = z.union([z.boolean(), z.string(), z.number()]).nullish().transform((v) => v === true || v === 1 || v === '1' || v === 'true');
const num = z.union([z.number(), z.string()]).nullish().transform((v) => (v === null || v === undefined ? null : Number(v)));
const str = z.string().nullish().transform((v) => (v === undefined || v === null || v.trim() === '' ? null : v.trim()));

const lsblkNode = z.object({
  name: z.string(),
  path: z.string().nullish(),
  type: z.string(),
  size: num,
  'log-sec': num,
  'phy-sec': num,
  rota: flag,
  rm: flag,
  ro: flag,
  hotplug: flag,
  tran: str,
  model: str,
  serial: str,
  wwn: str,
  hctl: str,
  fstype: str,
  label: str,
  mountpoints: z.array(z.string().nullable()).nullish(),
  mountpoint: str,
  get children() {
    return z.array(lsblkNode).optional();
  },
});
type LsblkNodeRaw = z.output<typeof lsblkNode>;

export const lsblkOutput = z.object({ blockdevices: z.array(lsblkNode) });

export interface PartitionInfo {
  name: string;
  path: string;
  fstype: string | null;
  label: string | null;
  mountpoints: string[];
}

export interface DiskInfo {
  name: string;
  path: string;
  /** lsblk TYPE: disk, loop, rom, ... */
  type: string;
  sizeBytes: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  rotational: boolean;
  removable: boolean;
  readOnly: boolean;
  /** usb, sata, nvme, ... or null (virtio, loop). */
  transport: string | null;
  model: string | null;
  serial: string | null;
  wwn: string | null;
  hctl: string | null;
  /** Stable physical location: /dev/disk/by-path name or the sysfs device path. */
  location: string;
  partitions: PartitionInfo[];
  /** Mount points on the disk or its partitions (a disk in use is never a target). */
  mountpoints: string[];
}

/** What discovery reads from sysfs, injectable so fixtures can stand in for /sys. */
export interface SysfsSource {
  read(path: string): Promise<string | null>;
  resolve(path: string): Promise<string | null>;
  byPath(): Promise<Map<string, string>>;
}

export const realSysfs: SysfsSource = {
  async read(path) {
    try {
      return (await readFile(path, 'utf8')).trim() || null;
    } catch {
      return null;
    }
  },
  async resolve(path) {
    try {
      return await realpath(path);
    } catch {
      return null;
    }
  },
  async byPath() {
    const map = new Map<string, string>();
    try {
      for (const entry of await readdir('/dev/disk/by-path')) {
        const target = await readlink(`/dev/disk/by-path/${entry}`).catch(() => null);
        if (target) map.set(target.split('/').pop() ?? '', entry);
      }
    } catch {
      /* no udev: no by-path links */
    }
    return map;
  },
};

function mountsOf(node: LsblkNodeRaw): string[] {
  const own = [...(node.mountpoints ?? []), node.mountpoint].filter((m): m is string => typeof m === 'string' && m !== '');
  const kids = (node.children ?? []).flatMap(mountsOf);
  return [...new Set([...own, ...kids])];
}

/** Turn validated lsblk JSON into DiskInfo, completing null fields from sysfs. */
export async function disksFromLsblk(json: unknown, sysfs: SysfsSource = realSysfs): Promise<DiskInfo[]> {
  const parsed = lsblkOutput.parse(json);
  const byPath = await sysfs.byPath();
  const disks: DiskInfo[] = [];
  for (const node of parsed.blockdevices) {
    if (node.type === 'part') continue;
    const sys = `/sys/block/${node.name}`;
    const sysNum = async (rel: string) => {
      const v = await sysfs.read(`${sys}/${rel}`);
      return v === null ? null : Number(v);
    };
    const rotational = (await sysNum('queue/rotational')) ?? (node.rota ? 1 : 0);
    const removable = (await sysNum('removable')) ?? (node.rm ? 1 : 0);
    const ro = (await sysNum('ro')) ?? (node.ro ? 1 : 0);
    const sizeSectors512 = await sysNum('size');
    const logical = node['log-sec'] ?? (await sysNum('queue/logical_block_size')) ?? 512;
    const physical = node['phy-sec'] ?? (await sysNum('queue/physical_block_size')) ?? logical;
    const model = node.model ?? (await sysfs.read(`${sys}/device/model`));
    const serial = node.serial ?? (await sysfs.read(`${sys}/device/serial`));
    const wwn = node.wwn ?? (await sysfs.read(`${sys}/wwid`)) ?? (await sysfs.read(`${sys}/device/wwid`));
    const location = byPath.get(node.name) ?? (await sysfs.resolve(`${sys}/device`)) ?? (await sysfs.resolve(sys)) ?? sys;
    const transport = node.tran ?? (node.name.startsWith('nvme') ? 'nvme' : null);
    disks.push({
      name: node.name,
      path: node.path ?? `/dev/${node.name}`,
      type: node.type,
      sizeBytes: node.size ?? (sizeSectors512 === null ? 0 : sizeSectors512 * 512),
      logicalSectorSize: logical,
      physicalSectorSize: physical,
      rotational: rotational === 1,
      removable: removable === 1,
      readOnly: ro === 1,
      transport,
      model,
      serial,
      wwn,
      hctl: node.hctl,
      location,
      partitions: (node.children ?? [])
        .filter((c) => c.type === 'part')
        .map((c) => ({ name: c.name, path: c.path ?? `/dev/${c.name}`, fstype: c.fstype, label: c.label, mountpoints: mountsOf(c) })),
      mountpoints: mountsOf(node),
    });
  }
  return disks;
}

/** Run lsblk (optionally for given devices only) and return the disks. */
export async function discoverDisks(devices: string[] = []): Promise<DiskInfo[]> {
  const { stdout } = await run('lsblk', ['-J', '-b', '-O', ...devices]);
  return disksFromLsblk(JSON.parse(stdout));
}
