// Room seeding on the server: one multicast stream of a golden image per (group, image), started
// when a group restore with server_image and server_image_multicast=true is set. The PCs' restore
// jobs ask for it (GET /agent/v1/seed, scoped by the job token like the golden fetch) and join as
// receivers; the stream (lib/seed/sender.ts) sends HELLO from the first PC's ask until every
// PC of the group has asked or the join window has passed, then the data once, paced, never
// waiting for anyone. Whatever a PC misses (late, lossy, restarted, blocked) it fetches from the
// depot over HTTP Range. docs/imaging.md "Room seeding".
import { realpath } from 'node:fs/promises';
import type { Logger } from '../../lib/logger.ts';
import { GOLDEN_KIND, goldenFilesOf, type SeedSessionWire } from '../../lib/golden.ts';
import { buildManifest, type SeedManifest } from '../../lib/seed/manifest.ts';
import { sendSeed } from '../../lib/seed/sender.ts';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { goldenEntryName } from '../../lib/golden.ts';
import { ProductId } from '../../lib/products.ts';
import type { Depot } from '../depot/depot.ts';
import { serverImageOf } from '../depot/golden-restore.ts';
import { DEPOT_HTTP_PREFIX } from '../depot/http.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import type { GroupActionListener } from '../service/netboot.ts';

export interface SeedingConfig {
  groupPrefix: string;
  port: number;
  rateMbit: number;
  joinWindowSeconds: number;
  pieceKib: number;
}

interface Session {
  key: string;
  groupId: string;
  entry: string;
  clients: ReadonlySet<string>;
  asked: Set<string>;
  group: string;
  port: number;
  manifest: Promise<SeedManifest>;
  /** The entry's version folder when the session began (a newer upload does not change the stream). */
  dir: Promise<string>;
  state: SeedSessionWire['state'];
  sending: Promise<void> | null;
  go: () => void;
  /** Settles when the data may start (every PC asked, or the join window passed). */
  started: Promise<void>;
  timer: NodeJS.Timeout | null;
  abort: AbortController;
}

/** The grace between the last PC's ask and the data: it joins the group right after its ask. */
const LAST_JOIN_GRACE_MS = 500;

export class SeedSessions {
  readonly #depot: Depot;
  readonly #log: Logger;
  readonly #config: SeedingConfig;
  readonly #sessions = new Map<string, Session>();
  /** Manifests by version folder and piece size: a second room seeding the same image does not hash it again. */
  readonly #manifests = new Map<string, Promise<SeedManifest>>();
  #next = 0;

  constructor(options: { depot: Depot; log: Logger; config: SeedingConfig }) {
    this.#depot = options.depot;
    this.#log = options.log;
    this.#config = options.config;
  }

