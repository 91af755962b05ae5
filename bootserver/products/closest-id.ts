// The product id an admin most likely meant when a typed one does not exist. Pure.
import { distance as editDistance } from 'fastest-levenshtein';

/**
 * The id within edit distance 3 of `wanted` (a typo), else the one id ending in `-wanted` (the
 * short name the web UI shows, "backup" for opsi-local-image-backup), or null.
 */
export function closestId(wanted: string, ids: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  for (const id of ids) {
    const d = editDistance(wanted.toLowerCase(), id);
    if (d < bestDistance) [best, bestDistance] = [id, d];
  }
  if (best !== null || wanted === '') return best;
  const bySuffix = ids.filter((id) => id.endsWith(`-${wanted.toLowerCase()}`));
  return bySuffix.length === 1 ? bySuffix[0]! : null;
}
