// `netimage images <hostname>`: the images on a client's backup partition as the server knows
// them. The server holds no image records of its own: the client's agent reports the list of
// names (imagefiles_list of the restore product) after each backup, delimage and prepare, and
// the free space after a backup. Sizes and dates of single images stay on the client's disk.
import { seg, type CommandGroup } from '../command.ts';
import type { AdminClient } from '../api-client.ts';
import { table } from '../format.ts';
import { asList } from '../../products/properties.ts';
import type { PropertyValue } from '../../../lib/agent-protocol.ts';

// Product ids (products/*.json): the restore product keeps the list, these rewrite it.
const RESTORE_PRODUCT = 'opsi-local-image-restore';
const BACKUP_PRODUCT = 'opsi-local-image-backup';
const LIST_WRITERS = [BACKUP_PRODUCT, 'opsi-local-image-delimage', 'opsi-local-image-prepare'];

interface ImagesView {
  client: string;
  images: { name: string; selected: boolean }[];
  /** Space on the backup partition at the last backup, as the client reported it ('' if never). */
  freeOnBackup: string;
  /** The newest successful job that rewrote the list, or null: the list is as of then. */
  listFrom: { jobId: string; productId: string; finished: string } | null;
}

async function imagesView(api: AdminClient, client: string): Promise<ImagesView> {
  const props = (product: string) => api.call<Record<string, PropertyValue>>('GET', `/api/v1/clients/${seg(client)}/products/${seg(product)}/properties`);
  const restore = await props(RESTORE_PRODUCT); // first: a 404 for an unknown client ends it here
  const backup = await props(BACKUP_PRODUCT);
  const newest = await Promise.all(
    LIST_WRITERS.map((p) => api.call<{ id: string; productId: string; finished: string | null; updated: string }[]>('GET', `/api/v1/jobs?client=${seg(client)}&product=${seg(p)}&state=succeeded&limit=1`)),
  );
  const last = newest
    .flat()
    .map((j) => ({ jobId: j.id, productId: j.productId, finished: j.finished ?? j.updated }))
    .sort((a, b) => b.finished.localeCompare(a.finished))[0];
  const selected = String(restore['imagefile'] ?? '');
  return {
    client,
    images: asList(restore['imagefiles_list']).map((name) => ({ name, selected: name === selected })),
    freeOnBackup: String(backup['free_on_backup'] ?? ''),
    listFrom: last ?? null,
  };
}

function imagesText(v: ImagesView): string {
  const lines = v.images.length
    ? [table(['IMAGE', 'RESTORE'], v.images.map((i) => [i.name, i.selected ? 'selected' : null]))]
    : [`no images known on ${v.client}'s backup partition (netimage action set ${v.client} ${BACKUP_PRODUCT} makes one)`];
  lines.push('');
  if (v.freeOnBackup) lines.push(`backup partition: ${v.freeOnBackup} (at the last backup)`);
  lines.push(v.listFrom ? `as of ${v.listFrom.finished.slice(0, 19).replace('T', ' ')}, ${v.listFrom.productId} job ${v.listFrom.jobId.slice(0, 8)}` : 'no backup, delimage or prepare job has succeeded on it yet');
  lines.push(`names only: image sizes and dates are on ${v.client}'s disk, not on the server`);
  return lines.join('\n');
}

export const imagesCommand: CommandGroup = {
  name: 'images',
  section: 'admin',
  usage: [{ syntax: 'images <hostname>', summary: "images on the client's backup partition" }],
  async run(ctx) {
    const [client] = ctx.operands(undefined, 1);
    const view = await imagesView(await ctx.api(), client);
    ctx.out(view, () => imagesText(view));
    return 0;
  },
};
