// The domain core: action requests, boot-config reads that create/continue jobs, and the job
// lifecycle events (the agent's calls come in through agent-session.ts). HTTP, TFTP and the CLI
// are adapters around this; the rules live in pure modules (jobs/lifecycle.ts, boot/decide.ts,
// products/properties.ts, actions/group-restore.ts, service/agent-scope.ts).
import { isPlaceholderUuid } from './hardware-ids.ts';
import { randomUUID } from 'node:crypto';
import { dropMaskedSecrets, maskSecrets } from '../products/secret-properties.ts';
import type { Logger } from '../../lib/logger.ts';
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { bootImageProductIds, productFacts, ProductId } from '../../lib/products.ts';
import type { Config } from '../config/schema.ts';
import { decideBoot, localBootTarget, resolveClient, type BootDecision, type BootRequest, type LocalBootTarget } from '../boot/decide.ts';
import { LINUX_INSTALL_PRODUCTS, awaitsFirstBoot, isWindowsInstall, laidDown } from '../jobs/first-boot.ts';
import { configReadEffect, isPendingRequest, productStateAfter, startJob, transition, type JobEvent } from '../jobs/lifecycle.ts';
import { effectivePropertyValues, validatePropertyValues, asList, PropertyValidationError } from '../products/properties.ts';
import { closestId } from '../products/closest-id.ts';
import { chooseGroupImage, clientImageRefusal } from '../actions/group-restore.ts';
import type { Client, Job, JobEventKind, ProductDefinition, ProductOnClient, Store } from '../store/types.ts';
import { StoreNotFoundError } from '../store/types.ts';
import type { JobEventBus } from './event-bus.ts';
import { siteName } from '../config/site.ts';
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
  /** For a local boot: what the config looks for first (boot/decide.ts localBootTarget). */
  localTarget: LocalBootTarget;
}

/**
 * Holds pending products that may not start yet (an OS install whose root filesystem is still
 * being built: service/os-install.ts). Runs inside the config read's transaction.
 */
export interface BootGate {
  /** Pending products of this client to pass over, with the reason. */
  held(tx: Store, clientId: string, pending: readonly ProductOnClient[]): Promise<Map<string, string>>;
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
  beforeActionSet(product: ProductDefinition, actionRequest: ActionRequest, given: Record<string, PropertyValue>, stored: Record<string, PropertyValue>, clientId: string): Promise<Record<string, PropertyValue>>;
}

/** Several hooks as one: each product is handled by the first hook that claims it. */
export function combineActionSetHooks(hooks: readonly ActionSetHook[]): ActionSetHook {
  const of = (productId: string) => hooks.find((h) => h.handles(productId));
  return {
    handles: (productId) => of(productId) !== undefined,
    beforeStoreProperties: async (product, values) => (of(product.id)?.beforeStoreProperties(product, values) ?? values),
    beforeActionSet: async (product, actionRequest, given, stored, clientId) => (of(product.id)?.beforeActionSet(product, actionRequest, given, stored, clientId) ?? given),
  };
}

/** A group action that was just stored (setGroupActionRequest). */
export interface GroupActionSet {
  groupId: string;
  productId: string;
  actionRequest: ActionRequest;
  /** The properties the admin gave with it. */
  properties: Record<string, PropertyValue>;
  clients: string[];
}
/** Runs after the commit; a returned text is a warning for the admin (the action is set either way). */
export type GroupActionListener = (e: GroupActionSet) => Promise<string | void>;

export interface NetbootServiceOptions {
  store: Store;
  config: Config;
  bus: JobEventBus;
  log: Logger;
  serverSecret: string;
  now?: () => Date;
  actionSetHook?: ActionSetHook;
}

