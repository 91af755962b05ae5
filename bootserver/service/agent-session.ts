// The agent API's side of the domain: what a job token may read and write. Every call runs in one
// store transaction that starts with agentTx(), the one place a token is checked (with its job's
// state, lifecycle.ts agentTokenUse) by the same transaction that then reads or writes; what the
// job's product may change on its client is agent-scope.ts.
import type {
  ActionRequest,
  AgentInventory,
  AgentJob,
  AgentProgress,
  AgentResult,
  BackupImageReport,
  ProductOnClientStateWire,
  PropertyValue,
} from '../../lib/agent-protocol.ts';
import { maskSecrets } from '../products/secret-properties.ts';
import { agentTokenUse, type AgentTokenUse, type JobEvent } from '../jobs/lifecycle.ts';
import { effectivePropertyValues, validatePropertyValues } from '../products/properties.ts';
import { PRODUCT_ID_MAX, PRODUCT_ID_PATTERN, ProductId } from '../../lib/products.ts';
import { imagesAfterUpdate, reportMismatch } from './client-images.ts';
import type { Job, ProductOnClient, Store } from '../store/types.ts';
import { mayFetchInstallPlan, mayPutInventory, mayPutProductStates, mayQueue, mayQueueForeign, mayWriteProperties, type ScopeDecision } from './agent-scope.ts';
import { AgentAuthError, ConflictError, freshProductState, type NetbootService } from './netboot.ts';
import { sha256Hex } from './tokens.ts';
import { NetimageError } from '../../lib/errors.ts';

/** A job token used for something its product does not do (agent-scope.ts): 403. */
export class AgentScopeError extends NetimageError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'AgentScopeError';
  }
}

/** Agent input only the catalogue can judge (an id that is no product id): 400. */
export class AgentInputError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'AgentInputError';
  }
}

/** Most foreign product states one client keeps (a real PC has tens): a token cannot fill the store. */
const FOREIGN_STATES_MAX = 1000;

type StateFields = Partial<Pick<ProductOnClient, 'actionRequest' | 'installationStatus' | 'actionResult' | 'actionProgress' | 'lastAction' | 'productVersion'>>;

/** What the agent sees of a state: what a backup saves with its image. */
function stateWire(r: ProductOnClient): ProductOnClientStateWire {
  return { productId: r.productId, installationStatus: r.installationStatus, actionResult: r.actionResult, lastAction: r.lastAction, productVersion: r.productVersion };
}

export class AgentSession {
  private readonly service: NetbootService;

  constructor(service: NetbootService) {
    this.service = service;
  }

  /** Find the job a token belongs to. Terminal jobs are returned too (see agentTokenUse). */
  private async jobForToken(token: string, store: Store): Promise<Job> {
    if (!/^[0-9a-f]{32}$/.test(token)) throw new AgentAuthError('malformed job token');
    const job = await store.findJobByTokenHash(sha256Hex(token));
    if (!job) throw new AgentAuthError('unknown or expired job token (a newer boot attempt replaces it)');
    return job;
  }

  /** The one token check of the agent API: run `work` with the token's job, if it may be used so. */
  private agentTx<T>(token: string, use: AgentTokenUse, work: (tx: Store, job: Job) => Promise<T>): Promise<T> {
    return this.service.store.transaction(async (tx) => {
      const job = await this.jobForToken(token, tx);
      const logStored = use === 'finalLog' && (await tx.getJobLog(job.id)) !== null;
      const verdict = agentTokenUse(job, use, { now: this.service.now().getTime(), logStored });
      if (!verdict.ok) throw new ConflictError(`job ${job.id}: ${verdict.reason}`);
      return work(tx, job);
    });
  }

  /** The job of a token, finished or not, for readers that judge its state themselves (the depot). */
  async jobOfToken(token: string): Promise<Job> {
    return this.service.store.transaction((tx) => this.jobForToken(token, tx));
  }

  /**
   * Run `work` for the active job of an OS install product (the install plan): 403 for a job of
   * any other product, 409 for a finished one. A booting job starts running, as with fetchJob.
   */
  async installJob<T>(token: string, work: (tx: Store, job: Job) => Promise<T>, kind: 'linux' | 'windows' = 'linux'): Promise<T> {
    return this.agentTx(token, 'work', async (tx, found) => {
      this.requireScope(mayFetchInstallPlan(found.productId, kind));
      const job = found.state === 'booting' ? await this.service.applyJobEvent(tx, found, { type: 'agentStarted' }) : found;
      return work(tx, job);
    });
  }

