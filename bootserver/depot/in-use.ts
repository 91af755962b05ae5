// Removing a depot entry that a pending action reads: the PC boots, its job fails on a 404, and
// the admin learns of it from the job log of every PC of the room. So `depot rm` (DELETE
// /api/v1/depot/<kind>/<name>) is refused while a pending request or a schedule needs the entry,
// as group rm is refused while a schedule targets the room.
// Which entries a request needs: golden/<name> the restores whose server_image names it,
// windows-media/<product> every install of that product, wim/<product> (a captured WIM) the
// installs of that product whose imagename only the captured WIM has, rootfs/<name> the Linux
// installs whose properties (release, mirror, packages) build exactly that root filesystem. The
// last two are known to os-images/ (windows-install.ts, install-products.ts), not to the depot:
// they are handed in as `EntryReaders`.
import { GOLDEN_KIND, goldenEntryName } from '../../lib/golden.ts';
import { ProductId } from '../../lib/products.ts';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import type { Job, Store } from '../store/types.ts';
import { ACTIVE_STATES } from '../jobs/lifecycle.ts';
import { effectivePropertyValues } from '../products/properties.ts';
import { StoreConflictError } from '../store/types.ts';
import { serverImageOf } from './golden-restore.ts';
import { entryId, type DepotKind } from './manifest.ts';

/** Whether an install of `productId` with these effective values takes its image from wim/<productId>. */
export type ReadsCapturedWim = (productId: string, effective: Record<string, PropertyValue>) => Promise<boolean>;

/** What the depot cannot know itself: which installs read a captured WIM or a root filesystem. */
export interface EntryReaders {
  readsCapturedWim?: ReadsCapturedWim;
  /** The OS install products, and the depot entry id (rootfs/<name>) an install with these effective values reads, or null. */
  rootfs?: { products: readonly string[]; entryOf: (productId: string, effective: Record<string, PropertyValue>) => string | null };
}

export interface EntryUsers {
  clients: string[];
  schedules: string[];
  /** The product whose requests need it ('' when none could). */
  product: string;
}

/**
 * The PCs with a pending request of `productId`, and the schedules of it, whose effective values
 * (a schedule's properties over each PC it targets, as its run sets them) read the entry.
 */
async function usersByValues(store: Store, productId: string, reads: (effective: Record<string, PropertyValue>) => Promise<boolean>): Promise<EntryUsers> {
  const product = await store.getProduct(productId);
  if (!product) return { clients: [], schedules: [], product: productId };
  const readsFor = async (clientId: string | null, over: Record<string, PropertyValue> = {}) =>
    reads(effectivePropertyValues(product, { ...(clientId ? await store.getPropertyValues(clientId, productId) : {}), ...over }));
  const clients: string[] = [];
  for (const s of await store.listProductOnClients({ productId, pendingOnly: true })) if (await readsFor(s.clientId)) clients.push(s.clientId);
  const schedules: string[] = [];
  for (const s of (await store.listSchedules()).filter((x) => x.productId === productId)) {
    const over = s.properties as Record<string, PropertyValue>;
    const targets = s.target.kind === 'client' ? [s.target.id] : (await store.listClients({ group: s.target.id })).map((c) => c.id);
    let needs = false;
    for (const id of targets.length ? targets : [null]) if ((needs = await readsFor(id, over))) break;
    if (needs) schedules.push(s.name);
  }
  return { clients, schedules, product: productId };
}

/** The PCs whose pending request and the schedules whose run reads this entry. */
export async function depotEntryUsers(store: Store, kind: DepotKind, name: string, readers: EntryReaders = {}): Promise<EntryUsers> {
  if (kind === GOLDEN_KIND) {
    // golden/<name>: read by the restores whose effective server_image names it; a schedule that
    // sets none still fetches it for a PC whose own value does.
    return usersByValues(store, ProductId.restore, async (effective) => goldenEntryName(serverImageOf(effective)) === name);
  }
  if (kind === 'windows-media') {
    // windows-media/<product>: read by that product's installs.
    const clients = (await store.listProductOnClients({ productId: name, pendingOnly: true })).map((s) => s.clientId);
    const schedules = (await store.listSchedules()).filter((s) => s.productId === name).map((s) => s.name);
    return { clients, schedules, product: name };
  }
  const { readsCapturedWim, rootfs } = readers;
  if (kind === 'wim' && readsCapturedWim) {
    // wim/<product>: read by the installs of that product whose image is one only it has.
    return usersByValues(store, name, (effective) => readsCapturedWim(name, effective));
  }
  if (kind === 'rootfs' && rootfs) {
    // rootfs/<name>: read by the Linux installs whose release, mirror and packages build it (the
    // entry name is their hash): a pending install boots into a download of it, a schedule sets one.
    const id = entryId(kind, name);
    const found: EntryUsers = { clients: [], schedules: [], product: '' };
    for (const productId of rootfs.products) {
      const u = await usersByValues(store, productId, async (effective) => rootfs.entryOf(productId, effective) === id);
      if (!u.clients.length && !u.schedules.length) continue;
      found.clients.push(...u.clients);
      found.schedules.push(...u.schedules);
      found.product ||= productId;
    }
    return found;
  }
  return { clients: [], schedules: [], product: '' };
}

export async function refuseRemovalInUse(store: Store, kind: DepotKind, name: string, readers: EntryReaders = {}): Promise<void> {
  const { clients, schedules, product } = await depotEntryUsers(store, kind, name, readers);
  if (!clients.length && !schedules.length) return;
  const what = [
    clients.length ? `the pending ${product === ProductId.restore ? 'restore' : product} of ${clients.join(', ')} fetches it` : '',
    schedules.length ? `schedule(s) ${schedules.join(', ')} will fetch it` : '',
  ].filter(Boolean);
  const how = [
    clients.length ? `netimage action set <hostname> ${product} --request none` : '',
    schedules.length ? `netimage schedule rm ${schedules[0]}` : '',
  ].filter(Boolean);
  throw new StoreConflictError(`${kind}/${name} is still needed: ${what.join('; ')}; clear ${clients.length + schedules.length > 1 ? 'those' : 'that'} first (${how.join(', ')})${clients.length ? ' or let it run' : ''}; nothing was removed`);
}

/**
 * A job under way (booting, running) that may read the entry (its grants: the root filesystem of
 * its install, its Windows media, the golden image its restore fetches): removing the entry would
 * fail it half way, the PC's disk partly written.
 */
export async function refuseRemovalUnderJob(store: Store, grants: (job: Job) => Promise<string[]>, id: string): Promise<void> {
  const readers: Job[] = [];
  // A job whose grants cannot be worked out (its product gone) reads nothing it could be refused.
  // Every job under way, not the list's default page of the newest 100: a school boots more PCs than that.
  for (const job of await store.listJobs({ states: [...ACTIVE_STATES], limit: Number.MAX_SAFE_INTEGER })) if ((await grants(job).catch(() => [] as string[])).includes(id)) readers.push(job);
  const first = readers[0];
  if (!first) return;
  const jobs = readers.map((j) => `${j.clientId} (${j.productId}, job ${j.id.slice(0, 8)})`).join(', ');
  throw new StoreConflictError(
    `${id} is being read by the job${readers.length > 1 ? 's' : ''} under way on ${jobs}: removing it would fail ${readers.length > 1 ? 'them' : 'that job'} half way; clear ${readers.length > 1 ? 'their actions' : 'its action'} first (netimage action set ${first.clientId} ${first.productId} --request none) or wait for ${readers.length > 1 ? 'them' : 'it'}; nothing was removed`,
  );
}
