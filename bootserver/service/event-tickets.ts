// Short-lived tickets for the job event stream. Browsers' EventSource cannot send an
// Authorization header, and a long-lived admin token in a URL ends up in histories and proxy
// logs; a ticket can only read job events, and only for a minute. Only its hash is kept, in memory
// (a restart ends every ticket, which costs the browser one new POST).
import { randomBytes } from 'node:crypto';
import { sha256Hex } from './tokens.ts';

export const EVENT_TICKET_SECONDS = 60;

export interface EventTicket {
  ticket: string;
  expiresAt: string;
}

export class EventTickets {
  readonly #expiry = new Map<string, number>();
  readonly #now: () => number;
  readonly #ttlMs: number;

  constructor(options: { now?: () => number; ttlSeconds?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#ttlMs = (options.ttlSeconds ?? EVENT_TICKET_SECONDS) * 1000;
  }

  issue(): EventTicket {
    this.#forgetExpired();
    const ticket = 'nt_' + randomBytes(24).toString('base64url');
    const expires = this.#now() + this.#ttlMs;
    this.#expiry.set(sha256Hex(ticket), expires);
    return { ticket, expiresAt: new Date(expires).toISOString() };
  }

  /** True while the ticket is unexpired. It may open several streams until then (EventSource reconnects reuse its URL). */
  valid(ticket: string): boolean {
    this.#forgetExpired();
    return this.#expiry.has(sha256Hex(ticket));
  }

  #forgetExpired(): void {
    const now = this.#now();
    for (const [hash, expires] of this.#expiry) if (expires <= now) this.#expiry.delete(hash);
  }
}
