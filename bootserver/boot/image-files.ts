// The boot image's files under the boot root, per boot.initrd: what grub loads (kernel, initrd)
// and what stage 1's init fetches over HTTP. One list for the Grub config and `netimage doctor`.

export type InitrdMode = 'single' | 'two-stage';

export interface BootImageFiles {
  kernel: string;
  initrd: string;
  /** Fetched by init over HTTP after grub's part (two-stage: stage 2). */
  fetched: string[];
}

export function bootImageFiles(mode: InitrdMode): BootImageFiles {
  return mode === 'two-stage'
    ? { kernel: 'netimage/kernel', initrd: 'netimage/stage1', fetched: ['netimage/stage2'] }
    : { kernel: 'netimage/kernel', initrd: 'netimage/initrd', fetched: [] };
}
