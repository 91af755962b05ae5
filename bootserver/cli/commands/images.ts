// `netimage images <hostname>`: the images on a client's backup partition as the server knows
// them: the client's agent reports them (imagefiles_list of the restore product, with each
// image's size, date and format beside it) after each backup, delimage and prepare, and the free
// space after a backup. An agent from before that report sent names only: size and date unknown.
import { formatInZone } from '../../../lib/zoned-time.ts';
import { displayZone } from '../time.ts';
import { seg, type CommandGroup } from '../command.ts';
import type { AdminClient } from '../api-client.ts';
import { table } from '../format.ts';
import type { PropertyValue } from '../../../lib/agent-protocol.ts';
import { formatBytes } from '../../../lib/bytes.ts';
import type { ClientImageView } from '../../service/client-images.ts';

// Product ids (products/*.json): these rewrite the list.
const BACKUP_PRODUCT = 'opsi-local-image-backup';
const LIST_WRITERS = [BACKUP_PRODUCT, 'opsi-local-image-delimage', 'opsi-local-image-prepare'];

interface ImagesView {
  client: string;
  images: ClientImageView[];
  /** Space on the backup partition at the last backup, as the client reported it ('' if never). */
  freeOnBackup: string;
  /** The newest successful job that rewrote the list, or null: the list is as of then. */
  listFrom: { jobId: string; productId: string; finished: string } | null;
}

async function imagesView(api: AdminClient, client: string): Promise<ImagesView> {
  const props = (product: string) => api.call<Record<string, PropertyValue>>('GET', `/api/v1/clients/${seg(client)}/products/${seg(product)}/properties`);
  // First: a 404 for an unknown client ends it here.
  const images = await api.call<ClientImageView[]>('GET', `/api/v1/clients/${seg(client)}/images`);
  const backup = await props(BACKUP_PRODUCT);
  const newest = await Promise.all(
    LIST_WRITERS.map((p) => api.call<{ id: string; productId: string; finished: string | null; updated: string }[]>('GET', `/api/v1/jobs?client=${seg(client)}&product=${seg(p)}&state=succeeded&limit=1`)),
  );
  const last = newest
    .flat()
    .map((j) => ({ jobId: j.id, productId: j.productId, finished: j.finished ?? j.updated }))
    .sort((a, b) => b.finished.localeCompare(a.finished))[0];
  return {
    client,
    images,
    freeOnBackup: String(backup['free_on_backup'] ?? ''),
    listFrom: last ?? null,
  };
}

function imagesText(v: ImagesView, zone: string): string {
  // As the other commands print times: in the server's zone (or --tz), to the second, with the offset.
  const when = (iso: string) => formatInZone(iso, zone);
  const lines = v.images.length
    ? [
        table(
          ['IMAGE', 'SIZE', 'CREATED', 'FORMAT', 'RESTORE'],
          v.images.map((i) => [i.name, i.sizeBytes === null ? 'unknown' : formatBytes(i.sizeBytes), i.createdAt ? when(i.createdAt) : 'unknown', i.format ?? 'unknown', i.selected ? 'selected' : null]),
        ),
      ]
    : [`no images known on ${v.client}'s backup partition (netimage action set ${v.client} ${BACKUP_PRODUCT} makes one)`];
  lines.push('');
  if (v.freeOnBackup) lines.push(`backup partition: ${v.freeOnBackup} (at the last backup)`);
  lines.push(v.listFrom ? `as of ${when(v.listFrom.finished)}, ${v.listFrom.productId} job ${v.listFrom.jobId.slice(0, 8)}` : 'no backup, delimage or prepare job has succeeded on it yet');
  if (v.images.some((i) => i.sizeBytes === null)) lines.push(`unknown: ${v.client}'s agent reported names only (a boot image older than the image report)`);
  return lines.join('\n');
}

export const imagesCommand: CommandGroup = {
  name: 'images',
  section: 'admin',
  usage: [{ syntax: 'images <hostname>', summary: "images on the client's backup partition" }],
  options: { tz: { type: 'string' } },
  async run(ctx) {
    const [client] = ctx.operands(undefined, 1);
    const api = await ctx.api();
    const zone = await displayZone(ctx.string('tz'), api);
    const view = await imagesView(api, client);
    ctx.out(view, () => imagesText(view, zone));
    return 0;
  },
};
