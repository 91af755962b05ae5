// The admin's reads and writes that are not netboot rules: the client/group registry, the bulk
// import, and views of products, states and jobs. Action requests and property values go through
// NetbootService (they start and cancel jobs). The HTTP admin API and the CLI adapt to this.
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { maskSecrets } from '../products/secret-properties.ts';
import { productFacts, ProductId } from '../../lib/products.ts';
import { clientImagesView, type ClientImageView } from './client-images.ts';
import { effectivePropertyValues } from '../products/properties.ts';
import type { Client, ClientPatch, Group, Job, JobFilter, NewClient, ProductDefinition, ProductOnClient, Store } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import { ConflictError, type NetbootService } from './netboot.ts';
import type { JobEventBus, LiveJobEvent } from './event-bus.ts';
import { openJobStream, type JobStream, type JobStreamFilter } from './job-stream.ts';
import { checkWipeConfirmation } from './wipe-confirmation.ts';

/** One CSV row, validated (see http/csv-import.ts); `line` names it in errors. */
export interface ClientImportRow {
  line: number;
  id: string;
  mac: string | null;
  uuid: string | null;
  group: string | null;
  description: string;
}

/** A product as the admin sees it: the catalogue's definition with choices only the depot knows. */
export type ProductView = (product: ProductDefinition) => Promise<ProductDefinition>;

/** A job as the admin sees it: without the hash of its agent token. */
export type JobView = Omit<Job, 'tokenHash'>;

/**
 * A product state as the admin sees it. managedBy 'os': a product netimage does not run (an opsi
 * localboot product such as windomain, from a restored image); its action request is for an
 * agent in the installed OS to pick up.
 */
export type ProductStateView = ProductOnClient & { managedBy: 'netimage' | 'os' };

const byNetimage = (s: ProductOnClient): ProductStateView => ({ ...s, managedBy: 'netimage' });
const byOs = (s: ProductOnClient): ProductStateView => ({ ...s, managedBy: 'os' });

function jobView(job: Job): JobView {
  const { tokenHash: _omit, ...rest } = job;
  return rest;
}

export class AdminService {
  readonly #store: Store;
  readonly #netboot: NetbootService;
  readonly #bus: JobEventBus;
  readonly #productView: ProductView;

  /** productView: what the depot adds to a product as the admin sees it (Windows: imagename's choices). */
  constructor(options: { store: Store; netboot: NetbootService; bus: JobEventBus; productView?: ProductView }) {
    this.#store = options.store;
    this.#netboot = options.netboot;
    this.#bus = options.bus;
    this.#productView = options.productView ?? (async (p) => p);
  }

  // ---- clients ----

