// Lease persistence for full DHCP mode: one small interface, a SQLite implementation over the
// app's store (node:sqlite), and an in-memory one for unit tests of the allocation logic.
import type { DatabaseSync, StatementSync } from 'node:sqlite';

export type LeaseState = 'bound' | 'declined';

export interface Lease {
  ip: string;
  /** Option 61 hex when the client sent one, else `mac:<mac>`: RFC 2131 4.2 client identity. */
  clientKey: string;
  mac: string;
  hostname: string | null;
  /** `declined`: a client reported the address in use (DHCPDECLINE); not handed out until expiry. */
  state: LeaseState;
  /** Unix milliseconds. */
  expiresAt: number;
}

export interface LeaseStore {
  /** Every stored row, including expired ones (the pool decides what expiry means). */
  all(): Lease[];
  /** Insert or replace the row for `lease.ip`. */
  put(lease: Lease): void;
  remove(ip: string): void;
}

/** Table for the store's migrations; the lead engineer includes it, tests exec it on :memory:. */
export const DHCP_LEASES_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS dhcp_leases (
  ip TEXT PRIMARY KEY NOT NULL,
  client_key TEXT NOT NULL,
  mac TEXT NOT NULL,
  hostname TEXT,
  state TEXT NOT NULL CHECK (state IN ('bound', 'declined')),
  expires_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dhcp_leases_client_key ON dhcp_leases (client_key);
`;

interface LeaseRow {
  ip: string;
  client_key: string;
  mac: string;
  hostname: string | null;
  state: string;
  expires_at: number;
}

export class SqliteLeaseStore implements LeaseStore {
  readonly #selectAll: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;

  /** Expects DHCP_LEASES_SCHEMA_SQL to have been applied (by the store's migrations). */
  constructor(db: DatabaseSync) {
    this.#selectAll = db.prepare('SELECT ip, client_key, mac, hostname, state, expires_at FROM dhcp_leases');
    this.#upsert = db.prepare(
      `INSERT INTO dhcp_leases (ip, client_key, mac, hostname, state, expires_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ip) DO UPDATE SET client_key = excluded.client_key, mac = excluded.mac,
         hostname = excluded.hostname, state = excluded.state, expires_at = excluded.expires_at,
         updated_at = excluded.updated_at`,
    );
    this.#delete = db.prepare('DELETE FROM dhcp_leases WHERE ip = ?');
  }

  all(): Lease[] {
    return (this.#selectAll.all() as unknown as LeaseRow[]).map((r) => ({
      ip: r.ip,
      clientKey: r.client_key,
      mac: r.mac,
      hostname: r.hostname,
      state: r.state === 'declined' ? 'declined' : 'bound',
      expiresAt: Number(r.expires_at),
    }));
  }

  put(lease: Lease): void {
    this.#upsert.run(lease.ip, lease.clientKey, lease.mac, lease.hostname, lease.state, lease.expiresAt, Date.now());
  }

  remove(ip: string): void {
    this.#delete.run(ip);
  }
}

/** Keeps leases in a Map: for tests and for running without a store. */
export class MemoryLeaseStore implements LeaseStore {
  readonly #rows = new Map<string, Lease>();
  all(): Lease[] {
    return [...this.#rows.values()].map((l) => ({ ...l }));
  }
  put(lease: Lease): void {
    this.#rows.set(lease.ip, { ...lease });
  }
  remove(ip: string): void {
    this.#rows.delete(ip);
  }
}
