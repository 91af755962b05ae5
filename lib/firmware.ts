// A PC's firmware as the boot decision, the Grub configs, the disk planner and the agent see it.
// (The DHCP layer classifies loaders more finely, see bootserver/dhcp/pxe.ts `LoaderPlatform`;
// the VM harness adds Secure Boot, see vm-harness/qemu.ts `VmFirmware`.)
export type Firmware = 'uefi' | 'bios';