  /** An unknown group is a 404, not an empty list: a typo must not read as an empty room. */
  async listClients(filter: { group?: string | undefined }): Promise<Client[]> {
    if (filter.group && !(await this.#store.getGroup(filter.group))) throw new StoreNotFoundError(`group ${filter.group} not found`);
    return this.#store.listClients(filter.group ? { group: filter.group } : {});
  }

  /** An unknown group is a 404 (a typo must not read as a quiet room). */
  async requireGroup(id: string): Promise<void> {
    if (!(await this.#store.getGroup(id))) throw new StoreNotFoundError(`group ${id} not found`);
  }

  /** The group of a PC (null: none, or no such PC). */
  async clientGroup(id: string): Promise<string | null> {
    return (await this.#store.getClient(id))?.group ?? null;
  }

  async requireClient(id: string): Promise<void> {
    await this.#netboot.requireClient(id);
  }

  createClient(client: NewClient): Promise<Client> {
    return this.#store.createClient(client);
  }

  updateClient(id: string, patch: ClientPatch): Promise<Client> {
    return this.#store.updateClient(id, patch);
  }

  /**
   * Not while a job is under way: the PC (booting or mid-restore) would go on against a registry
   * that has forgotten it, its progress and result lost. Clearing its action cancels the job.
   */
  async deleteClient(id: string): Promise<void> {
    const job = await this.#store.findActiveJob(id);
    if (job) {
      throw new ConflictError(
        `client ${id} has a job under way (${job.productId}, ${job.state}, job ${job.id.slice(0, 8)}): its PC would go on without a registry entry; clear its action first (netimage action set ${id} ${job.productId} --request none) or wait for it; nothing was removed`,
      );
    }
    return this.#store.deleteClient(id);
  }

  /** All or nothing: missing groups are created (and named), and the first refused row undoes the whole import. */
  async importClients(rows: ClientImportRow[]): Promise<{ clients: string[]; createdGroups: string[] }> {
    return this.#store.transaction(async (tx) => {
      const createdGroups: string[] = [];
      for (const g of new Set(rows.map((r) => r.group).filter((g): g is string => g !== null))) {
        if (await tx.getGroup(g)) continue;
        await tx.createGroup({ id: g, description: '' });
        createdGroups.push(g);
      }
      const created: string[] = [];
      for (const row of rows) {
        try {
          await tx.createClient({ id: row.id, mac: row.mac, uuid: row.uuid, group: row.group, description: row.description });
        } catch (error) {
          throw Object.assign(error as Error, { message: `line ${row.line}: ${(error as Error).message}; nothing imported` });
        }
        created.push(row.id);
      }
      return { clients: created, createdGroups };
    });
  }

  async inventory(clientId: string): Promise<unknown> {
    const client = await this.#netboot.requireClient(clientId);
    if (client.inventory === null) throw new StoreNotFoundError(`no inventory for ${client.id} yet: run hwinvent on it (netimage action set ${client.id} hwinvent; it runs at the next network boot)`);
    return client.inventory;
  }

  // ---- groups ----

  async listGroups(): Promise<(Group & { clients: string[] })[]> {
    const groups = await this.#store.listGroups();
    return Promise.all(groups.map(async (g) => ({ ...g, clients: (await this.#store.listClients({ group: g.id })).map((c) => c.id) })));
  }

  createGroup(group: Group): Promise<Group> {
    return this.#store.createGroup(group);
  }

  deleteGroup(id: string): Promise<{ operators: string[] }> {
    return this.#store.deleteGroup(id);
  }

  /**
   * An action request for every client of a group, as the admin API sets it: one that wipes disks
   * needs `confirm` = the number of PCs it wipes (wipe-confirmation.ts), checked atomically.
   */
  async setGroupActionRequest(
    groupId: string,
    productId: string,
    actionRequest: ActionRequest,
    properties: Record<string, PropertyValue>,
    confirm: number | undefined,
  ): Promise<{ clients: string[]; imagefile: string | null }> {
    // Also before the service's action-set hook, which may use the network (OS installs).
    const before = (await this.#store.listClients({ group: groupId })).map((c) => c.id);
    if (before.length) checkWipeConfirmation(groupId, productId, actionRequest, before, confirm, properties);
    return this.#netboot.setGroupActionRequest(groupId, productId, actionRequest, properties, (clients) => checkWipeConfirmation(groupId, productId, actionRequest, clients, confirm, properties));
  }

  // ---- products, properties, states ----

  /** The catalogue, each with whether this server's boot image can run it (action set refuses the others). */
  async listProducts(): Promise<(ProductDefinition & { inBootImage: boolean })[]> {
    return Promise.all((await this.#store.listProducts()).map(async (p) => ({ ...(await this.#productView(p)), inBootImage: productFacts(p.id)?.inBootImage ?? false })));
  }

  /** One product as the admin sees it (choices from the depot included). */
  async product(productId: string): Promise<ProductDefinition> {
    return this.#productView(await this.#netboot.requireProduct(productId));
  }

  async effectiveProperties(clientId: string, productId: string): Promise<Record<string, PropertyValue>> {
    await this.#netboot.requireClient(clientId);
    const product = await this.#netboot.requireProduct(productId);
    // Secret properties show as set, never as stored (products/secret-properties.ts).
    return maskSecrets(effectivePropertyValues(product, await this.#store.getPropertyValues(clientId, product.id)));
  }

  /** The images on the client's backup partition: restore's imagefiles_list with what the agent reported of each. */
  async clientImages(clientId: string): Promise<ClientImageView[]> {
    await this.#netboot.requireClient(clientId);
    return clientImagesView(await this.#store.getPropertyValues(clientId, ProductId.restore), await this.#store.listClientImages(clientId));
  }

  /**
   * The images of every PC of a group in one answer: the UI's restore and delete dialogs for a room
   * read this once, not once per PC (a room of 200 PCs was 200 requests each time a dialog opened).
   */
  async groupImages(groupId: string): Promise<{ client: string; images: ClientImageView[] }[]> {
    const clients = await this.listClients({ group: groupId });
    const out: { client: string; images: ClientImageView[] }[] = [];
    for (const c of clients) out.push({ client: c.id, images: clientImagesView(await this.#store.getPropertyValues(c.id, ProductId.restore), await this.#store.listClientImages(c.id)) });
    return out;
  }

  /** Every catalogue product's state on one client (fresh for products never touched), then the foreign ones. */
  async clientProductStates(clientId: string): Promise<ProductStateView[]> {
    await this.#netboot.requireClient(clientId);
    const products = await this.#store.listProducts();
    const own = await Promise.all(products.map((p) => this.#netboot.productState(clientId, p.id)));
    return [...own.map(byNetimage), ...(await this.#store.listForeignProductStates({ clientId })).map(byOs)];
  }

  /** Stored states across clients: one client, a group's clients, or all. */
  async productStates(filter: { client?: string | undefined; group?: string | undefined; product?: string | undefined }): Promise<ProductStateView[]> {
    const clients = filter.client ? [await this.#netboot.requireClient(filter.client)] : await this.listClients({ group: filter.group });
    const rows: ProductStateView[] = [];
    for (const c of clients) {
      const f = { clientId: c.id, ...(filter.product ? { productId: filter.product } : {}) };
      rows.push(...(await this.#store.listProductOnClients(f)).map(byNetimage), ...(await this.#store.listForeignProductStates(f)).map(byOs));
    }
    return rows;
  }

  // ---- jobs ----

  async listJobs(filter: JobFilter): Promise<JobView[]> {
    // An unknown group or client is a typo, not a room or PC without jobs (a removed client's jobs go with it).
    if (filter.group !== undefined && !(await this.#store.getGroup(filter.group))) throw new StoreNotFoundError(`group ${filter.group} not found`);
    if (filter.clientId) await this.#netboot.requireClient(filter.clientId);
    return (await this.#store.listJobs(filter)).map(jobView);
  }

  async job(id: string): Promise<JobView> {
    const job = await this.#store.getJob(id);
    if (!job) throw new StoreNotFoundError(`job ${id} not found`);
    return jobView(job);
  }

  async jobLog(id: string): Promise<string> {
    const text = await this.#store.getJobLog(id);
    if (text === null) throw new StoreNotFoundError('no log uploaded for this job');
    return text;
  }

  /** Job events as they happen (with `job`: that job's history first); see job-stream.ts. */
  followJobs(filter: JobStreamFilter, send: (event: LiveJobEvent) => void): JobStream {
    return openJobStream(this.#store, this.#bus, filter, send);
  }
}
