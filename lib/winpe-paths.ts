// Paths the agent's WinPE staging (imaging/windows-install/) and the PC's Grub config
// (bootserver/boot/grub-render.ts) must agree on.

/** On the winpe partition while WinPE has not started setup yet: Grub boots WinPE only then. */
export const WINPE_PENDING_FILE = 'netimage/pending';
/** WinPE's UEFI loader and its BCD on the ESP. */
export const ESP_WINPE_DIR = 'EFI/netimage-winpe';
