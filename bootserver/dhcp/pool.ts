// Address pool for full DHCP mode: which address a client gets, kept in memory for speed and
// written through to a LeaseStore so leases survive restarts. No sockets here.
import { ipToNumber, numberToIp } from './codec.ts';
import type { Lease, LeaseStore } from './leases.ts';

export interface PoolSettings {
  rangeStart: string;
  rangeEnd: string;
  leaseSeconds: number;
  /** How long an OFFERed address stays reserved for its client before it may go to another. */
  offerSeconds?: number;
  /** How long an address reported in use by DHCPDECLINE is kept out of the pool (RFC 2131 3.1.5). */
  declineSeconds?: number;
}

interface Offer {
  clientKey: string;
  expiresAt: number;
}

export type GrantCheck = { ok: true } | { ok: false; why: string };

export class AddressPool {
  readonly #start: number;
  readonly #end: number;
  readonly #leaseMs: number;
  readonly #offerMs: number;
  readonly #declineMs: number;
  readonly #store: LeaseStore;
  readonly #now: () => number;
  readonly #byIp = new Map<number, Lease>();
  readonly #byClient = new Map<string, number>();
  readonly #offers = new Map<number, Offer>();
  /** Next address to try: rotating through the range hands out never-used addresses first. */
  #cursor: number;

  constructor(settings: PoolSettings, store: LeaseStore, now: () => number = Date.now) {
    const start = ipToNumber(settings.rangeStart);
    const end = ipToNumber(settings.rangeEnd);
    if (start === undefined || end === undefined || start > end) {
      throw new RangeError(`bad address range ${settings.rangeStart} - ${settings.rangeEnd}`);
    }
    this.#start = start;
    this.#end = end;
    this.#cursor = start;
    this.#leaseMs = settings.leaseSeconds * 1000;
    this.#offerMs = (settings.offerSeconds ?? 30) * 1000;
    this.#declineMs = (settings.declineSeconds ?? 600) * 1000;
    this.#store = store;
    this.#now = now;
    for (const lease of store.all()) this.#index(lease);
  }

  get leaseSeconds(): number {
    return this.#leaseMs / 1000;
  }

  inRange(ip: string): boolean {
    const n = ipToNumber(ip);
    return n !== undefined && n >= this.#start && n <= this.#end;
  }

  /** The client's current lease (bound, possibly expired: an expired address is still its best guess). */
  leaseOf(clientKey: string): Lease | undefined {
    const ip = this.#byClient.get(clientKey);
    const lease = ip === undefined ? undefined : this.#byIp.get(ip);
    return lease && lease.state === 'bound' && lease.clientKey === clientKey ? lease : undefined;
  }

  /** Whether `ip` may be given to `clientKey` now. */
  check(clientKey: string, ip: string): GrantCheck {
    const n = ipToNumber(ip);
    if (n === undefined || n < this.#start || n > this.#end) return { ok: false, why: `${ip} is outside the pool` };
    const now = this.#now();
    const lease = this.#byIp.get(n);
    if (lease && lease.clientKey !== clientKey && lease.expiresAt > now) {
      return { ok: false, why: lease.state === 'declined' ? `${ip} was declined (in use on the wire)` : `${ip} is leased to ${lease.mac}` };
    }
    const offer = this.#offers.get(n);
    if (offer && offer.clientKey !== clientKey && offer.expiresAt > now) return { ok: false, why: `${ip} is offered to another client` };
    return { ok: true };
  }

  /** Choose an address for a DISCOVER and reserve it briefly. Undefined when the pool is exhausted. */
  offer(clientKey: string, requested: string | undefined): string | undefined {
    const current = this.leaseOf(clientKey);
    let ip: number | undefined;
    if (current && this.check(clientKey, current.ip).ok) ip = ipToNumber(current.ip);
    else if (requested && this.check(clientKey, requested).ok) ip = ipToNumber(requested);
    else ip = this.#findFree(clientKey);
    if (ip === undefined) return undefined;
    this.#offers.set(ip, { clientKey, expiresAt: this.#now() + this.#offerMs });
    return numberToIp(ip);
  }

  /** Forget a reservation, e.g. when the client chose another server's offer. */
  dropOffer(clientKey: string): void {
    for (const [ip, offer] of this.#offers) if (offer.clientKey === clientKey) this.#offers.delete(ip);
  }

  /** Bind `ip` to the client (after check() said ok) and persist it. */
  bind(clientKey: string, mac: string, hostname: string | null, ip: string): Lease {
    const n = ipToNumber(ip)!;
    const previous = this.leaseOf(clientKey);
    if (previous && previous.ip !== ip) this.#forget(ipToNumber(previous.ip)!, true);
    const lease: Lease = { ip, clientKey, mac, hostname, state: 'bound', expiresAt: this.#now() + this.#leaseMs };
    this.#offers.delete(n);
    this.#index(lease);
    this.#store.put(lease);
    return lease;
  }

  /** DHCPDECLINE: the client found `ip` in use; keep it out of the pool for a while. */
  decline(clientKey: string, mac: string, ip: string): boolean {
    const n = ipToNumber(ip);
    if (n === undefined || !this.inRange(ip)) return false;
    const lease = this.#byIp.get(n);
    if (lease && lease.state === 'bound' && lease.clientKey !== clientKey && lease.expiresAt > this.#now()) return false;
    this.#offers.delete(n);
    if (this.#byClient.get(clientKey) === n) this.#byClient.delete(clientKey);
    const declined: Lease = { ip, clientKey: '', mac, hostname: null, state: 'declined', expiresAt: this.#now() + this.#declineMs };
    this.#byIp.set(n, declined);
    this.#store.put(declined);
    return true;
  }

  /** DHCPRELEASE: only the holder can release. */
  release(clientKey: string, ip: string): boolean {
    const n = ipToNumber(ip);
    const lease = n === undefined ? undefined : this.#byIp.get(n);
    if (!lease || lease.state !== 'bound' || lease.clientKey !== clientKey) return false;
    this.#forget(n!, true);
    return true;
  }

  #index(lease: Lease): void {
    const n = ipToNumber(lease.ip);
    if (n === undefined) return;
    this.#byIp.set(n, lease);
    if (lease.state === 'bound') this.#byClient.set(lease.clientKey, n);
  }

  #forget(n: number, persist: boolean): void {
    const lease = this.#byIp.get(n);
    if (!lease) return;
    this.#byIp.delete(n);
    if (this.#byClient.get(lease.clientKey) === n) this.#byClient.delete(lease.clientKey);
    if (persist) this.#store.remove(lease.ip);
  }

  #findFree(clientKey: string): number | undefined {
    const size = this.#end - this.#start + 1;
    const now = this.#now();
    for (let i = 0; i < size; i++) {
      const n = this.#cursor;
      this.#cursor = n >= this.#end ? this.#start : n + 1;
      const lease = this.#byIp.get(n);
      if (lease && lease.expiresAt > now && lease.clientKey !== clientKey) continue;
      const offer = this.#offers.get(n);
      if (offer && offer.expiresAt > now && offer.clientKey !== clientKey) continue;
      // An expired lease of another client is reclaimed here: drop its row so the index stays exact.
      if (lease && lease.clientKey !== clientKey) this.#forget(n, true);
      return n;
    }
    return undefined;
  }
}
