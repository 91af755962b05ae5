// The live job events of this tab: one EventSource for all screens; a screen reads the newest
// event of each job and re-renders when one arrives.
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';
import type { LiveJobEvent } from './types.ts';
import { SEEDING_LOG_PREFIX } from '../../lib/golden.ts';

/**
 * A job's newest event, and its latest room seeding line (how much came by multicast, by HTTP,
 * multicast blocked…): the agent sends those as log lines, which `netimage jobs --follow --group`
 * prints as they come; a PC's tile shows the latest.
 */
export type LiveJob = LiveJobEvent & { seeding: string | null };

export interface Live {
  /** Newest event per job id. */
  jobs: Map<string, LiveJob>;
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
          const seeding = e.kind === 'log' && e.message.startsWith(SEEDING_LOG_PREFIX) ? e.message : (prev?.seeding ?? null);
          jobs.set(e.jobId, { ...e, percent: e.percent ?? prev?.percent ?? null, message: e.kind === 'log' ? (prev?.message ?? '') : e.message, seeding });
          return { jobs, version: l.version + 1, connected: true };
        }),
      () => setLive((l) => ({ ...l, version: l.version + 1 })),
      // (Re)opened: what happened while the stream was down never comes, and a live event kept
      // from before (a job "running") would hide the stored state that a refetch reads. Starting
      // empty changes every screen's state key, so each reads the lists again.
      () => setLive((l) => ({ jobs: new Map(), version: l.version + 1, connected: true })),
    );
  }, [enabled]);
  return live;
}
