// Job events across servers on one PostgreSQL store (docs/multi-server.md): every job event a
// server writes is announced with NOTIFY in the same transaction (so it goes out at commit, and
// not at all on a rollback); every server LISTENs on one connection of its own and hands the
// events of the other servers to its in-process bus. A server's own events reach its bus directly
// (event-bus.ts), so a listener skips the announcements that carry its own origin.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import type { Logger } from '../../lib/logger.ts';
import type { Row, SqlRunner } from './sql.ts';
import { rowToEvent } from './sql-store.ts';
import type { JobEventRecord } from './types.ts';

export const JOB_EVENTS_CHANNEL = 'netimage_job_events';

/** A job event as a listener gets it: the stored record and the job's client and product. */
export type AnnouncedJobEvent = JobEventRecord & { clientId: string; productId: string };

/**
 * NOTIFY payloads are limited to 8000 bytes: the message is cut to 1500 characters (at most
 * 6000 bytes in UTF-8). Agent progress messages are at most 500; only long failure texts are cut,
 * and the whole text stays in the store (`netimage jobs <id>`).
 */
const MESSAGE_CHARS = 1500;

const announcement = z.object({
  origin: z.string(),
  id: z.number().int(),
  jobId: z.string(),
  clientId: z.string(),
  productId: z.string(),
  ts: z.string(),
  kind: z.enum(['state', 'progress', 'log']),
  state: z.enum(['booting', 'running', 'succeeded', 'failed', 'exhausted', 'cancelled']).nullable(),
  percent: z.number().nullable(),
  message: z.string(),
});

/** Announce a stored event, on the transaction's connection (the payload is built from the rows). */
export async function announceJobEvent(db: SqlRunner, origin: string, eventId: number): Promise<void> {
  await db.query(
    `SELECT pg_notify(?, json_build_object('origin', ?::text, 'id', e.id, 'jobId', e.job_id, 'clientId', j.client_id, 'productId', j.product_id,
       'ts', e.ts, 'kind', e.kind, 'state', e.state, 'percent', e.percent, 'message', left(e.message, ${MESSAGE_CHARS}))::text)
     FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE e.id = ?`,
    [JOB_EVENTS_CHANNEL, origin, eventId],
  );
}

export function newOrigin(): string {
  return randomUUID();
}

/** A bounded set of job event ids (insertion order; the oldest go first). */
export class RecentEventIds {
  readonly #ids = new Set<number>();
  add(id: number): void {
    this.#ids.add(id);
    // Bounded: a gap longer than this many events is not caught up exactly (Set keeps insertion order).
    if (this.#ids.size > 10_000) this.#ids.delete(this.#ids.values().next().value!);
  }
  has(id: number): boolean {
    return this.#ids.has(id);
  }
}

export interface JobEventListener {
  close(): Promise<void>;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;
/** At most this many missed events are caught up after a gap (a listing, not a flood, for the bus). */
const CATCH_UP_LIMIT = 1000;

const EVENT_COLUMNS = 'e.id, e.job_id, j.client_id, j.product_id, e.ts, e.kind, e.state, e.percent, e.message';

function rowToAnnounced(r: Row): AnnouncedJobEvent {
  return { ...rowToEvent(r), clientId: String(r['client_id']), productId: String(r['product_id']) };
}

/**
 * LISTEN for other servers' job events until closed. A lost connection (PostgreSQL restarted, the
 * link dropped) is opened again, waiting 0.5 s and doubling up to 5 s; then the events other
 * servers stored in the gap are read from the store and delivered in id order before the live ones.
 */
export async function listenJobEvents(options: { url: string; origin: string; own: RecentEventIds; log: Logger; onEvent: (e: AnnouncedJobEvent) => void }): Promise<JobEventListener> {
  const { url, origin, own, log, onEvent } = options;
  let closed = false;
  let client: pg.Client | null = null;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | null = null;
  /** The newest event id known (any server's): a gap is caught up after it. Null until the first connection read it. */
  let lastId: number | null = null;
  /**
   * The events delivered (or skipped as our own) lately: an event comes once whatever its id. At
   * the first connection, events committed between LISTEN and reading the newest id are announced
   * with ids at or below it; after a gap, the catch-up read and the new connection's announcements
   * overlap.
   */
  const seen = new RecentEventIds();
  /** Live announcements held while the gap is read, so delivery stays in id order. */
  let held: AnnouncedJobEvent[] | null = null;

  const deliver = (e: AnnouncedJobEvent) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    if (lastId === null || e.id > lastId) lastId = e.id;
    if (own.has(e.id)) return;
    // This runs inside pg's socket handler: a throw there would end the process.
    try {
      onEvent(e);
    } catch (error) {
      log.error({ err: error, event: e.id }, "a listener of other servers' job events failed");
    }
  };
  const onNotification = (n: pg.Notification) => {
    if (n.channel !== JOB_EVENTS_CHANNEL || !n.payload) return;
    let parsed;
    try {
      parsed = announcement.safeParse(JSON.parse(n.payload));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) return void log.warn({ payload: n.payload.slice(0, 200) }, 'ignored a malformed job event announcement');
    const { origin: from, state, ...event } = parsed.data;
    const e = { ...event, state: state ?? 'booting' };
    // Ours: the bus had it when it was stored; deliver() only moves the position past it.
    if (from === origin) own.add(e.id);
    if (held) held.push(e);
    else deliver(e);
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    // Registered before connect: a connection that fails or drops later must not crash the process.
    c.on('error', () => undefined);
    c.on('notification', onNotification);
    held = [];
    try {
      await c.connect();
      await c.query(`LISTEN ${JOB_EVENTS_CHANNEL}`);
      if (lastId === null) {
        lastId = Number((await c.query('SELECT COALESCE(MAX(id), 0) AS id FROM job_events')).rows[0]?.id ?? 0);
      } else {
        // Every write holds the store lock until it commits, so ids rise in commit order: what
        // was committed while we were away has a higher id than anything announced to us before.
        const missed = await c.query(`SELECT ${EVENT_COLUMNS} FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE e.id > $1 ORDER BY e.id LIMIT ${CATCH_UP_LIMIT}`, [lastId]);
        for (const r of missed.rows as Row[]) deliver(rowToAnnounced(r));
      }
      const live = held.sort((x, y) => x.id - y.id);
      held = null;
      for (const e of live) deliver(e);
    } catch (error) {
      held = null;
      await c.end().catch(() => undefined);
      throw error;
    }
    // Closed while this connection was being made: nobody would ever end it.
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    c.once('end', () => {
      if (client !== c || closed) return;
      client = null;
      log.warn("lost the PostgreSQL connection that carries other servers' job events; connecting again");
      retry();
    });
    client = c;
  };
  /** The connect a retry has under way: `close` waits for it (and it ends its own connection). */
  let connecting: Promise<void> | null = null;
  const retry = () => {
    if (closed) return;
    timer = setTimeout(() => {
      timer = null;
      if (closed) return;
      connecting = connect().then(
        () => {
          retryMs = RETRY_MIN_MS;
          if (!closed) log.info("listening for other servers' job events again (those stored meanwhile delivered)");
        },
        () => {
          retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
          retry();
        },
      );
      void connecting.finally(() => (connecting = null));
    }, retryMs);
  };

  await connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await connecting;
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}
