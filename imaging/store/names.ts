// Image names as opsi allows them: spaces become '_', anything outside [A-Za-z0-9._-] is
// rejected (the name becomes a directory on the backup partition: no path tricks).
import { ImagingError } from '../errors.ts';

/** The imagefile value that means "every image" for delimage. */
export const ALL_IMAGES = 'all_images';

export function normalizeImageName(raw: string): string {
  const name = raw.trim().replace(/ +/g, '_');
  if (name === '') throw new ImagingError('image name is empty');
  if (name.length > 128) throw new ImagingError(`image name "${raw}" is longer than 128 characters`);
  const bad = name.match(/[^A-Za-z0-9._-]/g);
  if (bad) throw new ImagingError(`image name "${raw}" contains characters that are not allowed: ${[...new Set(bad)].map((c) => JSON.stringify(c)).join(' ')} (use letters, digits, '.', '_', '-'; spaces become '_')`);
  if (name.startsWith('.') || name.startsWith('-')) throw new ImagingError(`image name "${raw}" must not start with '.' or '-'`);
  if (name === ALL_IMAGES) throw new ImagingError(`"${ALL_IMAGES}" is reserved (it means every image for delimage)`);
  return name;
}
