// Image names as opsi allows them: spaces become '_', anything outside [A-Za-z0-9._-] is
// rejected (the name becomes a directory on the backup partition: no path tricks). One rule for
// the PC (imaging/store/names.ts refuses before it touches the disk) and the server (a property
// check refuses it when the admin sets it, not after the PC booted).

/** The imagefile value that means "every image" for delimage. */
export const ALL_IMAGES = 'all_images';

/** Why `raw` is no image name, or null when it is one. */
export function imageNameProblem(raw: string): string | null {
  const name = raw.trim().replace(/ +/g, '_');
  if (name === '') return 'image name is empty';
  if (name.length > 128) return `image name "${raw}" is longer than 128 characters`;
  const bad = name.match(/[^A-Za-z0-9._-]/g);
  if (bad) return `image name "${raw}" contains characters that are not allowed: ${[...new Set(bad)].map((c) => JSON.stringify(c)).join(' ')} (use letters, digits, '.', '_', '-'; spaces become '_')`;
  if (name.startsWith('.') || name.startsWith('-')) return `image name "${raw}" must not start with '.' or '-'`;
  if (name === ALL_IMAGES) return `"${ALL_IMAGES}" is reserved (it means every image for delimage)`;
  return null;
}
