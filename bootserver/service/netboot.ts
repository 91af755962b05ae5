// The domain core: action requests, boot-config reads that create/continue jobs, and the agent's
// reports. HTTP, TFTP and the CLI are adapters around this; the rules live in pure modules
// (jobs/lifecycle.ts, boot/decide.ts, products/properties.ts, actions/group-restore.ts).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger.ts';
import type {
  ActionRequest,
  AgentInventory,
  AgentJob,
  AgentProgress,
  AgentResult,
  ProductOnClientStateWire,
  PropertyValue,
} from '../../lib/agent-protocol.ts';
import { bootImageProductIds, productFacts, ProductId } from '../../lib/products.ts';
import type { Config } from '../config/schema.ts';
import { decideBoot, resolveClient, type BootDecision, type BootRequest } from '../boot/decide.ts';
import { ACTIVE_STATES, isPendingRequest, productStateAfter, startJob, transition, type JobEvent } from '../jobs/lifecycle.ts';
import { effectivePropertyValues, validatePropertyValues, asList, PropertyValidationError } from '../products/properties.ts';
import { chooseGroupImage } from '../actions/group-restore.ts';
import type { Client, Job, JobEventKind, ProductDefinition, ProductOnClient, Store } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import type { JobEventBus } from './event-bus.ts';
import { deriveJobToken, sha256Hex } from './tokens.ts';
import { NetimageError } from '../../lib/errors.ts';

/** A request that conflicts with current state (409), as opposed to bad input (400). */
export class ConflictError extends NetimageError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

/** Refused unless the boot image's agent implements the product (clearing a request always works). */
function requireInBootImage(productId: string, actionRequest: ActionRequest): void {
  if (!isPendingRequest(actionRequest) || productFacts(productId)?.inBootImage) return;
  throw new ConflictError(`${actionRequest} of ${productId} refused: the boot image has no implementation of ${productId} (it runs ${bootImageProductIds().join(', ')})`);
}

/** The agent's token does not (or no longer) match a job. */
export class AgentAuthError extends NetimageError {
  constructor(message: string) {
    super('unauthorized', message);
    this.name = 'AgentAuthError';
  }
}

export interface BootOutcome {
  decision: BootDecision;
  client: Client | null;
  matchedBy: 'mac' | 'uuid' | null;
  /** Set when the decision is a netboot: the job and its one-time token for this attempt. */
  job: Job | null;
  token: string | null;
}

/**
 * Checks and rewrites a product needs before an admin's property values or action request are
 * stored (the OS install products: bootserver/os-images/install-products.ts). Runs before the
 * store transaction, because it may use the network; throwing refuses the request unchanged.
 */
