// Pure logic of the screens: what a PC tile shows, what an action wipes, how times read.
import type { ClientView, Job, LiveJobEvent, ProductDefinition, ProductStateView } from './types.ts';
import { formatInZone } from '../../lib/zone-format.ts';
import { fetchOnlyImage, SEEDING_LOG_PREFIX } from '../../lib/golden.ts';

export { formatInZone };

export const PRODUCT = {
  prepare: 'opsi-local-image-prepare',
  backup: 'opsi-local-image-backup',
  restore: 'opsi-local-image-restore',
  delimage: 'opsi-local-image-delimage',
} as const;

const ACTIVE = new Set(['booting', 'running']);

export interface Tile {
  id: string;
  /** A job is booting or running right now. */
  online: boolean;
  /** The latest sign of life: a job's last change or a live event (ISO), null = never seen. */
  lastSeen: string | null;
  /** seeding: the job's latest room seeding line from the stream (null: none seen). */
  current: { productId: string; state: string; percent: number | null; message: string; jobId: string; seeding: string | null } | null;
  /** Action requests set and not yet picked up (the PC has not booted since). */
  pending: string[];
  last: { productId: string; state: string; error: string | null; finished: string | null; jobId: string } | null;
}

/** Short product names for small screens: the opsi-local-image- prefix says nothing in a room. */
export const shortName = (productId: string) => productId.replace(/^opsi-local-image-/, '');

/**
 * A job's newest event, and its latest room seeding line (how much came by multicast, by HTTP,
 * multicast blocked…): the agent sends those as log lines, which `netimage jobs --follow --group`
 * prints as they come; a PC's tile shows the latest.
 */
export type LiveJob = LiveJobEvent & { seeding: string | null };

/** The newest event per job after these events, in the order they came (a new map; `jobs` is left as it was). */
export function withLiveEvents(jobs: ReadonlyMap<string, LiveJob>, events: readonly LiveJobEvent[]): Map<string, LiveJob> {
  const next = new Map(jobs);
  for (const e of events) {
    // Log lines carry no percent: keep the last one, and the last progress message.
    const prev = next.get(e.jobId);
    const seeding = e.kind === 'log' && e.message.startsWith(SEEDING_LOG_PREFIX) ? e.message : (prev?.seeding ?? null);
    next.set(e.jobId, { ...e, percent: e.percent ?? prev?.percent ?? null, message: e.kind === 'log' ? (prev?.message ?? '') : e.message, seeding });
  }
  return next;
}

/**
 * The live event that tells a stored job's present: the newest one seen, unless the list was read
 * after it (a list read after the stream missed events, e.g. across a reconnect, wins).
 */
export function liveEventOf<E extends Pick<LiveJobEvent, 'ts'>>(job: Pick<Job, 'id' | 'updated'>, live: Map<string, E>): E | undefined {
  const e = live.get(job.id);
  return e && e.ts >= job.updated ? e : undefined;
}

/**
 * One PC's tile from the stored jobs (newest first, as GET /jobs lists them), its product states
 * and the live events seen since (which are newer than any stored job they concern).
 */
export function tileOf(client: ClientView, jobs: Job[], states: ProductStateView[], live: Map<string, LiveJobEvent & { seeding?: string | null }>): Tile {
  const mine = jobs.filter((j) => j.clientId === client.id).map((j) => {
    const e = liveEventOf(j, live);
    return e ? { ...j, state: e.state, percent: e.percent ?? j.percent, updated: e.ts, message: e.message } : { ...j, message: '' };
  });
  // A live job the list has not caught up with yet.
  for (const e of live.values()) {
    if (e.clientId === client.id && !mine.some((j) => j.id === e.jobId)) {
      mine.unshift({ id: e.jobId, clientId: e.clientId, productId: e.productId, state: e.state, percent: e.percent, updated: e.ts, message: e.message, error: null, finished: null } as Job & { message: string });
    }
  }
  mine.sort((a, b) => (a.updated < b.updated ? 1 : -1));
  const active = mine.find((j) => ACTIVE.has(j.state));
  const done = mine.find((j) => !ACTIVE.has(j.state));
  const seen = [mine[0]?.updated, client.wake?.status === 'woke' ? client.wake.updated : undefined].filter((x): x is string => !!x).sort();
  return {
    id: client.id,
    online: !!active,
    lastSeen: seen.at(-1) ?? null,
    current: active ? { productId: active.productId, state: active.state, percent: active.percent, message: active.message, jobId: active.id, seeding: live.get(active.id)?.seeding ?? null } : null,
    pending: states.filter((s) => s.clientId === client.id && s.managedBy === 'netimage' && s.actionRequest !== 'none' && s.productId !== active?.productId).map((s) => s.productId),
    last: done ? { productId: done.productId, state: done.state, error: done.error, finished: done.finished ?? done.updated, jobId: done.id } : null,
  };
}

