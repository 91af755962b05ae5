// Where an OS install goes: the disk and partitions prepare made, read from the backup partition's
// layout.json (the same lookup backup/restore use). The backup partition is never in the result's
// wipe list: the install writes only the system partition, the swap partition and the ESP.
import type { Firmware } from '../../lib/firmware.ts';
import { partitionPath } from '../devices.ts';
import { ImagingError } from '../errors.ts';
import { openImageStore, type FlowContext } from '../flows.ts';

export interface InstallTarget {
  /** Whole disk, e.g. /dev/sda: gets grub's boot code in its MBR on BIOS. */
  disk: string;
  /** The system partition: a fresh ext4 of its whole size becomes the root filesystem. */
  system: string;
  /** ESP (UEFI layouts only): keeps its vfat, gets the bootloader files. */
  esp: string | null;
  /** The swap partition (linux layouts call winpe "swap"), if prepare made one. */
  swap: string | null;
  /** The backup partition: read for layout.json, never written by the install. */
  backup: string;
  firmware: Firmware;
}

/** Find the install target; refuses a layout made for Windows or for the other firmware. */
export async function findInstallTarget(ctx: FlowContext, firmware: Firmware): Promise<InstallTarget> {
  const store = await openImageStore(ctx, { readOnly: true });
  try {
    const { layout, systemDisk } = store;
    if (layout.osFamily !== 'linux')
      throw new ImagingError(
        `the disk was prepared for ${layout.osFamily} (NTFS system partition): run opsi-local-image-prepare with start_os_installation=opsi-local-image-debian (or os_family=linux) first`,
      );
    if (layout.firmware !== firmware)
      throw new ImagingError(`the disk was prepared for ${layout.firmware} but the PC booted ${firmware}: run opsi-local-image-prepare again in this boot mode`);
    const onSystem = (role: string) => layout.partitions.find((p) => p.disk === 'system' && p.role === role);
    const esp = onSystem('esp');
    const swap = onSystem('winpe');
    if (firmware === 'uefi' && !esp) throw new ImagingError('layout.json has no EFI system partition on a UEFI disk');
    return {
      disk: systemDisk.path,
      system: store.systemPartition,
      esp: esp ? partitionPath(systemDisk.path, esp.number) : null,
      swap: swap && swap.fs === 'swap' ? partitionPath(systemDisk.path, swap.number) : null,
      backup: store.backupDevice,
      firmware,
    };
  } finally {
    await store.close();
  }
}

/** What the console shows before the install: what is wiped, what is kept. */
export function describeTarget(t: InstallTarget): string[] {
  return [
    `disk ${t.disk}:`,
    `  ${t.system}: system partition - ERASED (new ext4 with the root filesystem from the server)`,
    ...(t.swap ? [`  ${t.swap}: swap - ERASED (new swap)`] : []),
    ...(t.esp ? [`  ${t.esp}: EFI system partition - bootloader files replaced in \\EFI\\debian (Ubuntu: \\EFI\\ubuntu) and \\EFI\\BOOT`] : []),
    ...(t.firmware === 'bios' ? [`  ${t.disk}: boot code in the MBR replaced (grub)`] : []),
    `  ${t.backup}: backup partition - kept (images are not touched)`,
  ];
}