  /**
   * A new session for this group and golden entry (one already there is stopped: its PCs, if any
   * still run, catch up over HTTP). The manifest is hashed in the background; the action is set.
   */
  async start(groupId: string, entry: string, clients: readonly string[]): Promise<void> {
    const depotEntry = await this.#depot.require(GOLDEN_KIND, entry);
    const key = `${groupId}\n${entry}`;
    this.#stop(this.#sessions.get(key));
    const n = this.#next++;
    let go!: () => void;
    const started = new Promise<void>((resolve) => (go = resolve));
    const dir = realpath(depotEntry.dir);
    const session: Session = {
      key,
      groupId,
      entry,
      clients: new Set(clients),
      asked: new Set(),
      group: `${this.#config.groupPrefix}.${1 + (n % 254)}`,
      port: this.#config.port,
      dir,
      manifest: dir.then((d) => this.#manifestOf(d, goldenFilesOf(depotEntry.manifest.files.map((f) => f.path)))),
      state: 'waiting',
      sending: null,
      go: () => go(),
      started,
      timer: null,
      abort: new AbortController(),
    };
    void started.then(() => {
      if (session.state !== 'waiting') return;
      session.state = 'sending';
      // When the data begins and who is in: a PC that asks later catches up (the operator's clue to a late PC).
      this.#log.info({ group: groupId, entry, asked: session.asked.size, clients: session.clients.size }, `room seeding: the room has joined (${session.asked.size} of ${session.clients.size} PCs), data starts`);
    });
    // A failed hash is reported to the PCs that ask (they fall back to HTTP); never unhandled.
    session.manifest.catch((error: unknown) => this.#log.error({ err: error, group: groupId, entry }, 'room seeding: the manifest of the golden image could not be made'));
    this.#sessions.set(key, session);
    this.#log.info({ group: groupId, entry, multicast: `${session.group}:${session.port}`, clients: clients.length }, 'room seeding session set up');
  }

  /**
   * A PC's restore job asks for its room's stream. `serverAddress`: the address the PC reached us
   * at (the stream goes out on that interface); `pcAddress`: the PC's own. Null: no session for it.
   */
  async join(clientId: string, groupId: string | null, entry: string, serverAddress: string, pcAddress: string): Promise<SeedSessionWire | null> {
    const session = groupId === null ? undefined : this.#sessions.get(`${groupId}\n${entry}`);
    if (!session || !session.clients.has(clientId)) return null;
    const manifest = await session.manifest;
    if (!session.sending && session.state !== 'over') this.#send(session, manifest, serverAddress);
    session.asked.add(clientId);
    if ([...session.clients].every((c) => session.asked.has(c))) setTimeout(() => session.go(), LAST_JOIN_GRACE_MS).unref();
    return { state: session.state, entry, group: session.group, port: session.port, manifest, base: `${DEPOT_HTTP_PREFIX}/${GOLDEN_KIND}/${entry}`, localAddress: pcAddress };
  }

  /** For the admin and the tests: where each session is. */
  list(): { groupId: string; entry: string; group: string; port: number; state: SeedSessionWire['state']; asked: string[]; clients: string[] }[] {
    return [...this.#sessions.values()].map((s) => ({ groupId: s.groupId, entry: s.entry, group: s.group, port: s.port, state: s.state, asked: [...s.asked].sort(), clients: [...s.clients].sort() }));
  }

  /** The group's restore action was cleared: its streams stop (a PC still receiving finishes over HTTP). */
  stopGroup(groupId: string): void {
    for (const s of [...this.#sessions.values()]) if (s.groupId === groupId) this.#stop(s);
  }

  /** Server shutdown: every stream stops (receivers finish over HTTP while the server runs). */
  stopAll(): void {
    for (const s of this.#sessions.values()) this.#stop(s);
  }

  /** The seed manifest of a golden entry version's `files` (in transfer order, as the receivers expect them). */
  #manifestOf(dir: string, files: readonly string[]): Promise<SeedManifest> {
    const key = `${dir}\n${this.#config.pieceKib}`;
    let m = this.#manifests.get(key);
    if (!m) {
      m = buildManifest(dir, files, this.#config.pieceKib * 1024);
      // A failure is not kept: the next session tries again. Versions of removed entries pile up
      // only as small manifests (one per image version seeded while the server runs).
      m.catch(() => this.#manifests.delete(key));
      this.#manifests.set(key, m);
    }
    return m;
  }

  #send(session: Session, manifest: SeedManifest, localAddress: string): void {
    session.timer = setTimeout(() => session.go(), this.#config.joinWindowSeconds * 1000);
    session.timer.unref();
    this.#log.info({ group: session.groupId, entry: session.entry, multicast: `${session.group}:${session.port}`, on: localAddress }, 'room seeding: HELLO until the room has joined');
    session.sending = (async () => {
      const result = await sendSeed({
        manifest,
        dir: await session.dir,
        group: session.group,
        port: session.port,
        localAddress,
        rateBytesPerSecond: (this.#config.rateMbit * 1e6) / 8,
        start: session.started,
        signal: session.abort.signal,
      });
      this.#log.info({ group: session.groupId, entry: session.entry, ...result, asked: session.asked.size, clients: session.clients.size }, 'room seeding: stream sent');
    })()
      .catch((error: unknown) => {
        if (!session.abort.signal.aborted) this.#log.error({ err: error, group: session.groupId, entry: session.entry }, 'room seeding: the stream failed (the PCs fetch the rest over HTTP)');
      })
      .finally(() => {
        session.state = 'over';
        if (session.timer) clearTimeout(session.timer);
      });
  }

  #stop(session: Session | undefined): void {
    if (!session) return;
    session.abort.abort(new Error('seeding session replaced or server stopping'));
    session.state = 'over';
    if (session.timer) clearTimeout(session.timer);
    this.#sessions.delete(session.key);
  }
}

const bool = (v: PropertyValue | undefined) => /^(true|1|yes|on)$/i.test(String(Array.isArray(v) ? v[0] : (v ?? '')).trim());

/** Wanted for this group action? The session starts when a group restore names server_image with server_image_multicast=true. */
export function seedingWanted(productId: string, properties: Record<string, PropertyValue>): string | null {
  if (productId !== ProductId.restore || !bool(properties['server_image_multicast'])) return null;
  return goldenEntryName(serverImageOf(properties));
}

/**
 * NetbootService.onGroupAction: a group restore with server_image_multicast starts the room's
 * session; clearing it, or a group restore that replaces it without one (each PC over HTTP, or
 * their own images), stops the room's streams. A session that cannot start leaves the action set
 * (it is committed): the PCs then find no session and fetch by unicast, and the admin is told so.
 */
export function seedingOnGroupAction(sessions: SeedSessions, log?: Logger): GroupActionListener {
  return async (e) => {
    if (e.productId !== ProductId.restore) return;
    // Cleared, or replaced by the room's new restore: a stream of another image, or of this one
    // for PCs now told to fetch over HTTP, would go on reaching the segment for nobody.
    sessions.stopGroup(e.groupId);
    if (!isPendingRequest(e.actionRequest)) return;
    const entry = seedingWanted(e.productId, e.properties);
    if (!entry) return;
    try {
      await sessions.start(e.groupId, entry, e.clients);
    } catch (error) {
      log?.error({ err: error, group: e.groupId, entry }, 'room seeding: the session could not start; the PCs fetch by unicast');
      return `no multicast session for golden/${entry} (${(error as Error).message}): the restore is set for ${e.clients.length} PC(s), each will fetch the image by unicast HTTP`;
    }
  };
}