  private requireScope(verdict: ScopeDecision): void {
    if (!verdict.ok) throw new AgentScopeError(verdict.reason);
  }

  async fetchJob(token: string): Promise<AgentJob> {
    return this.agentTx(token, 'work', async (tx, found) => {
      const job = found.state === 'booting' ? await this.service.applyJobEvent(tx, found, { type: 'agentStarted' }) : found;
      const client = await this.service.requireClient(job.clientId, tx);
      const product = await this.service.requireProduct(job.productId, tx);
      return {
        jobId: job.id,
        attempt: job.attempt,
        productId: job.productId,
        productVersion: product.version,
        actionRequest: job.actionRequest,
        // Secrets reach the agent only in its product's plan (hashes, or the Windows staging plan).
        properties: maskSecrets(effectivePropertyValues(product, await tx.getPropertyValues(client.id, product.id))),
        client: { id: client.id, mac: client.mac, uuid: client.uuid, group: client.group },
        afterJob: this.service.config.boot.afterJob,
        serverTime: this.service.iso(),
      };
    });
  }

  async progress(token: string, progress: AgentProgress): Promise<void> {
    await this.agentTx(token, 'work', async (tx, found) => {
      let job = found;
      if (progress.percent !== undefined || progress.message !== undefined) {
        const event: JobEvent = { type: 'progress' };
        if (progress.percent !== undefined) event.percent = progress.percent;
        if (progress.message !== undefined) event.message = progress.message;
        job = await this.service.applyJobEvent(tx, job, event);
      } else if (job.state === 'booting') {
        job = await this.service.applyJobEvent(tx, job, { type: 'agentStarted' });
      }
      for (const line of progress.log ?? []) await this.service.recordEvent(tx, job, 'log', null, line);
    });
  }

  /** Record the result. Resending the same result is acknowledged; a different one conflicts. */
  async result(token: string, result: AgentResult): Promise<{ alreadyRecorded: boolean }> {
    return this.agentTx(token, 'result', async (tx, job) => {
      const wanted = result.result === 'successful' ? 'succeeded' : 'failed';
      if (job.state === wanted) return { alreadyRecorded: true };
      const event: JobEvent = result.result === 'successful' ? { type: 'succeeded' } : { type: 'failed', error: result.error ?? 'the product failed without a message' };
      await this.service.applyJobEvent(tx, job, event); // refuses (409) a different result for a finished job
      return { alreadyRecorded: false };
    });
  }

  async log(token: string, text: string): Promise<void> {
    await this.agentTx(token, 'finalLog', (tx, job) => tx.putJobLog(job.id, text));
  }

  /** Only the properties the job's product really writes (agent-scope.ts); read-only ones included. */
  /**
   * `images` describes the images of a restore `imagefiles_list` in `values` (client-images.ts);
   * without it (an older agent) the details of images no longer listed are dropped.
   */
  async setProperties(token: string, productId: string, values: Record<string, PropertyValue>, images?: BackupImageReport[]): Promise<void> {
    await this.agentTx(token, 'work', async (tx, job) => {
      this.requireScope(mayWriteProperties(job.productId, productId, Object.keys(values)));
      const product = await this.service.requireProduct(productId, tx);
      const valid = validatePropertyValues(product, values, { allowReadOnly: true });
      const list = productId === ProductId.restore ? valid['imagefiles_list'] : undefined;
      if (images && !Array.isArray(list)) throw new AgentInputError(`images goes only with ${ProductId.restore}'s imagefiles_list`);
      const mismatch = images && Array.isArray(list) ? reportMismatch(list, images) : null;
      if (mismatch) throw new AgentInputError(mismatch);
      await tx.setPropertyValues(job.clientId, productId, valid);
      if (Array.isArray(list)) await tx.replaceClientImages(job.clientId, imagesAfterUpdate(job.clientId, list, images, await tx.listClientImages(job.clientId), new Date().toISOString()));
    });
  }

  /**
   * Only setup of products an admin named in the job's own queueing properties (agent-scope.ts).
   * No product may write those properties, so the stored values are the admin's.
   */
  async setActionRequests(token: string, requests: { productId: string; actionRequest: ActionRequest }[]): Promise<void> {
    await this.agentTx(token, 'work', (tx, job) => this.queueRequests(tx, job, requests));
  }

