// The server side of an unattended OS install (issue 11), around the job lifecycle:
// - the boot decision holds a pending install until its root filesystem is in the depot
//   (starting the build if none runs), and a failed build fails the action with its reason;
// - the agent fetches its install plan (GET /agent/v1/os-install), which mints the one-time
//   first-boot token (only its sha256 is stored);
// - the installed system reports its first boot with that token (POST /agent/v1/first-boot):
//   only then the product is installed, and backup_after_install / setup_after_install queue
//   what comes next; no report by the deadline fails the product (sweep()).
// The rules are pure (jobs/first-boot.ts, os-images/install-plan.ts); this runs them in the store.
import { randomBytes } from 'node:crypto';
import type { FirstBootReport, OsInstallPlan, WindowsInstallPlan } from '../../lib/agent-protocol.ts';
import type { Logger } from '../../lib/logger.ts';
import { PRODUCT_ID_PATTERN, ProductId } from '../../lib/products.ts';
import type { Depot } from '../depot/depot.ts';
import { UpstreamError, type DepotPuller } from '../depot/pull.ts';
import { parseEntryId } from '../depot/manifest.ts';
import {
  LINUX_INSTALL_PRODUCTS,
  OPEN_STATES,
  isWindowsInstall,
  describeReport,
  firstBootTokenVerdict,
  mintedTokenExpiry,
  overdue,
  productStateAfterFirstBoot,
  productStateAfterTimeout,
} from '../jobs/first-boot.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import { ROOTFS_IMAGE_FILE, ROOTFS_INDEX_FILE, type OsBuild, type OsImageBuilder } from '../os-images/build.ts';
import { PASSWORD_PROPERTIES, type InstallPolicy, type ResolvedInstall } from '../os-images/install-products.ts';
import { buildInstallPlan } from '../os-images/install-plan.ts';
import type { WindowsInstallPolicy } from '../os-images/windows-install.ts';
import { buildWindowsPlan } from '../os-images/windows-plan.ts';
import { effectivePropertyValues } from '../products/properties.ts';
import type { Job, ProductOnClient, Store } from '../store/types.ts';
import { mayQueue, productIds } from './agent-scope.ts';
import { AgentSession } from './agent-session.ts';
import { AgentAuthError, ConflictError, type BootGate, type NetbootService } from './netboot.ts';
import { sha256Hex } from './tokens.ts';

/** How often overdue first boots are looked for. */
const SWEEP_INTERVAL_MS = 30_000;

export interface OsInstallServiceOptions {
  service: NetbootService;
  depot: Depot;
  builder: OsImageBuilder;
  policy: InstallPolicy;
  windows: WindowsInstallPolicy;
  log: Logger;
  /** A site server's pulls from its main server's depot (config depot.upstream); null on the main server. */
  puller?: DepotPuller | null;
}

