// free_on_backup: how full the backup filesystem is.
import { statfs } from 'node:fs/promises';
import { formatBytes } from '../lib/sizes.ts';

export interface BackupSpace {
  device: string;
  mountpoint: string;
  sizeBytes: number;
  usedBytes: number;
  freeBytes: number;
  usePercent: number;
  /** The read-only property's text, like opsi's: device, size, used, remaining, use %, mount point. */
  text: string;
}

export async function backupSpace(root: string, device: string): Promise<BackupSpace> {
  const s = await statfs(root);
  const sizeBytes = s.blocks * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  const usedBytes = (s.blocks - s.bfree) * s.bsize;
  // Like df: used / (used + available), rounded up.
  const usePercent = usedBytes + freeBytes === 0 ? 0 : Math.ceil((usedBytes * 100) / (usedBytes + freeBytes));
  const text = `device: ${device}, size: ${formatBytes(sizeBytes)}, used: ${formatBytes(usedBytes)}, remaining: ${formatBytes(freeBytes)}, use: ${usePercent}%, mountpoint: ${root}`;
  return { device, mountpoint: root, sizeBytes, usedBytes, freeBytes, usePercent, text };
}
