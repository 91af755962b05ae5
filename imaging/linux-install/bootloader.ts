// Make the installed system bootable. UEFI: Microsoft-signed shim + the vendor-signed grub from the
// image into \EFI\debian or \EFI\ubuntu (the directory that grub's built-in prefix names; the entry a firmware boot entry would name) and into the removable path
// \EFI\BOOT\BOOTX64.EFI (what a PC with no boot entry - fresh NVRAM, a swapped disk - starts), each
// with a grub.cfg that finds the root by UUID. shim's fallback fbx64.efi is left out on purpose: it
// would write boot entries and reset the PC on every boot with fresh NVRAM. No efibootmgr: the
// removable path needs no NVRAM entry and the netboot chain stays first in the boot order.
// BIOS: grub-install --target=i386-pc (the image's own grub, in a chroot) into the disk's MBR and
// the gap after it. Both: /boot/grub/grub.cfg rendered (settings.ts).
import { access, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagingError } from '../errors.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import type { Chroot } from './chroot.ts';
import { DEBIAN_VENDOR, espGrubCfgText, grubCfgText, type Vendor } from './settings.ts';

/** Files in the ESP, from the image: [source in the root fs, destination in the ESP]. Pure. */
export function espFiles(vendor: Vendor): [string, string][] {
  const d = `EFI/${vendor.efiDir}`;
  return [
    ['usr/lib/shim/shimx64.efi.signed', `${d}/shimx64.efi`],
    ['usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', `${d}/grubx64.efi`],
    ['usr/lib/shim/mmx64.efi.signed', `${d}/mmx64.efi`],
    ['usr/lib/shim/BOOTX64.CSV', `${d}/BOOTX64.CSV`],
    ['usr/lib/shim/shimx64.efi.signed', 'EFI/BOOT/BOOTX64.EFI'],
    ['usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'EFI/BOOT/grubx64.efi'],
    ['usr/lib/shim/mmx64.efi.signed', 'EFI/BOOT/mmx64.efi'],
  ];
}

/**
 * Written with mtools, not mounted: the ESP is plain FAT and mtools needs no vfat driver (some
 * kernels, like this project's test host, have none).
 */
const exists = (p: string) => access(p).then(() => true, () => false);

export async function installUefiLoader(root: string, esp: string, rootUuid: string, log: (l: string) => void, vendor: Vendor = DEBIAN_VENDOR): Promise<void> {
  const env = { MTOOLS_SKIP_CHECK: '1' };
  const m = (tool: string, args: string[]) => run(tool, ['-i', esp, ...args], { env });
  const dirs = [`EFI/${vendor.efiDir}`, 'EFI/BOOT'];
  // Only our directories are replaced: other systems' loaders in the ESP stay.
  for (const dir of dirs) await runAllowFailure('mdeltree', ['-i', esp, `::/${dir}`], { env });
  await runAllowFailure('mmd', ['-i', esp, '::/EFI'], { env });
  await m('mmd', dirs.map((d) => `::/${d}`));
  for (const [from, to] of espFiles(vendor)) {
    if (!(await exists(join(root, from)))) throw new ImagingError(`the root filesystem has no ${from} (shim-signed / grub-efi-amd64-signed missing from the build?)`);
    await m('mcopy', ['-o', join(root, from), `::/${to}`]);
  }
  const cfg = join(root, 'boot/grub/esp-grub.cfg');
  await writeFile(cfg, espGrubCfgText(rootUuid));
  try {
    for (const dir of dirs) await m('mcopy', ['-o', cfg, `::/${dir}/grub.cfg`]);
  } finally {
    await rm(cfg, { force: true });
  }
  log(`ESP ${esp}: shim + signed grub in \\EFI\\${vendor.efiDir} and \\EFI\\BOOT\\BOOTX64.EFI (removable path)`);
}

export async function installBiosLoader(chroot: Chroot, disk: string, log: (l: string) => void): Promise<void> {
  await chroot.run('grub-install', ['--target=i386-pc', '--boot-directory=/boot', '--no-floppy', disk]);
  log(`grub (i386-pc) installed into the MBR of ${disk}`);
}

/**
 * /boot/grub/grub.cfg. The kernel's /vmlinuz and /initrd.img links are in the root on Debian and
 * in /boot on Ubuntu (its kernel-img.conf says link_in_boot): whichever the image has.
 */
export async function writeGrubConfig(root: string, rootUuid: string, vendor: Vendor = DEBIAN_VENDOR): Promise<void> {
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  // lstat: the link itself (an absolute link target would point into the boot image, not the tree).
  const present = (p: string) => lstat(join(root, p)).then(() => true, () => false);
  const linksIn = (await present('vmlinuz')) ? '' : (await present('boot/vmlinuz')) ? '/boot' : null;
  if (linksIn === null) throw new ImagingError('the root filesystem has no /vmlinuz or /boot/vmlinuz (no kernel in the build?)');
  await writeFile(join(root, 'boot/grub/grub.cfg'), grubCfgText(rootUuid, vendor, linksIn));
}
