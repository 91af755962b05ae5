// The live job events of this tab: one EventSource for all screens; a screen reads the newest
// event of each job and re-renders when a batch of them is taken in (every 250 ms).
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';
import { withLiveEvents, type LiveJob } from './model.ts';
import type { LiveJobEvent } from './types.ts';

export type { LiveJob };

/**
 * Events are taken in together every LIVE_BATCH_MS: every PC reports about once a second, and a
 * screen drawn again per event would fall behind with a room of 500 PCs (500 draws a second).
 */
const LIVE_BATCH_MS = 250;

export interface Live {
  /** Newest event per job id. */
  jobs: Map<string, LiveJob>;
  /** Bumped on every batch of events, so screens can refetch what an event made stale. */
  version: number;
  connected: boolean;
}

export const LiveContext = createContext<Live>({ jobs: new Map(), version: 0, connected: false });
export const useLive = () => useContext(LiveContext);

export function useLiveEvents(enabled: boolean): Live {
  const [live, setLive] = useState<Live>({ jobs: new Map(), version: 0, connected: false });
  useEffect(() => {
    if (!enabled) return undefined;
    let batch: LiveJobEvent[] = [];
    let due: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      due = undefined;
      const events = batch;
      batch = [];
      setLive((l) => ({ jobs: withLiveEvents(l.jobs, events), version: l.version + 1, connected: true }));
    };
    const stop = api.follow(
      (e) => {
        batch.push(e);
        due ??= setTimeout(flush, LIVE_BATCH_MS);
      },
      () => setLive((l) => ({ ...l, version: l.version + 1 })),
      // (Re)opened: what happened while the stream was down never comes, and a live event kept
      // from before (a job "running") would hide the stored state that a refetch reads. Starting
      // empty changes every screen's state key, so each reads the lists again; events of the old
      // stream not yet taken in go with it.
      () => {
        clearTimeout(due);
        due = undefined;
        batch = [];
        setLive((l) => ({ jobs: new Map(), version: l.version + 1, connected: true }));
      },
    );
    return () => {
      clearTimeout(due);
      stop();
    };
  }, [enabled]);
  return live;
}
