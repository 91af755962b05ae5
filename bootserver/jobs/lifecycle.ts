// The job lifecycle as pure logic. A job is one execution of a pending netboot action for one
// client; each boot whose agent started is an attempt. Unlike opsi, reading the config does not
// consume the action request: only a reported result (or giving up after maxAttempts boots
// without one) does, so a power loss mid-job retries instead of losing it.
// Config reads are unauthenticated (anyone can ask for any MAC's config), so a read only counts
// a new attempt when the current one had reached the agent (running): reads while the attempt is
// still booting re-serve it (same attempt, same token), and spoofed reads cannot exhaust a job.
//
//   (new) --bootConfigRead--> booting --agentStarted/progress--> running
//   booting --bootConfigRead--> booting (unchanged: the same attempt is served again)
//   running --bootConfigRead--> booting (attempt+1)  | exhausted (attempt == max)
//   booting|running --succeeded--> succeeded
//   booting|running --failed--> failed
//   booting|running --cancelled--> cancelled
//   succeeded|failed|exhausted|cancelled: terminal, every event is refused
import type { ActionRequest } from '../../lib/agent-protocol.ts';
import type { JobState, ProductOnClient } from '../store/types.ts';

export type JobEvent =
  | { type: 'bootConfigRead' }
  | { type: 'agentStarted' }
  | { type: 'progress'; percent?: number; message?: string }
  | { type: 'succeeded' }
  | { type: 'failed'; error: string }
  | { type: 'cancelled'; reason: string };

export interface JobSnapshot {
  state: JobState;
  attempt: number;
  maxAttempts: number;
}

export type TransitionResult =
  | { ok: true; next: JobSnapshot; newAttempt: boolean; terminal: boolean; error: string | null }
  | { ok: false; reason: string };

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'exhausted', 'cancelled'];
export const ACTIVE_STATES: readonly JobState[] = ['booting', 'running'];

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** The snapshot of a job created by the first config read of a pending action. */
export function startJob(maxAttempts: number): JobSnapshot {
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  return { state: 'booting', attempt: 1, maxAttempts };
}

/** What a config read does to an active job: serve the current attempt again, start the next, or give up. */
export function configReadEffect(job: JobSnapshot): 'reserve' | 'newAttempt' | 'exhausted' {
  // The agent never started: this is the same boot retrying, or someone else asking for this
  // MAC's config. Neither is evidence that an attempt died.
  if (job.state === 'booting') return 'reserve';
  return job.attempt >= job.maxAttempts ? 'exhausted' : 'newAttempt';
}

export function transition(job: JobSnapshot, event: JobEvent): TransitionResult {
  if (isTerminal(job.state)) {
    return { ok: false, reason: `job is ${job.state}: ${event.type} is not allowed any more` };
  }
  switch (event.type) {
    case 'bootConfigRead':
      if (configReadEffect(job) === 'reserve') return { ok: true, next: job, newAttempt: false, terminal: false, error: null };
      // The agent had started and the client booted again without a result: that attempt died.
      if (configReadEffect(job) === 'exhausted') {
        return {
          ok: true,
          next: { ...job, state: 'exhausted' },
          newAttempt: false,
          terminal: true,
          error: `no result after ${job.attempt} boot attempt${job.attempt === 1 ? '' : 's'}`,
        };
      }
      return { ok: true, next: { ...job, state: 'booting', attempt: job.attempt + 1 }, newAttempt: true, terminal: false, error: null };
    case 'agentStarted':
    case 'progress':
      return { ok: true, next: { ...job, state: 'running' }, newAttempt: false, terminal: false, error: null };
    case 'succeeded':
      return { ok: true, next: { ...job, state: 'succeeded' }, newAttempt: false, terminal: true, error: null };
    case 'failed':
      return { ok: true, next: { ...job, state: 'failed' }, newAttempt: false, terminal: true, error: event.error };
    case 'cancelled':
      return { ok: true, next: { ...job, state: 'cancelled' }, newAttempt: false, terminal: true, error: event.reason };
  }
}