export class OsInstallService implements BootGate {
  private readonly service: NetbootService;
  private readonly agent: AgentSession;
  private readonly depot: Depot;
  private readonly puller: DepotPuller | null;
  private readonly builder: OsImageBuilder;
  private readonly policy: InstallPolicy;
  private readonly windows: WindowsInstallPolicy;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: OsInstallServiceOptions) {
    this.service = options.service;
    this.agent = new AgentSession(options.service);
    this.depot = options.depot;
    this.puller = options.puller ?? null;
    this.builder = options.builder;
    this.policy = options.policy;
    this.windows = options.windows;
    this.log = options.log;
  }

  private timeoutMinutes(productId: string): number {
    const c = this.service.config.osImages;
    return isWindowsInstall(productId) ? c.windowsSetupTimeoutMinutes : c.firstBootTimeoutMinutes;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.log.error({ err: error }, 'first-boot timeout sweep failed'));
    }, SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async effective(tx: Store, clientId: string, productId: string) {
    const product = await this.service.requireProduct(productId, tx);
    return { product, effective: effectivePropertyValues(product, await tx.getPropertyValues(clientId, productId)) };
  }

  // ---- the boot decision: hold an install until its root filesystem is in the depot ----

  async held(tx: Store, clientId: string, pending: readonly ProductOnClient[]): Promise<Map<string, string>> {
    const held = new Map<string, string>();
    for (const poc of pending) {
      // Only Linux installs wait for a server-side build; Windows media are imported by the admin.
      if (!LINUX_INSTALL_PRODUCTS.includes(poc.productId) || !isPendingRequest(poc.actionRequest)) continue;
      // A job under way keeps going: its root filesystem was there when it started.
      const active = await tx.findActiveJob(clientId);
      if (active?.productId === poc.productId) continue;
      const reason = await this.rootfsWait(tx, poc);
      if (reason) held.set(poc.productId, reason);
    }
    return held;
  }

  /** Why this pending install cannot start yet, or null when its root filesystem is ready. */
  private async rootfsWait(tx: Store, poc: ProductOnClient): Promise<string | null> {
    let resolved: ResolvedInstall;
    try {
      resolved = this.policy.resolveProduct(poc.productId, (await this.effective(tx, poc.clientId, poc.productId)).effective);
    } catch (error) {
      const reason = `its properties name no root filesystem this server can build: ${(error as Error).message}`;
      await this.failAction(tx, poc, reason);
      return reason;
    }
    if (await this.builder.cached(resolved.spec)) return null;
    let build = this.builder.latestOf(resolved.entryId);
    if (build?.state === 'failed') {
      const reason = `the root filesystem build ${build.id} failed: ${build.error}`;
      await this.failAction(tx, poc, reason);
      return reason;
    }
    if (!build || build.state === 'done') {
      // Not built since the server started, or removed from the depot since: build it now.
      try {
        build = await this.builder.ensure({ spec: resolved.spec, proxy: resolved.proxy });
      } catch (error) {
        return `the root filesystem ${resolved.entryId} cannot be built now: ${(error as Error).message}`;
      }
    }
    const reason = `the root filesystem ${resolved.entryId} is being built (build ${build.id}, ${Math.round(build.percent)}%)`;
    if (poc.actionProgress !== reason) await tx.putProductOnClient({ ...poc, actionProgress: reason, modified: this.service.iso() });
    return reason;
  }

  /** The action waiting for a build cannot run: failed with the reason, nothing on the PC touched. */
  private async failAction(tx: Store, poc: ProductOnClient, reason: string): Promise<void> {
    const active = await tx.findActiveJob(poc.clientId);
    if (active?.productId === poc.productId) {
      await this.service.applyJobEvent(tx, active, { type: 'failed', error: reason });
      return;
    }
    await tx.putProductOnClient({
      ...poc,
      actionRequest: 'none',
      actionResult: 'failed',
      lastAction: poc.actionRequest,
      actionProgress: `failed: ${reason}`.slice(0, 1000),
      modified: this.service.iso(),
    });
    this.log.warn({ client: poc.clientId, product: poc.productId, reason }, 'install action failed before it started');
  }

  /** A build failed: every pending install waiting for that root filesystem fails with its reason. */
  async buildFailed(build: OsBuild): Promise<void> {
    await this.service.store.transaction(async (tx) => {
      for (const productId of LINUX_INSTALL_PRODUCTS) {
        for (const poc of await tx.listProductOnClients({ productId, pendingOnly: true })) {
          let entry: string;
          try {
            entry = this.policy.resolveProduct(productId, (await this.effective(tx, poc.clientId, productId)).effective).entryId;
          } catch {
            continue;
          }
          if (entry === build.entryId) await this.failAction(tx, poc, `the root filesystem build ${build.id} failed: ${build.error}`);
        }
      }
    });
  }

  // ---- the agent: the install plan, with a fresh first-boot token ----

  async plan(jobToken: string, baseUrl: string): Promise<OsInstallPlan> {
    return this.agent.installJob(jobToken, async (tx, job) => {
      const { effective } = await this.effective(tx, job.clientId, job.productId);
      const resolved = this.policy.resolveProduct(job.productId, effective);
      const name = parseEntryId(resolved.entryId)!.name;
      const entry = await this.depot.get('rootfs', name);
      const image = entry?.manifest.files.find((f) => f.path === ROOTFS_IMAGE_FILE);
      const index = entry?.manifest.files.find((f) => f.path === ROOTFS_INDEX_FILE);
      if (!entry && this.puller) {
        // A site server: fetch it from the main server once; the agent retries the plan (503) meanwhile.
        this.puller.pull('rootfs', name).catch((error: unknown) => this.log.error({ err: error, entry: resolved.entryId }, 'pulling a depot entry from the upstream failed'));
        throw new UpstreamError(`the root filesystem ${resolved.entryId} is being pulled from the main server (${this.puller.upstream.url}); try again`);
      }
      if (!image || !index) throw new ConflictError(`the root filesystem ${resolved.entryId} of this install is not in the depot (removed after the job started?): set the action again to build it`);
      // Stored values are hashes (install-products.ts hashes on the way in); a clear value put
      // into the store some other way is hashed here, never sent as it is.
      const passwords = await this.policy.hashPasswords(job.productId, Object.fromEntries(PASSWORD_PROPERTIES.map((p) => [p, effective[p] ?? ''])));
      const { token, expires } = await this.mintToken(tx, job, `install plan fetched: ${resolved.entryId}`);
      return buildInstallPlan({
        productId: job.productId as OsInstallPlan['productId'],
        clientId: job.clientId,
        effective: { ...effective, ...passwords },
        resolved,
        entryName: name,
        rootfs: { image, index },
        baseUrl,
        firstBootToken: token,
        firstBootExpires: expires,
      });
    });
  }

  /**
   * A fresh one-time first-boot (completion) token for this job: only its sha256 is stored, a
   * previous token of the job and open installs of other jobs of the client stop working.
   */
  private async mintToken(tx: Store, job: Job, what: string): Promise<{ token: string; expires: string }> {
    const now = this.service.now();
    const ts = now.toISOString();
    for (const other of await tx.listOsInstalls({ clientId: job.clientId, states: [...OPEN_STATES] })) {
      if (other.jobId !== job.id) await tx.putOsInstall({ ...other, state: 'superseded', tokenHash: null, updated: ts });
    }
    const token = randomBytes(32).toString('hex');
    const expires = mintedTokenExpiry(now, this.timeoutMinutes(job.productId) * 60_000);
    const previous = await tx.getOsInstall(job.id);
    await tx.putOsInstall({ jobId: job.id, clientId: job.clientId, productId: job.productId, state: 'installing', tokenHash: sha256Hex(token), tokenExpires: expires, deadline: null, report: null, updated: ts });
    await this.service.recordEvent(tx, job, 'log', null, `${what}; first-boot token ${previous ? 'replaced (the previous one no longer works)' : 'issued'}, valid until ${expires}`);
    return { token, expires };
  }

  // ---- unattended Windows: the staging plan, with a fresh completion token ----

  async windowsPlan(jobToken: string, baseUrl: string): Promise<WindowsInstallPlan> {
    return this.agent.installJob(
      jobToken,
      async (tx, job) => {
        const { effective } = await this.effective(tx, job.clientId, job.productId);
        // The media may have changed since the action was set: the same checks again.
        const { entry, edition, captured } = await this.windows.resolve(job.productId, effective);
        const { token, expires } = await this.mintToken(tx, job, `Windows staging plan fetched: ${entry.id}, image ${edition.index} ${JSON.stringify(edition.name)}${captured ? ` of ${captured.id}` : ''}`);
        return buildWindowsPlan({
          productId: job.productId as WindowsInstallPlan['productId'],
          clientId: job.clientId,
          // The passwords are opened here and only here: the plan goes to this job's agent alone.
          effective: await this.windows.openSecrets(effective),
          manifest: entry.manifest,
          edition,
          captured: captured?.manifest ?? null,
          baseUrl,
          token,
          expires,
        });
      },
      'windows',
    );
  }

  // ---- the installed system: its first-boot report ----

  async firstBoot(token: string, report: FirstBootReport): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(token)) throw new AgentAuthError('malformed first-boot token');
    await this.service.store.transaction(async (tx) => {
      const record = await tx.findOsInstallByTokenHash(sha256Hex(token));
      const verdict = firstBootTokenVerdict(record, this.service.now());
      if (!verdict.ok || !record) throw new AgentAuthError(verdict.ok ? 'unknown first-boot token' : verdict.reason);
      let job = await tx.getJob(record.jobId);
      if (!job) throw new AgentAuthError('the install job of this first-boot token is gone');
      // The agent's result may still be on its way (it resends until acknowledged): the first
      // boot proves the laydown.
      if (job.state === 'booting' || job.state === 'running') job = await this.service.applyJobEvent(tx, job, { type: 'succeeded' });
      if (job.state !== 'succeeded') throw new AgentAuthError(`the install job ${job.id} is ${job.state}: its first-boot token no longer works`);
      const ts = this.service.iso();
      const current = (await tx.getOsInstall(job.id)) ?? record;
      await tx.putOsInstall({ ...current, state: 'reported', tokenHash: null, report, updated: ts });
      const { product, effective } = await this.effective(tx, job.clientId, job.productId);
      const poc = await this.service.productState(job.clientId, job.productId, tx);
      await tx.putProductOnClient(productStateAfterFirstBoot(poc, { productVersion: product.version, now: ts, report }));
      await this.service.recordEvent(tx, job, 'state', 100, `installed: ${describeReport(report)}`);
      try {
        await this.queueAfterInstall(tx, job, effective);
      } catch (error) {
        // The install stands: a follow-up that cannot be queued must not lose the report (the
        // installed system would retry into the same refusal until the deadline failed it).
        await this.service.recordEvent(tx, job, 'log', null, `follow-ups not queued: ${(error as Error).message}`);
        this.log.warn({ err: error, client: job.clientId, job: job.id }, 'follow-ups of an install not queued');
      }
    });
  }

  /**
   * opsi's follow-ups: backup_after_install queues opsi-local-image-backup with imagefile = the
   * install product (the catalogue products of setup_after_install go to the backup, which
   * queues them after it); otherwise setup_after_install is queued now. Names outside the
   * catalogue (opsi localboot products) are recorded for an agent in the installed OS. Only what
   * the admin named, by the scope table (agent-scope.ts); a refusal is logged, the install stands.
   */
  private async queueAfterInstall(tx: Store, job: Job, effective: Record<string, unknown>): Promise<void> {
    const named = productIds(effective['setup_after_install'] as string[] | string | undefined);
    const note = (text: string) => this.service.recordEvent(tx, job, 'log', null, text);
    const scope = mayQueue(job.productId, { setup_after_install: named }, named.map((productId) => ({ productId, actionRequest: 'setup' as const })));
    const badId = named.find((id) => !PRODUCT_ID_PATTERN.test(id));
    if (!scope.ok || badId) {
      await note(`setup_after_install not queued: ${scope.ok ? `${JSON.stringify(badId)} is not a product id` : scope.reason}`);
      return;
    }
    const catalogue: string[] = [];
    for (const id of named) if (await tx.getProduct(id)) catalogue.push(id);
    const foreign = named.filter((id) => !catalogue.includes(id));
    const requests = (ids: string[]) => ids.map((productId) => ({ productId, actionRequest: 'setup' as const }));
    if (effective['backup_after_install'] === true) {
      if (foreign.length) await this.agent.queueRequests(tx, job, requests(foreign));
      const values = { imagefile: job.productId, ...(catalogue.length ? { setup_after_install: catalogue } : {}) };
      await this.service.setActionRequest(job.clientId, ProductId.backup, 'setup', values, tx);
      await note(`queued: setup of ${ProductId.backup} (imagefile ${job.productId}${catalogue.length ? `, then ${catalogue.join(', ')}` : ''})${foreign.length ? `; setup of ${foreign.join(', ')} for the installed OS` : ''}`);
      return;
    }
    if (named.length === 0) return;
    await this.agent.queueRequests(tx, job, requests(named));
    await note(`queued: setup of ${named.join(', ')}`);
  }

  // ---- the deadline ----

  /** Installs laid down whose first boot is overdue at `now` fail; returns how many. */
  async sweep(now: Date = this.service.now()): Promise<number> {
    return this.service.store.transaction(async (tx) => {
      const due = overdue(await tx.listOsInstalls({ states: ['waiting'] }), now);
      for (const record of due) {
        const ts = now.toISOString();
        const poc = await this.service.productState(record.clientId, record.productId, tx);
        const active = await tx.findActiveJob(record.clientId);
        if (isPendingRequest(poc.actionRequest) || active?.productId === record.productId) {
          // The admin asked for the product again meanwhile: that request is the newer word.
          await tx.putOsInstall({ ...record, state: 'superseded', tokenHash: null, updated: ts });
          continue;
        }
        await tx.putOsInstall({ ...record, state: 'timed_out', tokenHash: null, updated: ts });
        const next = productStateAfterTimeout(poc, { now: ts, timeoutMinutes: this.timeoutMinutes(record.productId) });
        await tx.putProductOnClient(next);
        const job = await tx.getJob(record.jobId);
        if (job) await this.service.recordEvent(tx, job, 'state', null, next.actionProgress);
        this.log.warn({ client: record.clientId, product: record.productId, job: record.jobId }, 'no first-boot report by the deadline: install failed');
      }
      return due.length;
    });
  }
}
