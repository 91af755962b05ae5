// What a running product may change on its own client through the agent API. A job token is
// handed to whatever boots with it (with boot.bootUnknownClients any MAC gets a hwinvent job), so
// the token alone must not let a product queue a destructive product or rewrite properties: each
// product may only do what its code really does (imaging/products/*.ts, bootimage/agent/products),
// and may only queue products an admin named in a property of that same job.
// Pure and table-driven; the service applies it inside the transaction that writes.
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { ProductId } from '../../lib/products.ts';
import { LINUX_INSTALL_PRODUCTS, WINDOWS_INSTALL_PRODUCTS } from '../jobs/first-boot.ts';

export interface ProductScope {
  /** Properties this product may set, per target product. */
  writes: Readonly<Record<string, readonly string[]>>;
  /** Its own properties whose admin-set values name the products it may queue (for setup). */
  queueFrom: readonly string[];
  /** May put back saved product states (restore). */
  putsProductStates: boolean;
  /**
   * May queue products outside the catalogue (opsi localboot products such as windomain) that
   * its queueing properties name: recorded as setup on their foreign state for an in-OS agent.
   */
  queuesForeign: boolean;
  /** May store the client's hardware inventory (hwinvent). */
  putsInventory: boolean;
}

const RESTORE = ProductId.restore;
const BACKUP = ProductId.backup;
const IMAGE_LIST = ['imagefile', 'imagefiles_list'] as const;

const NOTHING: ProductScope = { writes: {}, queueFrom: [], putsProductStates: false, queuesForeign: false, putsInventory: false };

/** The products the boot image runs, and what each one writes (see the file comment). */
export const AGENT_SCOPES: Readonly<Record<string, ProductScope>> = {
  [ProductId.hwinvent]: { ...NOTHING, putsInventory: true },
  // The old images are gone with the old partitions; then the OS installation is queued.
  [ProductId.prepare]: { ...NOTHING, writes: { [RESTORE]: IMAGE_LIST }, queueFrom: ['start_os_installation'] },
  [BACKUP]: { ...NOTHING, writes: { [RESTORE]: IMAGE_LIST, [BACKUP]: ['free_on_backup'] }, queueFrom: ['setup_after_install'] },
  // server_image: the golden image fetched onto the backup partition joins the image list.
  [RESTORE]: { ...NOTHING, writes: { [RESTORE]: IMAGE_LIST }, queueFrom: ['setup_after_restore'], putsProductStates: true, queuesForeign: true },
  [ProductId.delimage]: { ...NOTHING, writes: { [RESTORE]: IMAGE_LIST, [BACKUP]: ['free_on_backup'] } },
  // Backs up first (like backup), then points this PC's target OS product at the captured image.
  [ProductId.wimCapture]: {
    ...NOTHING,
    writes: { [RESTORE]: IMAGE_LIST, [BACKUP]: ['free_on_backup'], [ProductId.win10]: ['imagename'], [ProductId.win11]: ['imagename'] },
    queueFrom: ['setup_after_capture'],
  },
  // Only reads install.wim and writes the job log.
  [ProductId.wimInfo]: NOTHING,
  // The OS installs change nothing through the agent: the server queues what setup_after_install
  // names when the installed system reports its first boot (service/os-install.ts), by this entry;
  // names outside the catalogue are opsi localboot products for an agent in the installed OS.
  [ProductId.debian]: { ...NOTHING, queueFrom: ['setup_after_install'], queuesForeign: true },
  [ProductId.ubuntu]: { ...NOTHING, queueFrom: ['setup_after_install'], queuesForeign: true },
  // Unattended Windows: the same, queued when SetupComplete.cmd reports (service/os-install.ts).
  [ProductId.win10]: { ...NOTHING, queueFrom: ['setup_after_install'], queuesForeign: true },
  [ProductId.win11]: { ...NOTHING, queueFrom: ['setup_after_install'], queuesForeign: true },
};

export function scopeOf(productId: string): ProductScope {
  return AGENT_SCOPES[productId] ?? NOTHING;
}

export type ScopeDecision = { ok: true } | { ok: false; reason: string };

/** May the job of `jobProduct` set these properties of `target`? */
export function mayWriteProperties(jobProduct: string, target: string, names: readonly string[]): ScopeDecision {
  const allowed = scopeOf(jobProduct).writes[target] ?? [];
  const refused = names.filter((n) => !allowed.includes(n));
  if (refused.length === 0) return { ok: true };
  return {
    ok: false,
    reason: `a ${jobProduct} job may not set ${refused.map((n) => `${target}.${n}`).join(', ')}${allowed.length ? ` (only ${allowed.map((n) => `${target}.${n}`).join(', ')})` : ''}`,
  };
}

/** A property value as a list of product ids (opsi lists may also come as "a, b" strings). */
export function productIds(value: PropertyValue | undefined): string[] {
  if (value === undefined || value === false || value === true) return [];
  const items = Array.isArray(value) ? value : value.split(/[\s,]+/);
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * May the job of `jobProduct` queue these requests? `adminValues` are that job's own property
 * values as the admin set them (the agent can never write them: see `writes`). Only 'setup' of a
 * product named there, never the job's own product.
 */
export function mayQueue(
  jobProduct: string,
  adminValues: Readonly<Record<string, PropertyValue>>,
  requests: readonly { productId: string; actionRequest: ActionRequest }[],
): ScopeDecision {
  const scope = scopeOf(jobProduct);
  const named = new Set(scope.queueFrom.flatMap((p) => productIds(adminValues[p])));
  for (const r of requests) {
    if (r.productId === jobProduct) return { ok: false, reason: `a product cannot queue itself (${r.productId})` };
    if (r.actionRequest !== 'setup') return { ok: false, reason: `a ${jobProduct} job may only queue setup, not ${r.actionRequest} (${r.productId})` };
    if (!named.has(r.productId)) {
      const where = scope.queueFrom.length ? `its ${scope.queueFrom.join('/')} property names ${[...named].join(', ') || 'nothing'}` : 'it queues nothing';
      return { ok: false, reason: `a ${jobProduct} job may not queue ${r.productId}: ${where}` };
    }
  }
  return { ok: true };
}

export function mayPutProductStates(jobProduct: string): ScopeDecision {
  return scopeOf(jobProduct).putsProductStates ? { ok: true } : { ok: false, reason: `a ${jobProduct} job may not replace product states (only a restore puts saved states back)` };
}

/** May the job of `jobProduct` queue a product the catalogue does not have? (mayQueue first.) */
export function mayQueueForeign(jobProduct: string, productId: string): ScopeDecision {
  if (scopeOf(jobProduct).queuesForeign) return { ok: true };
  return { ok: false, reason: `a ${jobProduct} job may not queue ${productId}: it is not a netimage product (only a restore records setup of products netimage does not run)` };
}

/** May the job of `jobProduct` fetch an OS install plan (with a first-boot token)? */
export function mayFetchInstallPlan(jobProduct: string, kind: 'linux' | 'windows' = 'linux'): ScopeDecision {
  const products = kind === 'windows' ? WINDOWS_INSTALL_PRODUCTS : LINUX_INSTALL_PRODUCTS;
  return products.includes(jobProduct) ? { ok: true } : { ok: false, reason: `a ${jobProduct} job has no ${kind === 'windows' ? 'Windows' : 'OS'} install plan (only ${products.join(', ')} jobs do)` };
}

export function mayPutInventory(jobProduct: string): ScopeDecision {
  return scopeOf(jobProduct).putsInventory ? { ok: true } : { ok: false, reason: `a ${jobProduct} job may not store an inventory (only hwinvent does)` };
}