export interface ActionSetHook {
  handles(productId: string): boolean;
  /** Values about to be stored by a property update; returns what to store instead (hashed passwords). */
  beforeStoreProperties(product: ProductDefinition, values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>>;
  /** An action request is about to be set with these values over the client's stored ones; returns the values to store. */
  beforeActionSet(product: ProductDefinition, actionRequest: ActionRequest, given: Record<string, PropertyValue>, stored: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>>;
}

export interface NetbootServiceOptions {
  store: Store;
  config: Config;
  bus: JobEventBus;
  log: Logger;
  serverSecret: string;
  now?: () => Date;
  actionSetHook?: ActionSetHook;
}

function freshProductState(clientId: string, productId: string, now: string): ProductOnClient {
  return {
    clientId,
    productId,
    actionRequest: 'none',
    installationStatus: 'not_installed',
    actionResult: 'none',
    actionProgress: '',
    lastAction: 'none',
    productVersion: null,
    modified: now,
  };
}

export class NetbootService {
  private readonly store: Store;
  private readonly config: Config;
  private readonly bus: JobEventBus;
  private readonly log: Logger;
  private readonly serverSecret: string;
  private readonly now: () => Date;
  private readonly actionSetHook: ActionSetHook | null;

  constructor(options: NetbootServiceOptions) {
    this.store = options.store;
    this.config = options.config;
    this.bus = options.bus;
    this.log = options.log;
    this.serverSecret = options.serverSecret;
    this.now = options.now ?? (() => new Date());
    this.actionSetHook = options.actionSetHook ?? null;
  }

  /** Run the action-set hook for one client, outside any transaction (it may use the network). */
  private async hookedActionValues(clientId: string, productId: string, actionRequest: ActionRequest, properties: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    if (!this.actionSetHook?.handles(productId)) return properties;
    await this.requireClient(clientId);
    const product = await this.requireProduct(productId);
    return this.actionSetHook.beforeActionSet(product, actionRequest, properties, await this.store.getPropertyValues(clientId, productId));
  }

  private iso(): string {
    return this.now().toISOString();
  }

  async requireProduct(productId: string, store: Store = this.store): Promise<ProductDefinition> {
    const product = await store.getProduct(productId);
    if (!product) throw new StoreNotFoundError(`product ${productId} not found`);
    return product;
  }

  async requireClient(clientId: string, store: Store = this.store): Promise<Client> {
    const client = await store.getClient(clientId);
    if (!client) throw new StoreNotFoundError(`client ${clientId} not found`);
    return client;
  }

  async productState(clientId: string, productId: string, store: Store = this.store): Promise<ProductOnClient> {
    return (await store.getProductOnClient(clientId, productId)) ?? freshProductState(clientId, productId, this.iso());
  }

  async effectiveProperties(clientId: string, productId: string, store: Store = this.store): Promise<Record<string, PropertyValue>> {
    const product = await this.requireProduct(productId, store);
    return effectivePropertyValues(product, await store.getPropertyValues(clientId, productId));
  }

  /** Admin sets property values of a product for one client (validated; read-only refused). */
  async setClientProperties(clientId: string, productId: string, values: Record<string, PropertyValue>, options = { allowReadOnly: false }): Promise<Record<string, PropertyValue>> {
    if (this.actionSetHook?.handles(productId)) values = await this.actionSetHook.beforeStoreProperties(await this.requireProduct(productId), values);
    return this.store.transaction(async (tx) => {
      await this.requireClient(clientId, tx);
      const product = await this.requireProduct(productId, tx);
      const normalised = validatePropertyValues(product, values, options);
      await tx.setPropertyValues(clientId, productId, normalised);
      return effectivePropertyValues(product, await tx.getPropertyValues(clientId, productId));
    });
  }

  /**
   * Set an action request for a client. 'none' cancels an active job of that product.
   * Properties given with the request are validated and stored first, all or nothing.
   */
  async setActionRequest(clientId: string, productId: string, actionRequest: ActionRequest, properties: Record<string, PropertyValue> = {}, store?: Store): Promise<ProductOnClient> {
    // Inside a caller's transaction the caller has run the hook already (setGroupActionRequest).
    if (!store) properties = await this.hookedActionValues(clientId, productId, actionRequest, properties);
    const work = async (tx: Store) => {
      await this.requireClient(clientId, tx);
      const product = await this.requireProduct(productId, tx);
      requireInBootImage(productId, actionRequest);
      const normalised = validatePropertyValues(product, properties, { allowReadOnly: false });
      if (productId === ProductId.restore && isPendingRequest(actionRequest)) {
        const effective = effectivePropertyValues(product, { ...(await tx.getPropertyValues(clientId, productId)), ...normalised });
        const imagefile = String(effective['imagefile'] ?? '');
        if (!imagefile) throw new PropertyValidationError(`${ProductId.restore}.imagefile is empty: choose an image from imagefiles_list (${asList(effective['imagefiles_list']).join(', ') || 'no images yet'})`);
        if (!asList(effective['imagefiles_list']).includes(imagefile)) {
          throw new PropertyValidationError(`image ${imagefile} is not in imagefiles_list of ${clientId} (${asList(effective['imagefiles_list']).join(', ') || 'no images yet'})`);
        }
      }
      await tx.setPropertyValues(clientId, productId, normalised);
      const ts = this.iso();
      const current = await this.productState(clientId, productId, tx);
      const next: ProductOnClient = { ...current, actionRequest, actionProgress: actionRequest === 'none' ? current.actionProgress : '', modified: ts };
      await tx.putProductOnClient(next);
      if (actionRequest === 'none') {
        const active = await tx.findActiveJob(clientId);
        if (active && active.productId === productId) await this.applyJobEvent(tx, active, { type: 'cancelled', reason: 'action request cleared by admin' });
      }
      return next;
    };
    return store ? work(store) : this.store.transaction(work);
  }

  /** Set an action request for every client of a group; restore picks the image common to all. */
  async setGroupActionRequest(
    groupId: string,
    productId: string,
    actionRequest: ActionRequest,
    properties: Record<string, PropertyValue> = {},
  ): Promise<{ clients: string[]; imagefile: string | null }> {
    const hooked = new Map<string, Record<string, PropertyValue>>();
    if (this.actionSetHook?.handles(productId)) {
      for (const c of await this.store.listClients({ group: groupId })) hooked.set(c.id, await this.hookedActionValues(c.id, productId, actionRequest, properties));
    }
    return this.store.transaction(async (tx) => {
      if (!(await tx.getGroup(groupId))) throw new StoreNotFoundError(`group ${groupId} not found`);
      const clients = await tx.listClients({ group: groupId });
      if (clients.length === 0) throw new ConflictError(`group ${groupId} has no clients`);
      let props = properties;
      let imagefile: string | null = null;
      if (productId === ProductId.restore && isPendingRequest(actionRequest)) {
        const product = await this.requireProduct(productId, tx);
        const rows = await Promise.all(
          clients.map(async (c) => {
            const eff = effectivePropertyValues(product, await tx.getPropertyValues(c.id, productId));
            return { clientId: c.id, imagefilesList: asList(eff['imagefiles_list']), imagefile: String(eff['imagefile'] ?? '') };
          }),
        );
        const requested = typeof properties['imagefile'] === 'string' && properties['imagefile'] !== '' ? properties['imagefile'] : null;
        const choice = chooseGroupImage(rows, requested);
        if (!choice.ok) throw new ConflictError(choice.reason);
        imagefile = choice.imagefile;
        props = { ...properties, imagefile };
      }
      for (const client of clients) {
        const values = hooked.size ? hooked.get(client.id) : props;
        if (!values) throw new ConflictError(`group ${groupId} changed while its clients were checked (${client.id} is new): set the action again`);
        await this.setActionRequest(client.id, productId, actionRequest, values, tx);
      }
      return { clients: clients.map((c) => c.id), imagefile };
    });
  }

  /**
   * A client's boot loader asks for its config. Resolves the client, decides, and for a netboot
   * creates the job or continues it with a new attempt (never consuming the action request).
   */
  async bootConfigRead(request: BootRequest): Promise<BootOutcome> {
    return this.store.transaction(async (tx) => {
      const byMac = request.mac ? await tx.findClientByMac(request.mac) : null;
      const byUuid = request.uuid ? await tx.findClientByUuid(request.uuid) : null;
      const resolved = resolveClient(request, this.config.boot.hostIdentifiers, { byMac, byUuid });
      let client = resolved?.client ?? null;
      const matchedBy = resolved?.matchedBy ?? null;
      const products = new Map((await tx.listProducts()).map((p) => [p.id, p]));

      for (let round = 0; round < 3; round++) {
        const pending = client ? await tx.listProductOnClients({ clientId: client.id, pendingOnly: true }) : [];
        const decision = decideBoot({ client, pending, products, bootUnknownClients: this.config.boot.bootUnknownClients });
        if (decision.kind === 'local') {
          return { decision, client, matchedBy, job: null, token: null };
        }
        if (decision.kind === 'register') {
          client = await this.registerUnknownClient(tx, request);
          await this.setActionRequest(client.id, ProductId.hwinvent, 'setup', {}, tx);
          continue;
        }
        const outcome = await this.startOrContinueJob(tx, client!, decision.productId, decision.actionRequest);
        if (outcome) return { decision, client, matchedBy, job: outcome.job, token: outcome.token };
        // The job gave up (exhausted): its request is cleared; decide again for what is left.
      }
      return { decision: { kind: 'local', reason: 'no runnable netboot action' }, client, matchedBy, job: null, token: null };
    });
  }

  private async registerUnknownClient(tx: Store, request: BootRequest): Promise<Client> {
    const id = request.mac ? `pc-${request.mac.replace(/:/g, '')}` : `pc-${(request.uuid ?? randomUUID()).slice(0, 8)}`;
    const existing = await tx.getClient(id);
    if (existing) return existing;
    const client = await tx.createClient({ id, mac: request.mac, uuid: request.uuid, description: 'registered at first boot (boot unknown clients)' });
    this.log.info({ client: id, mac: request.mac, uuid: request.uuid }, 'registered unknown client');
    return client;
  }

  private async startOrContinueJob(tx: Store, client: Client, productId: string, actionRequest: ActionRequest): Promise<{ job: Job; token: string } | null> {
    const ts = this.now();
    let job = await tx.findActiveJob(client.id);
    if (job && job.productId !== productId) {
      // A higher-priority action was requested meanwhile: the old job yields to it.
      await this.applyJobEvent(tx, job, { type: 'cancelled', reason: `superseded by ${productId}` });
      job = null;
    }
    if (job) {
      const since = job.attemptStarted ? ts.getTime() - Date.parse(job.attemptStarted) : Infinity;
      if (job.state === 'booting' && since < this.config.boot.sameBootWindowSeconds * 1000) {
        // Same boot asking again (firmware/grub retry): same attempt, same token.
        return { job, token: deriveJobToken(this.serverSecret, job.id, job.attempt) };
      }
      const updated = await this.applyJobEvent(tx, job, { type: 'bootConfigRead' });
      if (updated.state === 'exhausted') return null;
      return { job: updated, token: deriveJobToken(this.serverSecret, updated.id, updated.attempt) };
    }
    const snapshot = startJob(this.config.boot.maxAttempts);
    const id = randomUUID();
    const token = deriveJobToken(this.serverSecret, id, snapshot.attempt);
    const created: Job = {
      id,
      clientId: client.id,
      productId,
      actionRequest,
      state: snapshot.state,
      attempt: snapshot.attempt,
      maxAttempts: snapshot.maxAttempts,
      tokenHash: sha256Hex(token),
      percent: null,
      error: null,
      created: ts.toISOString(),
      updated: ts.toISOString(),
      attemptStarted: ts.toISOString(),
      finished: null,
    };
    await tx.createJob(created);
    await this.recordEvent(tx, created, 'state', null, `boot configuration read (attempt 1 of ${created.maxAttempts})`);
    const poc = await this.productState(client.id, productId, tx);
    const product = await this.requireProduct(productId, tx);
    await tx.putProductOnClient(productStateAfter(poc, { type: 'bootConfigRead' }, { attempt: 1, actionRequest, productVersion: product.version, now: ts.toISOString() }));
    return { job: created, token };
  }

  /** Apply one lifecycle event to a job: job row, product state, event log, live bus. */
  private async applyJobEvent(tx: Store, job: Job, event: JobEvent): Promise<Job> {
    const result = transition(job, event);
    if (!result.ok) throw new ConflictError(result.reason);
    const ts = this.iso();
    const next: Job = {
      ...job,
      state: result.next.state,
      attempt: result.next.attempt,
      updated: ts,
      error: result.error ?? job.error,
      finished: result.terminal ? ts : null,
      percent: event.type === 'progress' && event.percent !== undefined ? event.percent : event.type === 'succeeded' ? 100 : job.percent,
    };
    if (result.newAttempt) {
      next.attemptStarted = ts;
      next.tokenHash = sha256Hex(deriveJobToken(this.serverSecret, job.id, next.attempt));
      next.percent = null;
    }
    await tx.updateJob(next);
    const product = await tx.getProduct(job.productId);
    const poc = await this.productState(job.clientId, job.productId, tx);
    await tx.putProductOnClient(
      productStateAfter(poc, event, { attempt: next.attempt, actionRequest: job.actionRequest, productVersion: product?.version ?? '', now: ts, error: next.state === 'exhausted' ? next.error : null }),
    );
    const text =
      event.type === 'bootConfigRead'
        ? next.state === 'exhausted'
          ? `gave up: ${next.error}`
          : `boot configuration read (attempt ${next.attempt} of ${next.maxAttempts}; the previous attempt ended without a result)`
        : event.type === 'progress'
          ? (event.message ?? '')
          : event.type === 'failed'
            ? `failed: ${event.error}`
            : event.type === 'cancelled'
              ? `cancelled: ${event.reason}`
              : event.type === 'succeeded'
                ? 'succeeded'
                : 'agent started';
    await this.recordEvent(tx, next, event.type === 'progress' ? 'progress' : 'state', next.percent, text);
    return next;
  }

  private async recordEvent(tx: Store, job: Job, kind: JobEventKind, percent: number | null, message: string): Promise<void> {
    const record = await tx.addJobEvent({ jobId: job.id, ts: this.iso(), kind, state: job.state, percent, message });
    this.bus.publish({ ...record, clientId: job.clientId, productId: job.productId });
  }

  // ---- agent side -------------------------------------------------------------------------

  /** Find the job a token belongs to. Terminal jobs are returned too (result resends). */
  async jobForToken(token: string, store: Store = this.store): Promise<Job> {
    if (!/^[0-9a-f]{32}$/.test(token)) throw new AgentAuthError('malformed job token');
    const job = await store.findJobByTokenHash(sha256Hex(token));
    if (!job) throw new AgentAuthError('unknown or expired job token (a newer boot attempt replaces it)');
    return job;
  }

  private requireActive(job: Job): void {
    if (!ACTIVE_STATES.includes(job.state)) throw new ConflictError(`job ${job.id} is ${job.state}`);
  }

  async agentFetchJob(token: string): Promise<AgentJob> {
    return this.store.transaction(async (tx) => {
      let job = await this.jobForToken(token, tx);
      this.requireActive(job);
      if (job.state === 'booting') job = await this.applyJobEvent(tx, job, { type: 'agentStarted' });
      const client = await this.requireClient(job.clientId, tx);
      const product = await this.requireProduct(job.productId, tx);
      return {
        jobId: job.id,
        attempt: job.attempt,
        productId: job.productId,
        productVersion: product.version,
        actionRequest: job.actionRequest,
        properties: effectivePropertyValues(product, await tx.getPropertyValues(client.id, product.id)),
        client: { id: client.id, mac: client.mac, uuid: client.uuid, group: client.group },
        afterJob: this.config.boot.afterJob,
        serverTime: this.iso(),
      };
    });
  }

  async agentProgress(token: string, progress: AgentProgress): Promise<void> {
    await this.store.transaction(async (tx) => {
      let job = await this.jobForToken(token, tx);
      this.requireActive(job);
      if (progress.percent !== undefined || progress.message !== undefined) {
        const event: JobEvent = { type: 'progress' };
        if (progress.percent !== undefined) event.percent = progress.percent;
        if (progress.message !== undefined) event.message = progress.message;
        job = await this.applyJobEvent(tx, job, event);
      } else if (job.state === 'booting') {
        job = await this.applyJobEvent(tx, job, { type: 'agentStarted' });
      }
      for (const line of progress.log ?? []) await this.recordEvent(tx, job, 'log', null, line);
    });
  }

  /** Record the result. Resending the same result is acknowledged; a different one conflicts. */
  async agentResult(token: string, result: AgentResult): Promise<{ alreadyRecorded: boolean }> {
    return this.store.transaction(async (tx) => {
      const job = await this.jobForToken(token, tx);
      const wanted = result.result === 'successful' ? 'succeeded' : 'failed';
      if (job.state === wanted) return { alreadyRecorded: true };
      this.requireActive(job);
      const event: JobEvent = result.result === 'successful' ? { type: 'succeeded' } : { type: 'failed', error: result.error ?? 'the product failed without a message' };
      await this.applyJobEvent(tx, job, event);
      return { alreadyRecorded: false };
    });
  }

  async agentLog(token: string, text: string): Promise<void> {
    const job = await this.jobForToken(token);
    await this.store.putJobLog(job.id, text);
  }

  async agentSetProperties(token: string, productId: string, values: Record<string, PropertyValue>): Promise<void> {
    const job = await this.jobForToken(token);
    this.requireActive(job);
    await this.setClientProperties(job.clientId, productId, values, { allowReadOnly: true });
  }

  async agentSetActionRequests(token: string, requests: { productId: string; actionRequest: ActionRequest }[]): Promise<void> {
    const job = await this.jobForToken(token);
    this.requireActive(job);
    await this.store.transaction(async (tx) => {
      for (const r of requests) {
        if (r.productId === job.productId) throw new PropertyValidationError(`a product cannot queue itself (${r.productId})`);
        const current = await this.productState(job.clientId, r.productId, tx);
        await this.requireProduct(r.productId, tx);
        await tx.putProductOnClient({ ...current, actionRequest: r.actionRequest, actionProgress: '', modified: this.iso() });
      }
    });
  }

  async agentGetProductStates(token: string): Promise<ProductOnClientStateWire[]> {
    const job = await this.jobForToken(token);
    const rows = await this.store.listProductOnClients({ clientId: job.clientId });
    return rows.map((r) => ({ productId: r.productId, installationStatus: r.installationStatus, actionResult: r.actionResult, lastAction: r.lastAction, productVersion: r.productVersion }));
  }

  async agentPutProductStates(token: string, states: ProductOnClientStateWire[]): Promise<void> {
    const job = await this.jobForToken(token);
    this.requireActive(job);
    await this.store.transaction(async (tx) => {
      for (const s of states) {
        if (s.productId === job.productId) continue; // the running job's own state is set by its result
        if (!(await tx.getProduct(s.productId))) continue; // products no longer in the catalogue
        const current = await this.productState(job.clientId, s.productId, tx);
        await tx.putProductOnClient({ ...current, ...s, modified: this.iso() });
      }
    });
  }

  async agentPutInventory(token: string, inventory: AgentInventory): Promise<void> {
    const job = await this.jobForToken(token);
    this.requireActive(job);
    await this.store.updateClient(job.clientId, { inventory });
  }

  /** Admin view: the job's events so far (for SSE replay and `netimage jobs`). */
  async jobEvents(jobId: string, afterId = 0) {
    if (!(await this.store.getJob(jobId))) throw new StoreNotFoundError(`job ${jobId} not found`);
    return this.store.listJobEvents(jobId, { afterId });
  }
}