/** The state of a product never touched on a client (opsi's defaults). */
export function freshProductState(clientId: string, productId: string, now: string): ProductOnClient {
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
  readonly store: Store;
  readonly config: Config;
  private readonly bus: JobEventBus;
  /** This server's site (config site.name), recorded on the attempts it serves and the clients it sees. */
  readonly site: string;
  private readonly log: Logger;
  private readonly serverSecret: string;
  readonly now: () => Date;
  private readonly actionSetHook: ActionSetHook | null;
  private bootGate: BootGate | null = null;
  private readonly groupActionListeners: GroupActionListener[] = [];

  constructor(options: NetbootServiceOptions) {
    this.store = options.store;
    this.config = options.config;
    this.site = siteName(options.config);
    this.bus = options.bus;
    this.log = options.log;
    this.serverSecret = options.serverSecret;
    this.now = options.now ?? (() => new Date());
    this.actionSetHook = options.actionSetHook ?? null;
  }

  /** Set once at start: the gate needs the service, so it comes after the constructor. */
  useBootGate(gate: BootGate): void {
    this.bootGate = gate;
  }

  /** Run the action-set hook for one client, outside any transaction (it may use the network). */
  private async hookedActionValues(clientId: string, productId: string, actionRequest: ActionRequest, properties: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    if (!this.actionSetHook?.handles(productId)) return properties;
    await this.requireClient(clientId);
    const product = await this.requireProduct(productId);
    return this.actionSetHook.beforeActionSet(product, actionRequest, properties, await this.store.getPropertyValues(clientId, productId), clientId);
  }

  iso(): string {
    return this.now().toISOString();
  }

  async requireProduct(productId: string, store: Store = this.store): Promise<ProductDefinition> {
    const product = await store.getProduct(productId);
    if (!product) {
      // A typo of a long opsi id is the usual cause: name the closest product when one is near.
      const near = closestId(productId, (await store.listProducts()).map((p) => p.id));
      throw new StoreNotFoundError(`product ${productId} not found${near ? `; did you mean ${near}?` : ''}`);
    }
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
    // A secret shown as ******** and sent back unchanged (a form) keeps its stored value.
    values = dropMaskedSecrets(values);
    if (this.actionSetHook?.handles(productId)) values = await this.actionSetHook.beforeStoreProperties(await this.requireProduct(productId), values);
    return this.store.transaction(async (tx) => {
      await this.requireClient(clientId, tx);
      const product = await this.requireProduct(productId, tx);
      const normalised = validatePropertyValues(product, values, options);
      await tx.setPropertyValues(clientId, productId, normalised);
      return maskSecrets(effectivePropertyValues(product, await tx.getPropertyValues(clientId, productId)));
    });
  }

  /**
   * Set an action request for a client. 'none' cancels an active job of that product.
   * Properties given with the request are validated and stored first, all or nothing.
   */
  async setActionRequest(clientId: string, productId: string, actionRequest: ActionRequest, properties: Record<string, PropertyValue> = {}, store?: Store): Promise<ProductOnClient> {
    properties = dropMaskedSecrets(properties);
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
        // server_image: the restore fetches that golden image from the depot first (imaging/golden.ts), whatever the PC holds now.
        const fromServer = String(effective['server_image'] ?? '').trim() !== '';
        // The PC's own images are what it can restore: the refusal names them (a 409: the PC's state, not the request's form).
        const refusal = fromServer ? null : clientImageRefusal(clientId, imagefile, asList(effective['imagefiles_list']));
        if (refusal) throw new ConflictError(`${refusal}; nothing was changed`);
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

  /**
   * Set an action request for every client of a group; restore picks the image common to all.
   * `check` sees the group's clients inside the transaction, before anything is written (the
   * admin API's wipe confirmation: service/wipe-confirmation.ts); throwing refuses the action.
   */
  async setGroupActionRequest(
    groupId: string,
    productId: string,
    actionRequest: ActionRequest,
    properties: Record<string, PropertyValue> = {},
    check?: (clientIds: string[]) => void,
  ): Promise<{ clients: string[]; imagefile: string | null; warnings?: string[] }> {
    properties = dropMaskedSecrets(properties);
    const hooked = new Map<string, Record<string, PropertyValue>>();
    if (this.actionSetHook?.handles(productId)) {
      for (const c of await this.store.listClients({ group: groupId })) hooked.set(c.id, await this.hookedActionValues(c.id, productId, actionRequest, properties));
    }
    const result = await this.store.transaction(async (tx) => {
      if (!(await tx.getGroup(groupId))) throw new StoreNotFoundError(`group ${groupId} not found`);
      const clients = await tx.listClients({ group: groupId });
      if (clients.length === 0) throw new ConflictError(`group ${groupId} has no clients`);
      check?.(clients.map((c) => c.id));
      let imagefile: string | null = null;
      // server_image: every PC fetches the same golden image from the depot (the action-set hook
      // checked the depot holds it), so no image needs to be on every PC already.
      const fromServer = productId === ProductId.restore && typeof properties['server_image'] === 'string' && properties['server_image'].trim() !== '';
      if (productId === ProductId.restore && isPendingRequest(actionRequest) && !fromServer) {
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
      }
      for (const client of clients) {
        const values = hooked.size ? hooked.get(client.id) : properties;
        if (!values) throw new ConflictError(`group ${groupId} changed while its clients were checked (${client.id} is new): set the action again`);
        // The common image path clears a server_image still stored from an earlier golden restore:
        // else each PC would fetch that golden image instead of restoring the image chosen here.
        await this.setActionRequest(client.id, productId, actionRequest, imagefile === null ? values : { ...values, imagefile, server_image: '' }, tx);
      }
      return { clients: clients.map((c) => c.id), imagefile };
    });
    // The action is committed: what a listener cannot do is a warning beside the result, never an
    // error (an error would tell the admin nothing was set while every PC has the action).
    const warnings: string[] = [];
    for (const listener of this.groupActionListeners) {
      try {
        const warning = await listener({ groupId, productId, actionRequest, properties, clients: result.clients });
        if (warning) warnings.push(warning);
      } catch (error) {
        this.log.error({ err: error, group: groupId, product: productId }, 'a step after the group action failed (the action is set)');
        warnings.push(`the action is set for ${result.clients.length} PC(s), but a step after it failed: ${(error as Error).message}`);
      }
    }
    return warnings.length ? { ...result, warnings } : result;
  }

  /**
   * Called after a group action is stored (committed), e.g. to start the room's seeding session
   * (bootserver/seed/sessions.ts); what it returns or throws becomes a warning in the result.
   */
  onGroupAction(listener: GroupActionListener): void {
    this.groupActionListeners.push(listener);
  }

  /**
   * A client's boot loader asks for its config. Resolves the client, decides, and for a netboot
   * creates the job or continues it with a new attempt (never consuming the action request).
   */
  async bootConfigRead(request: BootRequest): Promise<BootOutcome> {
    return this.store.transaction(async (tx) => {
      const outcome = await this.decideAndServe(tx, request);
      // Where and when the PC was last seen: which site's server answered it.
      if (outcome.client) await tx.markClientSeen(outcome.client.id, this.iso(), this.site);
      return outcome;
    });
  }

  private async decideAndServe(tx: Store, request: BootRequest): Promise<BootOutcome> {
    const byMac = request.mac ? await tx.findClientByMac(request.mac) : null;
    // A placeholder UUID is shared by many PCs: it identifies none (a client stored with one before it was refused included).
    const byUuid = request.uuid && !isPlaceholderUuid(request.uuid) ? await tx.findClientByUuid(request.uuid) : null;
    const resolved = resolveClient(request, this.config.boot.hostIdentifiers, { byMac, byUuid });
    let client = resolved?.client ?? null;
    const matchedBy = resolved?.matchedBy ?? null;
    const products = new Map((await tx.listProducts()).map((p) => [p.id, p]));

    for (let round = 0; round < 3; round++) {
      const pending = client ? await tx.listProductOnClients({ clientId: client.id, pendingOnly: true }) : [];
      const held = client && this.bootGate ? await this.bootGate.held(tx, client.id, pending) : new Map<string, string>();
      const decision = decideBoot({ client, pending, products, bootUnknownClients: this.config.boot.bootUnknownClients, held });
      if (decision.kind === 'local') {
        return { decision, client, matchedBy, job: null, token: null, localTarget: await this.localTarget(tx, client) };
      }
      if (decision.kind === 'register') {
        client = await this.registerUnknownClient(tx, request);
        await this.setActionRequest(client.id, ProductId.hwinvent, 'setup', {}, tx);
        continue;
      }
      const outcome = await this.startOrContinueJob(tx, client!, decision.productId, decision.actionRequest);
      if (outcome) return { decision, client, matchedBy, job: outcome.job, token: outcome.token, localTarget: 'any' };
      // The job gave up (exhausted): its request is cleared; decide again for what is left.
    }
    return { decision: { kind: 'local', reason: 'no runnable netboot action' }, client, matchedBy, job: null, token: null, localTarget: await this.localTarget(tx, client) };
  }

  /** Installed Linux (or laid down, its first boot awaited) on this client's disk? */
  private async localTarget(tx: Store, client: Client | null): Promise<LocalBootTarget> {
    if (!client) return 'any';
    const states = (await Promise.all(LINUX_INSTALL_PRODUCTS.map((productId) => tx.getProductOnClient(client.id, productId)))).filter((s) => s !== null);
    const waiting = await tx.listOsInstalls({ clientId: client.id, states: ['waiting'] });
    return localBootTarget({
      states,
      osInstallProducts: LINUX_INSTALL_PRODUCTS,
      laidDownWaiting: waiting.some((w) => !isWindowsInstall(w.productId)),
      winpePending: waiting.some((w) => isWindowsInstall(w.productId)),
    });
  }

  private async registerUnknownClient(tx: Store, request: BootRequest): Promise<Client> {
    const id = request.mac ? `pc-${request.mac.replace(/:/g, '')}` : `pc-${(request.uuid ?? randomUUID()).slice(0, 8)}`;
    const existing = await tx.getClient(id);
    if (existing) return existing;
    const client = await tx.createClient({ id, mac: request.mac, uuid: request.uuid && !isPlaceholderUuid(request.uuid) ? request.uuid : null, description: 'registered at first boot (boot unknown clients)' });
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
      if (configReadEffect(job) === 'reserve') {
        // The agent of this attempt never started (a firmware/grub retry, or anyone asking for
        // this MAC's config): serve the same attempt and token again; nothing is written.
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
      site: this.site,
    };
    await tx.createJob(created);
    await this.recordEvent(tx, created, 'state', null, `boot configuration read (attempt 1 of ${created.maxAttempts})`);
    const poc = await this.productState(client.id, productId, tx);
    const product = await this.requireProduct(productId, tx);
    await tx.putProductOnClient(productStateAfter(poc, { type: 'bootConfigRead' }, { attempt: 1, actionRequest, productVersion: product.version, now: ts.toISOString() }));
    return { job: created, token };
  }

  /** Apply one lifecycle event to a job: job row, product state, event log, live bus. */
  async applyJobEvent(tx: Store, job: Job, event: JobEvent): Promise<Job> {
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
      // Only a boot config read starts an attempt: this server's site serves it.
      next.site = this.site;
    }
    await tx.updateJob(next);
    const product = await tx.getProduct(job.productId);
    const poc = await this.productState(job.clientId, job.productId, tx);
    const firstBoot = awaitsFirstBoot(job.productId);
    await tx.putProductOnClient(
      productStateAfter(poc, event, {
        attempt: next.attempt,
        actionRequest: job.actionRequest,
        productVersion: product?.version ?? '',
        now: ts,
        error: next.state === 'exhausted' ? next.error : null,
        awaitsFirstBoot: firstBoot,
      }),
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
    if (event.type === 'succeeded' && firstBoot) await this.installLaidDown(tx, next);
    return next;
  }

  /** An OS install's agent succeeded: the installed system now has the timeout to report its first boot. */
  private async installLaidDown(tx: Store, job: Job): Promise<void> {
    const now = this.now();
    const record = (await tx.getOsInstall(job.id)) ?? {
      // No plan was fetched, so no token exists: nothing can report, the deadline fails it.
      jobId: job.id,
      clientId: job.clientId,
      productId: job.productId,
      state: 'installing' as const,
      tokenHash: null,
      tokenExpires: null,
      deadline: null,
      report: null,
      updated: now.toISOString(),
    };
    // Windows setup (WinPE, then its own reboots) takes far longer than a Linux first boot.
    const minutes = isWindowsInstall(job.productId) ? this.config.osImages.windowsSetupTimeoutMinutes : this.config.osImages.firstBootTimeoutMinutes;
    const waiting = laidDown(record, now, minutes * 60_000);
    await tx.putOsInstall(waiting);
    await this.recordEvent(tx, job, 'state', job.percent, `laid down; waiting for the installed system's first-boot report until ${waiting.deadline} (the PC boots its local disk)`);
  }

  async recordEvent(tx: Store, job: Job, kind: JobEventKind, percent: number | null, message: string): Promise<void> {
    const record = await tx.addJobEvent({ jobId: job.id, ts: this.iso(), kind, state: job.state, percent, message });
    this.bus.publish({ ...record, clientId: job.clientId, productId: job.productId });
  }

  /** Admin view: the job's events so far, oldest first; with `tail` only the newest that many (a running job's latest lines). */
  async jobEvents(jobId: string, tail?: number) {
    if (!(await this.store.getJob(jobId))) throw new StoreNotFoundError(`job ${jobId} not found`);
    return this.store.listJobEvents(jobId, tail === undefined ? {} : { newest: tail });
  }
}

