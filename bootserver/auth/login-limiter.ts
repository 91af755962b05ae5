// Failed logins, counted per user name and per source address in a sliding window: past the limit,
// further attempts are refused (429 with Retry-After) before the password is even checked, so
// guessing costs the attacker the window, not us a KDF run. In memory: a restart forgets the
// counts, which costs a guesser nothing it could not get by waiting one window.
export interface LoginLimits {
  /** Failures per user name within the window. */
  perUser: number;
  /** Failures per source address within the window (one address may try several names). */
  perSource: number;
  windowSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perUser: 5, perSource: 20, windowSeconds: 15 * 60 };

/** Bounds memory under a spray of names or addresses: the oldest keys are forgotten first. */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #limits: LoginLimits;
  readonly #now: () => number;

  constructor(limits: LoginLimits = DEFAULT_LOGIN_LIMITS, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Seconds to wait before this user/address may try again, or 0. */
  retryAfter(user: string, source: string): number {
    return Math.max(this.#wait(`u:${user.toLowerCase()}`, this.#limits.perUser), this.#wait(`s:${source}`, this.#limits.perSource));
  }

  fail(user: string, source: string): void {
    for (const key of [`u:${user.toLowerCase()}`, `s:${source}`]) {
      const list = this.#recent(key);
      list.push(this.#now());
      this.#failures.delete(key); // re-insert: Map order = least recently failed first
      this.#failures.set(key, list);
    }
    while (this.#failures.size > MAX_KEYS) this.#failures.delete(this.#failures.keys().next().value!);
  }

  /** A good login clears its user name's count (not the address's: one good account must not unlock guessing others). */
  succeed(user: string): void {
    this.#failures.delete(`u:${user.toLowerCase()}`);
  }

  #recent(key: string): number[] {
    const from = this.#now() - this.#limits.windowSeconds * 1000;
    return (this.#failures.get(key) ?? []).filter((t) => t > from);
  }

  #wait(key: string, limit: number): number {
    const list = this.#recent(key);
    if (list.length < limit) return 0;
    // Free again when the oldest failure that keeps it at the limit leaves the window.
    const oldest = list[list.length - limit]!;
    return Math.max(1, Math.ceil((oldest + this.#limits.windowSeconds * 1000 - this.#now()) / 1000));
  }
}