  /**
   * Queue requests for the job's client by the job's scope (setActionRequests; the server after
   * an OS install's first boot, service/os-install.ts). Throws before writing when refused.
   */
  async queueRequests(tx: Store, job: Job, requests: readonly { productId: string; actionRequest: ActionRequest }[]): Promise<void> {
    const jobProduct = await this.service.requireProduct(job.productId, tx);
    const adminValues = effectivePropertyValues(jobProduct, await tx.getPropertyValues(job.clientId, job.productId));
    this.requireScope(mayQueue(job.productId, adminValues, requests));
    // A product the catalogue does not have (restore's default windomain) is queued for the OS
    // side: setup on its foreign state. Catalogue products, runnable here or not, never are.
    const foreign = new Set<string>();
    for (const r of requests) {
      if (await tx.getProduct(r.productId)) continue;
      this.requireScope(mayQueueForeign(job.productId, r.productId));
      foreign.add(r.productId);
    }
    await this.requireForeignRoom(tx, job.clientId, foreign);
    for (const r of requests) {
      if (foreign.has(r.productId)) {
        await this.putForeignState(tx, job.clientId, r.productId, { actionRequest: r.actionRequest, actionProgress: '' });
        continue;
      }
      const current = await this.service.productState(job.clientId, r.productId, tx);
      await tx.putProductOnClient({ ...current, actionRequest: r.actionRequest, actionProgress: '', modified: this.service.iso() });
    }
  }

  async getProductStates(token: string): Promise<ProductOnClientStateWire[]> {
    return this.agentTx(token, 'work', async (tx, job) => {
      const rows = [...(await tx.listProductOnClients({ clientId: job.clientId })), ...(await tx.listForeignProductStates({ clientId: job.clientId }))];
      return rows.map(stateWire);
    });
  }

  /**
   * A restore puts the states saved with its image back. States of products this server does not
   * know (opsi localboot products such as windomain, in an image from an opsi site) are kept as
   * their foreign states: returned with the others, so the next backup saves them again, and
   * shown to the admin. Their pending action request (setup_after_restore) stays as it is.
   */
  async putProductStates(token: string, states: ProductOnClientStateWire[]): Promise<void> {
    await this.agentTx(token, 'work', async (tx, job) => {
      this.requireScope(mayPutProductStates(job.productId));
      const saved = states.filter((s) => s.productId !== job.productId); // the running job's own state is set by its result
      const known = new Set<string>();
      for (const s of saved) if (await tx.getProduct(s.productId)) known.add(s.productId);
      await this.requireForeignRoom(tx, job.clientId, new Set(saved.filter((s) => !known.has(s.productId)).map((s) => s.productId)));
      for (const { productId, ...fields } of saved) {
        if (!known.has(productId)) {
          await this.putForeignState(tx, job.clientId, productId, fields);
          continue;
        }
        await tx.deleteForeignProductState(job.clientId, productId); // the catalogue has it now
        const current = await this.service.productState(job.clientId, productId, tx);
        await tx.putProductOnClient({ ...current, ...fields, modified: this.service.iso() });
      }
    });
  }

  /** Refuse (409) foreign states that would take a client past FOREIGN_STATES_MAX. */
  private async requireForeignRoom(tx: Store, clientId: string, productIds: ReadonlySet<string>): Promise<void> {
    if (productIds.size === 0) return;
    const existing = new Set((await tx.listForeignProductStates({ clientId })).map((s) => s.productId));
    const added = [...productIds].filter((id) => !existing.has(id)).length;
    if (existing.size + added > FOREIGN_STATES_MAX) {
      throw new ConflictError(`${clientId} would have ${existing.size + added} states of products netimage does not run (at most ${FOREIGN_STATES_MAX})`);
    }
  }

  private async putForeignState(tx: Store, clientId: string, productId: string, fields: StateFields): Promise<void> {
    if (productId.length > PRODUCT_ID_MAX || !PRODUCT_ID_PATTERN.test(productId)) {
      throw new AgentInputError(`${JSON.stringify(productId.slice(0, 140))} is not a product id (lower case letters, digits, dot, underscore, hyphen)`);
    }
    const ts = this.service.iso();
    const current = (await tx.getForeignProductState(clientId, productId)) ?? freshProductState(clientId, productId, ts);
    await tx.putForeignProductState({ ...current, ...fields, modified: ts });
  }

  async putInventory(token: string, inventory: AgentInventory): Promise<void> {
    await this.agentTx(token, 'work', async (tx, job) => {
      this.requireScope(mayPutInventory(job.productId));
      await tx.updateClient(job.clientId, { inventory });
    });
  }
}
