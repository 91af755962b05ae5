// What a room grid needs from the API, refetched when a live event changes a job's state (the
// percent in between comes from the events themselves, see model.ts tileOf) and every 10 s.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, seg } from '../api.ts';
import { useLive } from '../live.ts';
import type { ClientView, Group, Job, ProductDefinition, ProductStateView } from '../types.ts';

const REFRESH_MS = 10_000;
/** A tile shows a PC's running job and its last finished one. */
const JOBS_PER_PC = 3;

export interface RoomData {
  groups: Group[];
  clients: ClientView[];
  jobs: Job[];
  states: ProductStateView[];
  products: ProductDefinition[];
}

export function useRoomData(group: string | null): { data: RoomData | null; error: string | null; reload: () => void } {
  const live = useLive();
  const [data, setData] = useState<RoomData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  // Changes only when some job changes state, not on every percent.
  const stateKey = useMemo(() => [...live.jobs.values()].map((e) => `${e.jobId}:${e.state}`).join(','), [live.version]);
  // What changes without a job event (an action set by another admin, the CLI or a schedule, a
  // PC added) shows within REFRESH_MS while the tab is visible.
  useEffect(() => {
    const timer = setInterval(() => {
      if (!document.hidden) setTick((t) => t + 1);
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(async () => {
      try {
        const q = group ? `?group=${seg(group)}` : '';
        const [groups, clients, jobs, states, products] = await Promise.all([
          api.call<Group[]>('GET', '/api/v1/groups'),
          api.call<ClientView[]>('GET', `/api/v1/clients${q}`),
          // Each PC's newest jobs, however busy the others were (a PC idle for weeks keeps its last result).
          api.call<Job[]>('GET', `/api/v1/jobs?per_client=${JOBS_PER_PC}&limit=5000${group ? `&group=${seg(group)}` : ''}`),
          api.call<ProductStateView[]>('GET', `/api/v1/product-states${q}`),
          api.call<ProductDefinition[]>('GET', '/api/v1/products'),
        ]);
        if (!cancelled) {
          setData({ groups, clients, jobs, states, products });
          setError(null);
        }
      } catch (e) {
        if (!cancelled) setError((e as Error).message);
      }
    }, 150);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [group, stateKey, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