/** Products that install an operating system (the catalogue's install products). */
export function installProducts(products: ProductDefinition[]): ProductDefinition[] {
  const imaging: string[] = Object.values(PRODUCT);
  return products.filter((p) => p.destructive && !imaging.includes(p.id) && p.id.startsWith('opsi-local-image-') && !p.id.includes('wim-capture'));
}

/** The golden image a restore fetches from the server's depot (server_image), or null. */
export function goldenOf(properties: Record<string, unknown>): string | null {
  const g = properties['server_image'];
  return typeof g === 'string' && g.trim() ? g.trim() : null;
}

/**
 * A restore that only fetches a golden image (restore_after_fetch=false) leaves the system
 * partition alone: it replaces an image of that name on the backup partition. The server's wipe
 * confirmation judges it with the same lib/golden.ts fetchOnlyImage.
 */
export function fetchOnlyOf(product: ProductDefinition, properties: Record<string, unknown>): string | null {
  return product.id === PRODUCT.restore ? fetchOnlyImage(properties) : null;
}

/** What an action erases on each PC, in words for the confirmation; null = it erases nothing (a fetch only: see fetchOnlyOf). */
export function wipeOf(product: ProductDefinition, properties: Record<string, unknown>): string | null {
  if (!product.destructive || fetchOnlyOf(product, properties)) return null;
  const image = typeof properties['imagefile'] === 'string' && properties['imagefile'] ? properties['imagefile'] : null;
  const golden = goldenOf(properties);
  switch (product.id) {
    case PRODUCT.prepare:
      return 'the whole system disk: it is repartitioned, so the installed system and every image on the backup partition are lost';
    case PRODUCT.restore:
      if (golden) return `the system partition: everything on it is replaced by golden image ${golden} from the server (fetched onto the backup partition first, replacing an image of that name there)`;
      return `the system partition: everything on it is replaced by image ${image ?? '(the one every PC has)'}`;
    case PRODUCT.delimage:
      return image === 'all_images' || !image ? 'every image on the backup partition' : `image ${image} on the backup partition`;
    default:
      return `the system partition: ${product.name} is installed afresh over it`;
  }
}

/** "12 s ago", "5 min ago", "3 h ago", else the date. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(iso).slice(0, 10);
}

/** "1 PC", "2 PCs". */
export const pcs = (n: number) => `${n} PC${n === 1 ? '' : 's'}`;

/**
 * The server's time zone (GET /api/v1/health), set once at start: the UI shows times as the CLI
 * does, "2026-12-02 07:01:13 +01:00" in the server's zone, so a time read in the browser matches
 * `netimage jobs` on the server whatever the browser's own zone or language. null: the browser's
 * zone (a server too old to say, or a zone this browser does not know), still with the offset.
 */
let serverZone: string | null = null;

export function setServerZone(zone: string | null): void {
  try {
    if (zone) new Intl.DateTimeFormat('en-US', { timeZone: zone });
    serverZone = zone;
  } catch {
    serverZone = null;
  }
}


export const when = (iso: string | null) => (iso ? formatInZone(iso, serverZone) : '–');

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? v.split(',') : []);
