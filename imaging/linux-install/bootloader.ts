// Make the installed system bootable. UEFI: Microsoft-signed shim + Debian-signed grub from the
// image into \EFI\debian (the entry a firmware boot entry would name) and into the removable path
// \EFI\BOOT\BOOTX64.EFI (what a PC with no boot entry - fresh NVRAM, a swapped disk - starts), each
// with a grub.cfg that finds the root by UUID. shim's fallback fbx64.efi is left out on purpose: it
// would write boot entries and reset the PC on every boot with fresh NVRAM. No efibootmgr: the
// removable path needs no NVRAM entry and the netboot chain stays first in the boot order.
// BIOS: grub-install --target=i386-pc (the image's own grub, in a chroot) into the disk's MBR and
// the gap after it. Both: /boot/grub/grub.cfg rendered (settings.ts).
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagingError } from '../errors.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import type { Chroot } from './chroot.ts';
import { espGrubCfgText, grubCfgText } from './settings.ts';

/** Files in the ESP, from the image: [source in the root fs, destination in the ESP]. */
export const ESP_FILES: readonly (readonly [string, string])[] = [
  ['usr/lib/shim/shimx64.efi.signed', 'EFI/debian/shimx64.efi'],
  ['usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'EFI/debian/grubx64.efi'],
  ['usr/lib/shim/mmx64.efi.signed', 'EFI/debian/mmx64.efi'],
  ['usr/lib/shim/BOOTX64.CSV', 'EFI/debian/BOOTX64.CSV'],
  ['usr/lib/shim/shimx64.efi.signed', 'EFI/BOOT/BOOTX64.EFI'],
  ['usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'EFI/BOOT/grubx64.efi'],
  ['usr/lib/shim/mmx64.efi.signed', 'EFI/BOOT/mmx64.efi'],
];

/**
 * Written with mtools, not mounted: the ESP is plain FAT and mtools needs no vfat driver (some
 * kernels, like this project's test host, have none).
 */
const exists = (p: string) => access(p).then(() => true, () => false);

export async function installUefiLoader(root: string, esp: string, rootUuid: string, log: (l: string) => void): Promise<void> {
  const env = { MTOOLS_SKIP_CHECK: '1' };
  const m = (tool: string, args: string[]) => run(tool, ['-i', esp, ...args], { env });
  // Only our directories are replaced: other systems' loaders in the ESP stay.
  for (const dir of ['::/EFI/debian', '::/EFI/BOOT']) await runAllowFailure('mdeltree', ['-i', esp, dir], { env });
  await runAllowFailure('mmd', ['-i', esp, '::/EFI'], { env });
  await m('mmd', ['::/EFI/debian', '::/EFI/BOOT']);
  for (const [from, to] of ESP_FILES) {
    if (!(await exists(join(root, from)))) throw new ImagingError(`the root filesystem has no ${from} (shim-signed / grub-efi-amd64-signed missing from the build?)`);
    await m('mcopy', ['-o', join(root, from), `::/${to}`]);
  }
  const cfg = join(root, 'boot/grub/esp-grub.cfg');
  await writeFile(cfg, espGrubCfgText(rootUuid));
  try {
    for (const dir of ['EFI/debian', 'EFI/BOOT']) await m('mcopy', ['-o', cfg, `::/${dir}/grub.cfg`]);
  } finally {
    await rm(cfg, { force: true });
  }
  log(`ESP ${esp}: shim + signed grub in \\EFI\\debian and \\EFI\\BOOT\\BOOTX64.EFI (removable path)`);
}

export async function installBiosLoader(chroot: Chroot, disk: string, log: (l: string) => void): Promise<void> {
  await chroot.run('grub-install', ['--target=i386-pc', '--boot-directory=/boot', '--no-floppy', disk]);
  log(`grub (i386-pc) installed into the MBR of ${disk}`);
}

export async function writeGrubConfig(root: string, rootUuid: string): Promise<void> {
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  await writeFile(join(root, 'boot/grub/grub.cfg'), grubCfgText(rootUuid));
}
