// What a partition holds and where it sits: recorded at backup, compared at restore (delta or full).
import { readFile, realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { blockGeometry } from '../devices.ts';
import { probeFilesystem } from '../fsdetect.ts';
import type { SourceIdentity } from './format.ts';

export async function partitionIdentity(device: string): Promise<SourceIdentity> {
  const [fs, geometry] = await Promise.all([probeFilesystem(device), blockGeometry(device)]);
  const name = basename(await realpath(device));
  // sysfs counts in 512-byte units whatever the logical sector size.
  const start = await readFile(`/sys/class/block/${name}/start`, 'utf8').then((s) => Number(s.trim()) * 512, () => null);
  return { fsType: fs.type ?? '', fsUuid: fs.uuid, partitionSizeBytes: geometry.sizeBytes, partitionStartBytes: start };
}

/**
 * The partition table's id of the partition (GPT PARTUUID; MBR disk id + number): it stays when a
 * restore rewrites the file system and when the kernel names the disk differently next boot
 * (sda/sdb on a PC with two disks). Null for a device without a partition entry.
 */
export async function partitionEntryUuid(device: string): Promise<string | null> {
  const id = (await probeFilesystem(device)).raw['PART_ENTRY_UUID'];
  return id && /^[0-9A-Za-z-]+$/.test(id) ? id.toLowerCase() : null;
}
