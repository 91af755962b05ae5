// `--follow` across a server restart. The live stream (GET /api/v1/events) ends when the server
// stops; a restart (an upgrade, `systemctl restart`) takes seconds while a room restore runs for
// many minutes, so a follower tries again for a while instead of giving up at once. The stream
// replays nothing for a room or all jobs (a job filter replays that job's history): what happened
// meanwhile is the command's to catch up on, from the lists, once the stream is back.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, ConnectionLost, type AdminClient } from './api-client.ts';
import { UsageError } from './command.ts';

export const FOLLOW_RECONNECT_ENV = 'NETIMAGE_FOLLOW_RECONNECT_SECONDS';
const FOLLOW_RECONNECT_DEFAULT_SECONDS = 120;
/** Between two attempts: a restarted server answers within a second of listening. */
const RETRY_MS = 1_000;

/** How long a follower tries to get the stream back ($NETIMAGE_FOLLOW_RECONNECT_SECONDS; 0: not at all). */
export function followReconnectMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[FOLLOW_RECONNECT_ENV];
  if (raw === undefined || raw.trim() === '') return FOLLOW_RECONNECT_DEFAULT_SECONDS * 1000;
  const seconds = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || seconds > 86_400) throw new UsageError(`${FOLLOW_RECONNECT_ENV} takes a whole number of seconds from 0 to 86400, got "${raw}"`);
  return seconds * 1000;
}

function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  return s % 60 === 0 && s >= 60 ? `${s / 60} min` : `${s} s`;
}

export interface Follower {
  onEvent(data: unknown): 'stop' | void;
  /** The stream is open the first time: the server has subscribed, nothing from here on is missed. */
  onOpen(): void;
  /** The stream ended or the server went away; `line` says so and that the follower tries again. */
  onLost(line: string): void;
  /** Open again: catch up on what happened meanwhile ('stop' when that was the end). */
  onBack(line: string): 'stop' | void | Promise<'stop' | void>;
}

/**
 * Follow `GET /api/v1/events?<query>` until the follower stops. A lost stream is tried again every
 * second for `reconnectMs`; then, or when the server refuses (a reset token: 401), the error ends
 * the command. Before the first open nothing is retried: a wrong --url is said at once.
 */
export async function followEvents(api: AdminClient, query: string, follower: Follower, reconnectMs: number): Promise<void> {
  let opened = false;
  let lostSince: number | null = null;
  for (;;) {
    try {
      await api.streamEvents(query, follower.onEvent, undefined, () => {
        if (!opened) {
          opened = true;
          return follower.onOpen();
        }
        lostSince = null;
        return follower.onBack(`netimage: the live stream from ${api.url} is back`);
      });
      return;
    } catch (error) {
      if (!opened || !(error instanceof ConnectionLost) || reconnectMs === 0) throw error;
      const now = Date.now();
      if (lostSince === null) {
        lostSince = now;
        const why = error.why ? ` (${error.why})` : '';
        follower.onLost(`netimage: the netimage server at ${api.url} ended the live stream${why}: stopped or restarting? Trying again for up to ${formatWait(reconnectMs)} (the jobs go on; Ctrl-C to stop)`);
      } else if (now - lostSince >= reconnectMs) {
        throw new ApiError(0, `the netimage server at ${api.url} ended the live stream and did not answer again within ${formatWait(reconnectMs)}: the jobs go on; netimage jobs shows where they are`);
      }
      await sleep(Math.min(RETRY_MS, Math.max(0, lostSince + reconnectMs - now)));
    }
  }
}
