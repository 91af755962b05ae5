// Disk hints from a property string, Ironic-style: "serial=S3Z1NB0K wwn=0x5000c500a1b2c3d4 min_size=100G".
import { ImagingError } from './errors.ts';
import type { DiskHints } from './disks/select.ts';
import { parseSize } from '../lib/sizes.ts';

export function parseDiskHints(text: string | undefined): DiskHints | undefined {
  if (!text || text.trim() === '') return undefined;
  const hints: DiskHints = {};
  for (const part of text.trim().split(/[\s,;]+/)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new ImagingError(`disk hint "${part}" is not key=value (keys: serial, wwn, min_size)`);
    const key = part.slice(0, i).toLowerCase();
    const value = part.slice(i + 1);
    if (key === 'serial') hints.serial = value;
    else if (key === 'wwn') hints.wwn = value;
    else if (key === 'min_size' || key === 'size') {
      const s = parseSize(value, 'disk hint min_size');
      if (s.kind !== 'bytes') throw new ImagingError('disk hint min_size must be a size like 100G');
      hints.minSizeBytes = s.bytes;
    } else throw new ImagingError(`unknown disk hint "${key}" (keys: serial, wwn, min_size)`);
  }
  return hints;
}
