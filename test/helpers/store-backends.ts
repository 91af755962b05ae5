// The store's two backends as test subjects: each test gets a fresh database and can open a second
// store on it (another server) and read the raw tables. SQLite: a file in a temp dir; PostgreSQL:
// a database in the test file's throwaway cluster (pg-cluster.ts).
import type { ExecutionContext } from 'ava';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { join } from 'node:path';
import pg from 'pg';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { PostgresStore } from '../../bootserver/store/postgres.ts';
import { numberedPlaceholders, type Row, type SqlValue } from '../../bootserver/store/sql.ts';
import type { SqlStore } from '../../bootserver/store/sql-store.ts';
import type { PgCluster } from './pg-cluster.ts';
import { tempDir } from './tempdir.ts';

export interface StoreDb {
  /** The first store on the database (closed at the end of the test). */
  store: SqlStore;
  /**
   * The store a second server uses: for PostgreSQL its own store on the same database (closed at
   * the end). An SQLite file has one server, so there it is the same store: concurrent requests
   * of that one server. (Two node:sqlite connections in one process cannot race: a busy wait
   * blocks the event loop that the holder needs to commit.)
   */
  another(): Promise<SqlStore>;
  /** Rows of a raw query (`?` placeholders) on the database, outside the store. */
  raw(sql: string, ...params: SqlValue[]): Promise<Row[]>;
}

export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  open(t: ExecutionContext): Promise<StoreDb>;
}

export const sqliteBackend: StoreBackend = {
  name: 'sqlite',
  async open(t) {
    const path = join(await tempDir(t, 'store'), 'db.sqlite');
    const store = SqliteStore.open({ path });
    t.teardown(() => store.close().catch(() => undefined));
    return {
      store,
      another: async () => store,
      async raw(sql, ...params) {
        const db = new DatabaseSync(path);
        try {
          return db.prepare(sql).all(...(params as SQLInputValue[])) as Row[];
        } finally {
          db.close();
        }
      },
    };
  },
};

export function postgresBackend(cluster: () => PgCluster): StoreBackend {
  return {
    name: 'postgres',
    async open(t) {
      const url = await cluster().migratedDatabase();
      const opened: PostgresStore[] = [];
      const openOne = async () => {
        const s = await PostgresStore.open({ url });
        opened.push(s);
        return s;
      };
      t.teardown(() => Promise.all(opened.map((s) => s.close().catch(() => undefined))));
      return {
        store: await openOne(),
        another: openOne,
        async raw(sql, ...params) {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            return (await client.query(numberedPlaceholders(sql), params)).rows as Row[];
          } finally {
            await client.end();
          }
        },
      };
    },
  };
}
