// The images on a client's backup partition as the server knows them (issue 12, client detail):
// opsi's restore `imagefiles_list` names them; the agent's report beside it (agentPropertyUpdate
// `images`) adds size, date, source partition and format. Pure.
import type { BackupImageReport, PropertyValue } from '../../lib/agent-protocol.ts';
import type { ClientImage } from '../store/types.ts';

/** One row of GET /api/v1/clients/:id/images; null = not reported (an agent from before the report). */
export interface ClientImageView {
  name: string;
  /** The image a restore uses unless told otherwise (restore's `imagefile`). */
  selected: boolean;
  sizeBytes: number | null;
  /** ISO 8601, or null when the image carries no date or the agent did not report one. */
  createdAt: string | null;
  sourcePartition: string | null;
  fsType: string | null;
  format: BackupImageReport['format'] | null;
  /** When the agent reported these details. */
  reported: string | null;
}

/** Why a report does not describe exactly the listed images, or null. */
export function reportMismatch(names: readonly string[], images: readonly BackupImageReport[]): string | null {
  const reported = images.map((i) => i.name);
  if (new Set(reported).size !== reported.length) return `images names an image twice (${reported.join(', ')})`;
  const missing = names.filter((n) => !reported.includes(n));
  const extra = reported.filter((n) => !names.includes(n));
  if (missing.length || extra.length) return `images must describe exactly the images of imagefiles_list (${missing.length ? `not described: ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `not listed: ${extra.join(', ')}` : ''})`;
  return null;
}

/**
 * The rows to keep after a new `imagefiles_list`: the report's when there is one; without one (an
 * older agent) the details already known of the images still listed, so nothing is invented.
 */
export function imagesAfterUpdate(clientId: string, names: readonly string[], report: readonly BackupImageReport[] | undefined, stored: readonly ClientImage[], now: string): ClientImage[] {
  if (report) return report.map((i) => ({ ...i, clientId, reported: now }));
  return stored.filter((s) => names.includes(s.name));
}

const asNames = (v: PropertyValue | undefined): string[] => (Array.isArray(v) ? v : typeof v === 'string' && v !== '' ? [v] : []);

/** The client's images in `imagefiles_list` order, each with what its agent reported of it. */
export function clientImagesView(restoreValues: Readonly<Record<string, PropertyValue>>, stored: readonly ClientImage[]): ClientImageView[] {
  const selected = restoreValues['imagefile'];
  return asNames(restoreValues['imagefiles_list']).map((name) => {
    const d = stored.find((s) => s.name === name);
    return {
      name,
      selected: name === selected,
      sizeBytes: d?.sizeBytes ?? null,
      createdAt: d?.createdAt ?? null,
      sourcePartition: d?.sourcePartition ?? null,
      fsType: d?.fsType ?? null,
      format: d?.format ?? null,
      reported: d?.reported ?? null,
    };
  });
}
