// Retry with exponential backoff and jitter (pure delay computation + a small loop around it).

export interface RetryPolicy {
  /** First delay in ms. */
  initialMs: number;
  /** Cap on any one delay. */
  maxMs: number;
  factor: number;
  /** 0..1: the delay is drawn from [d*(1-jitter), d]. Spreads a classroom of clients apart. */
  jitter: number;
  /** Give up after this many attempts (Infinity: never). */
  maxAttempts: number;
}

export const DEFAULT_POLICY: RetryPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5, maxAttempts: 8 };

/** Delay before retry number `attempt` (1 = after the first failure). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 - policy.jitter * random()));
}

export class GiveUpError extends Error {
  override name = 'GiveUpError';
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait with the failure and the delay chosen. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Errors for which retrying is pointless (e.g. HTTP 4xx). */
  isFatal?: (error: unknown) => boolean;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  const doSleep = hooks.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (hooks.signal?.aborted) throw error;
      if (hooks.isFatal?.(error) || attempt >= policy.maxAttempts) throw error;
      const delay = backoffDelay(attempt, policy, hooks.random);
      hooks.onRetry?.(error, attempt, delay);
      await doSleep(delay, hooks.signal);
    }
  }
}