/**
 * The product-on-client state after a job event, with opsi's vocabulary: success sets
 * installationStatus installed, actionResult successful, actionRequest none (except 'always'),
 * lastAction; failure sets actionResult failed, keeps the error in actionProgress.
 */
export function productStateAfter(
  poc: ProductOnClient,
  event: JobEvent,
  context: { attempt: number; actionRequest: ActionRequest; productVersion: string; now: string; error?: string | null; awaitsFirstBoot?: boolean },
): ProductOnClient {
  const base = { ...poc, modified: context.now };
  switch (event.type) {
    case 'bootConfigRead':
      if (context.error) return finishFailed(base, context, context.error);
      return { ...base, actionProgress: `boot configuration read (attempt ${context.attempt})` };
    case 'agentStarted':
      return { ...base, actionProgress: 'running' };
    case 'progress': {
      const pct = event.percent === undefined ? '' : `${Math.round(event.percent)}%`;
      const text = [pct, event.message ?? ''].filter((s) => s.length > 0).join(' ');
      return text ? { ...base, actionProgress: text } : base;
    }
    case 'succeeded':
      // An OS install's agent succeeds when the system is laid down: installed only once the
      // installed system reports its first boot (jobs/first-boot.ts). Nothing is pending, so the
      // PC's config boots the local disk meanwhile.
      if (context.awaitsFirstBoot) {
        return {
          ...base,
          installationStatus: 'unknown',
          actionResult: 'none',
          actionRequest: 'none',
          lastAction: context.actionRequest,
          actionProgress: 'laid down; waiting for the first boot report of the installed system',
        };
      }
      return {
        ...base,
        installationStatus: 'installed',
        actionResult: 'successful',
        actionRequest: context.actionRequest === 'always' ? 'always' : 'none',
        lastAction: context.actionRequest,
        actionProgress: '',
        productVersion: context.productVersion,
      };
    case 'failed':
      return finishFailed(base, context, event.error);
    case 'cancelled':
      return { ...base, actionProgress: `cancelled: ${event.reason}` };
  }
}

function finishFailed(poc: ProductOnClient, context: { actionRequest: ActionRequest }, error: string): ProductOnClient {
  return {
    ...poc,
    installationStatus: 'unknown',
    actionResult: 'failed',
    actionRequest: 'none',
    lastAction: context.actionRequest,
    actionProgress: `failed: ${error}`.slice(0, 1000),
  };
}

/** How long after the result the agent may still upload its full log (it does so right after). */
export const FINAL_LOG_GRACE_MS = 5 * 60 * 1000;

/** Which agent call a job token is used for (see agentTokenUse). */
export type AgentTokenUse = 'work' | 'result' | 'finalLog';

/**
 * May a job token be used for this call? Active jobs: everything. Finished jobs: only resending
 * the result (the agent's outbox resends until acknowledged; the service then accepts only the
 * same result) and one log upload shortly after a reported result (the agent posts its full log
 * right after the result is acknowledged: bootimage/agent/run-agent.ts).
 */
export function agentTokenUse(
  job: { state: JobState; finished: string | null },
  use: AgentTokenUse,
  context: { now: number; logStored: boolean },
): { ok: true } | { ok: false; reason: string } {
  if (!isTerminal(job.state) || use === 'result') return { ok: true };
  const spent = `the job is ${job.state}: its token no longer works`;
  if (use !== 'finalLog') return { ok: false, reason: spent };
  if (job.state !== 'succeeded' && job.state !== 'failed') return { ok: false, reason: spent };
  if (context.logStored) return { ok: false, reason: `${spent} (its final log is already uploaded)` };
  const finished = job.finished ? Date.parse(job.finished) : Number.NaN;
  if (!(context.now - finished <= FINAL_LOG_GRACE_MS)) return { ok: false, reason: `${spent} (the final log is accepted for ${FINAL_LOG_GRACE_MS / 60000} minutes after the result)` };
  return { ok: true };
}

/** Requests that make a netboot product produce a boot config (opsi: all but none). */
export function isPendingRequest(request: ActionRequest): boolean {
  return request !== 'none';
}
