// What goes into the boot image: Debian packages, the tools taken from each, kernel modules.
// Changing anything here changes the build inputs hash (this file is hashed), so images rebuild.

/** Tools by Debian package; paths as inside the .deb. Symlinks are kept as symlinks. */
export const TOOL_PACKAGES: Record<string, readonly string[]> = {
  'busybox-static': ['bin/busybox'],
  partclone: ['partclone.*'], // every partclone.* binary in usr/sbin
  fdisk: ['sbin/sfdisk', 'sbin/fdisk'],
  gdisk: ['sbin/sgdisk', 'sbin/gdisk'],
  'util-linux': ['bin/lsblk', 'sbin/blkid', 'sbin/wipefs', 'sbin/blockdev', 'usr/bin/partx', 'bin/findmnt', 'sbin/mkswap'],
  // util-linux mount: busybox's cannot hand fuse types (ntfs-3g) to their mount helpers reliably
  mount: ['sbin/losetup', 'bin/mount', 'bin/umount'],
  e2fsprogs: [
    'sbin/mke2fs', 'sbin/mkfs.ext2', 'sbin/mkfs.ext3', 'sbin/mkfs.ext4', 'sbin/e2fsck', 'sbin/fsck.ext4',
    'sbin/resize2fs', 'sbin/tune2fs', 'sbin/dumpe2fs', 'sbin/e2label',
  ],
  dosfstools: ['sbin/mkfs.fat', 'sbin/mkfs.vfat', 'sbin/fsck.fat', 'sbin/fsck.vfat', 'sbin/fatlabel'],
  'ntfs-3g': [
    'bin/ntfs-3g', 'bin/ntfs-3g.probe', 'sbin/mount.ntfs-3g', 'sbin/mount.ntfs', 'sbin/mkntfs', 'sbin/mkfs.ntfs', 'bin/ntfsfix', 'sbin/ntfsresize',
    'sbin/ntfslabel', 'bin/ntfsinfo',
  ],
  wimtools: [
    'usr/bin/wimlib-imagex', 'usr/bin/wimcapture', 'usr/bin/wimapply', 'usr/bin/wiminfo', 'usr/bin/wimverify',
    'usr/bin/wimextract',
  ],
  libwim15: [],
  // hivexsh: the SYSTEM hive's sysprep state before a WIM capture (imaging/wim/generalized.ts)
  'libhivex-bin': ['usr/bin/hivexsh'],
  // hivex converts key and value names with iconv (Latin-1 and UTF-16LE to UTF-8): without these
  // glibc modules every hivexsh command fails ("Bad file descriptor").
  // mtools (the OS install's ESP) converts 8.3 names with iconv from its default DOS code page 850:
  // without IBM850 and the extra modules list that names it, every mmd/mcopy fails ("Error
  // converting to codepage 850").
  libc6: [
    'usr/lib/x86_64-linux-gnu/gconv/gconv-modules', 'usr/lib/x86_64-linux-gnu/gconv/ISO8859-1.so', 'usr/lib/x86_64-linux-gnu/gconv/UTF-16.so',
    'usr/lib/x86_64-linux-gnu/gconv/IBM850.so', 'usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d/gconv-modules-extra.conf',
  ],
  zstd: ['usr/bin/zstd'],
  // GNU tar: the OS install unpacks the root filesystem with xattrs (file capabilities) and ACLs
  tar: ['bin/tar'],
  // the OS install writes the ESP without a vfat mount (imaging/linux-install/bootloader.ts)
  mtools: ['usr/bin/mtools', 'usr/bin/mcopy', 'usr/bin/mmd', 'usr/bin/mdeltree', 'usr/bin/mdir'],
  kmod: ['bin/kmod', 'sbin/modprobe', 'sbin/insmod', 'sbin/lsmod', 'sbin/rmmod', 'sbin/depmod', 'sbin/modinfo'],
};

/** Kernel modules besides the NIC drivers (names; '-' = '_'); their modules.dep closure ships too. Built-ins are skipped. */
export const KERNEL_MODULES: readonly string[] = [
  // virtual hardware (QEMU/KVM/Hyper-V style)
  'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net',
  // storage: NVMe (behind Intel VMD too), SATA, eMMC/SD, UFS, SAS/SCSI RAID HBAs
  'nvme', 'vmd', 'ahci', 'ata_piix', 'ata_generic', 'sd_mod', 'sdhci_pci', 'sdhci_acpi', 'mmc_block', 'ufshcd_pci',
  'megaraid_sas', 'mpt3sas', 'sym53c8xx',
  // USB storage
  'xhci_pci', 'xhci_hcd', 'ehci_pci', 'ehci_hcd', 'usb_storage', 'uas',
  // NICs: every in-tree Ethernet driver, chosen from modules.dep (bootimage/builder/nic-modules.ts)
  // keyboards, for the OS install's console confirmation (askbeforeinst): PS/2 and USB
  'i8042', 'atkbd', 'usbhid', 'hid_generic',
  // filesystems and the rest
  'ext4', 'vfat', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8', 'efivarfs', 'loop', 'fuse',
  'crc32c_intel', 'crc32c_generic',
  // the root of a two-stage boot: stage 2 is a squashfs image, loop-mounted under a tmpfs overlay
  'squashfs', 'overlay',
];

/**
 * What stage 1 needs to make stage 2 its root (docs/bootimage.md "Two stages"): the fetched
 * squashfs image on a loop device, overlaid with a tmpfs. All three are modules in Debian's kernel.
 */
export const STAGE1_ROOT_MODULES: readonly string[] = ['loop', 'squashfs', 'overlay'];

/** Loaded by name at boot even without a matching device (filesystems, loop, fuse). */
export const MODULES_ALWAYS_LOADED: readonly string[] = [
  'ext4', 'vfat', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8', 'loop', 'fuse', 'sd_mod',
  // keyboards: a PS/2 controller announces no modalias; HID devices sit on a bus init does not scan
  'i8042', 'atkbd', 'usbhid', 'hid_generic',
];

/** Library sonames replaced by a stub in the image (see docs/bootimage.md: ICU data). */
export const ICU_DATA_SONAME = /^libicudata\.so\.(\d+)$/;

/**
 * What the node binary (from the npm registry, not a .deb) would declare as Depends: where its
 * libraries (libstdc++, libgcc_s, libc/libm/libdl/libpthread) are looked for.
 */
export const NODE_DEPENDS: readonly string[] = ['libc6', 'libgcc-s1', 'libstdc++6'];
