// The live job events of this tab: one EventSource for all screens; a screen reads the newest
// event of each job and re-renders when one arrives.
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';
import type { LiveJobEvent } from './types.ts';

export interface Live {
  /** Newest event per job id. */
  jobs: Map<string, LiveJobEvent>;
  /** Bumped on every event, so screens can refetch what an event made stale. */
  version: number;
  connected: boolean;
}

export const LiveContext = createContext<Live>({ jobs: new Map(), version: 0, connected: false });
export const useLive = () => useContext(LiveContext);

export function useLiveEvents(enabled: boolean): Live {
  const [live, setLive] = useState<Live>({ jobs: new Map(), version: 0, connected: false });
  useEffect(() => {
    if (!enabled) return undefined;
    return api.follow(
      (e) =>
        setLive((l) => {
          const jobs = new Map(l.jobs);
          // Log lines carry no percent: keep the last one, and the last progress message.
          const prev = l.jobs.get(e.jobId);
          jobs.set(e.jobId, { ...e, percent: e.percent ?? prev?.percent ?? null, message: e.kind === 'log' ? (prev?.message ?? '') : e.message });
          return { jobs, version: l.version + 1, connected: true };
        }),
      () => setLive((l) => ({ ...l, version: l.version + 1 })),
      () => setLive((l) => ({ ...l, connected: true })),
    );
  }, [enabled]);
  return live;
}
