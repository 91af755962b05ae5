// Live job events for one listener (the SSE stream, `netimage jobs --follow`): with a job filter
// its stored history first, then what happens from now on, each event once. Events published
// while the history is read are held back and sent after it. Live events come in the order this
// server learns of them, which is not always id order (with several servers on one store another
// server's event can arrive after a later one of this server's), so a repeat is told by its id,
// never by being older. A group filter asks the store which room each event's PC is in (cached a
// few seconds: a PC moved into the room while someone follows it shows up), in event order.
import { AsyncResource } from 'node:async_hooks';
import type { Store } from '../store/types.ts';
import type { JobEventBus, LiveJobEvent } from './event-bus.ts';

export interface JobStreamFilter {
  job?: string | undefined;
  client?: string | undefined;
  /** Only the PCs that are in this group when their event comes. */
  group?: string | undefined;
}

/** Events read at a time while a job's history is replayed. */
const REPLAY_PAGE = 5_000;
/** How long a PC's group is trusted before the store is asked again. */
const GROUP_CACHE_MS = 5_000;

export interface JobStream {
  /** Resolves once the history has been sent; live events follow through `send`. */
  readonly ready: Promise<void>;
  close(): void;
}

export function openJobStream(store: Store, bus: JobEventBus, filter: JobStreamFilter, send: (event: LiveJobEvent) => void): JobStream {
  /** The ids sent while the history is read and the held events flushed (the only time one can come twice). */
  const replayed = new Set<number>();
  let replaying = true;
  let replayDone = false;
  let closed = false;
  const held: LiveJobEvent[] = [];
  const matches = (e: LiveJobEvent) => (!filter.job || e.jobId === filter.job) && (!filter.client || e.clientId === filter.client);
  const send1 = (e: LiveJobEvent) => {
    if (closed || replayed.has(e.id)) return;
    if (!replayDone) replayed.add(e.id);
    send(e);
  };
  const groups = new Map<string, { group: string | null; read: number }>();
  const inGroup = async (clientId: string): Promise<boolean> => {
    let hit = groups.get(clientId);
    if (!hit || Date.now() - hit.read > GROUP_CACHE_MS) {
      hit = { group: (await store.getClient(clientId))?.group ?? null, read: Date.now() };
      groups.set(clientId, hit);
    }
    return hit.group === filter.group;
  };
  // Events are published from inside the store transaction that wrote them, and the store refuses
  // (rather than deadlocks on) a read of the outer store there: the lookups run in the async
  // context of the stream's opening instead.
  const outside = new AsyncResource('netimage.job-stream');
  // One chain keeps the order while each event waits for its PC's group.
  let chain: Promise<void> = Promise.resolve();
  const deliver = (e: LiveJobEvent) => {
    if (!filter.group) return send1(e);
    chain = chain
      .then(() => outside.runInAsyncScope(() => inGroup(e.clientId)))
      .then((yes) => {
        if (yes && !closed) send1(e);
      })
      .catch(() => undefined); // a store error loses that event, never the stream
  };
  const unsubscribe = bus.subscribe((e) => {
    if (!matches(e)) return;
    if (replaying) held.push(e);
    else deliver(e);
  });
  const replay = async () => {
    const job = filter.job ? await store.getJob(filter.job) : null;
    if (job) {
      // Page by page: a long job (an OS install's apt output is a log event per line) has more
      // events than one read returns, and its end is in the last page.
      for (let after = 0; ; ) {
        const page = await store.listJobEvents(job.id, { afterId: after, limit: REPLAY_PAGE });
        for (const e of page) {
          const live = { ...e, clientId: job.clientId, productId: job.productId };
          if (matches(live)) deliver(live);
        }
        if (page.length < REPLAY_PAGE) break;
        after = page[page.length - 1]!.id;
      }
    }
    replaying = false;
    for (const e of held.splice(0)) deliver(e);
    await chain;
    replayDone = true;
  };
  return {
    ready: replay(),
    close() {
      closed = true;
      unsubscribe();
    },
  };
}
