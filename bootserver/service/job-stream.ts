// Live job events for one listener (the SSE stream, `netimage jobs --follow`): with a job filter
// its stored history first, then what happens from now on, in id order and without duplicates.
// Events published while the history is read are held back and sent after it.
import type { Store } from '../store/types.ts';
import type { JobEventBus, LiveJobEvent } from './event-bus.ts';

export interface JobStreamFilter {
  job?: string | undefined;
  client?: string | undefined;
}

export interface JobStream {
  /** Resolves once the history has been sent; live events follow through `send`. */
  readonly ready: Promise<void>;
  close(): void;
}

export function openJobStream(store: Store, bus: JobEventBus, filter: JobStreamFilter, send: (event: LiveJobEvent) => void): JobStream {
  let lastId = 0;
  let replaying = true;
  let closed = false;
  const held: LiveJobEvent[] = [];
  const matches = (e: LiveJobEvent) => (!filter.job || e.jobId === filter.job) && (!filter.client || e.clientId === filter.client);
  const deliver = (e: LiveJobEvent) => {
    if (closed || e.id <= lastId) return;
    lastId = e.id;
    send(e);
  };
  const unsubscribe = bus.subscribe((e) => {
    if (!matches(e)) return;
    if (replaying) held.push(e);
    else deliver(e);
  });
  const replay = async () => {
    const job = filter.job ? await store.getJob(filter.job) : null;
    if (job) {
      for (const e of await store.listJobEvents(job.id)) {
        const live = { ...e, clientId: job.clientId, productId: job.productId };
        if (matches(live)) deliver(live);
      }
    }
    replaying = false;
    for (const e of held.splice(0)) deliver(e);
  };
  return {
    ready: replay(),
    close() {
      closed = true;
      unsubscribe();
    },
  };
}
