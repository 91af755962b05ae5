// Where an unattended Windows is staged: the winpe partition (and the ESP) prepare made for
// Windows, read from the backup partition's layout.json like backup/restore do.
import type { Firmware } from '../../lib/firmware.ts';
import { partitionPath } from '../devices.ts';
import { ImagingError } from '../errors.ts';
import { openImageStore, type FlowContext } from '../flows.ts';
import type { WindowsTarget } from './stage.ts';

/** Refuses a layout made for Linux, for the other firmware, or without a winpe partition. */
export async function findWindowsTarget(ctx: FlowContext, firmware: Firmware): Promise<WindowsTarget & { system: string; backup: string }> {
  const store = await openImageStore(ctx, { readOnly: true });
  try {
    const { layout, systemDisk } = store;
    if (layout.osFamily !== 'windows') throw new ImagingError('the disk was prepared for Linux: run opsi-local-image-prepare with start_os_installation set to this Windows product (or os_family=windows) first');
    if (layout.firmware !== firmware) throw new ImagingError(`the disk was prepared for ${layout.firmware} but the PC booted ${firmware}: run opsi-local-image-prepare again in this boot mode`);
    const onSystem = (role: string) => layout.partitions.find((p) => p.disk === 'system' && p.role === role);
    const winpe = onSystem('winpe');
    const esp = onSystem('esp');
    if (!winpe) throw new ImagingError('layout.json has no winpe partition: prepare again with winpe_partition_size of at least the size of WinPE and the install sources (4G in opsi)');
    if (firmware === 'uefi' && !esp) throw new ImagingError('layout.json has no EFI system partition on a UEFI disk');
    return {
      disk: systemDisk.path,
      winpe: partitionPath(systemDisk.path, winpe.number),
      esp: esp ? partitionPath(systemDisk.path, esp.number) : null,
      firmware,
      layout,
      system: store.systemPartition,
      backup: store.backupDevice,
    };
  } finally {
    await store.close();
  }
}
