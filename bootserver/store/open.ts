// The store a server or CLI command uses: PostgreSQL when `store.url` is set, else the embedded
// SQLite file in the data dir.
import { join } from 'node:path';
import { SqliteStore } from './sqlite.ts';
import type { SqlStore } from './sql-store.ts';

export interface StoreLocation {
  dataDir: string;
  store: { url: string | null };
}

/** The SQLite file of a data dir. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'netimage.sqlite');
}

export async function openConfiguredStore(config: StoreLocation): Promise<SqlStore> {
  if (config.store.url) {
    // Loaded only when used: a server on SQLite does not load the PostgreSQL client.
    const { PostgresStore } = await import('./postgres.ts');
    return PostgresStore.open({ url: config.store.url });
  }
  return SqliteStore.open({ path: sqlitePath(config.dataDir) });
}

/** Where the store is, for messages: never the URL's password. */
export function describeStore(config: StoreLocation): string {
  if (!config.store.url) return sqlitePath(config.dataDir);
  // Not new URL(): a unix-socket URL (postgres://user@/db?host=/run/postgresql) has no host.
  return config.store.url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
