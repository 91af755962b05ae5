// The store on PostgreSQL, for sites where several bootservers share one database (docs/multi-server.md).
// Same queries as SQLite (sql-store.ts), same migrations (migrations.ts, per-dialect where the
// SQL differs), same semantics: a transaction holds one database-wide advisory lock from its
// first statement to its commit, so transactions of all servers run one after another exactly as
// SQLite's BEGIN IMMEDIATE makes them run in one. That is what keeps two servers that read the same
// PC's boot config at the same moment from creating two job attempts.
import pg from 'pg';
import { migrations as defaultMigrations, migrationSql, type Migration } from './migrations.ts';
import { numberedPlaceholders, type Row, type SqlBackend, type SqlResult, type SqlRunner, type SqlValue } from './sql.ts';
import { SqlStore } from './sql-store.ts';
import { danglingGroupFixes, FIX_USER_GROUPS, USERS_AND_GROUPS } from './group-refs.ts';
import { StoreConflictError, StoreUnavailableError } from './types.ts';
import type { Logger } from '../../lib/logger.ts';
import { announceJobEvent, listenJobEvents, newOrigin, RecentEventIds, type AnnouncedJobEvent, type JobEventListener } from './pg-events.ts';

/** The advisory lock key of netimage's store transactions (any fixed number; "netimage" in ASCII, truncated). */
export const STORE_LOCK_KEY = 0x6e6574696d616765n & 0x7fffffffffffffffn;

const CONNECT_TIMEOUT_MS = 10_000;

/** Where the schema version is kept (SQLite keeps it in PRAGMA user_version). */
const VERSION_TABLE = 'netimage_schema_version';

interface Queryable {
  query(text: string, values: unknown[]): Promise<pg.QueryResult>;
}

async function run(on: Queryable, sql: string, params: SqlValue[]): Promise<SqlResult> {
  try {
    const r = await on.query(numberedPlaceholders(sql), params);
    return { rows: r.rows as Row[], changes: r.rowCount ?? 0 };
  } catch (error) {
    // The store checks uniqueness before it writes; this is the database's own word when a
    // writer outside a transaction raced it: the same kind of error as the store's check.
    if ((error as { code?: string }).code === '23505') throw new StoreConflictError(`already exists: ${(error as { detail?: string }).detail ?? (error as Error).message}`);
    throw unavailableOr(error);
  }
}

/**
 * A lost or refused connection (the server stopped or restarting, the link down) as the store's
 * "unavailable" error: HTTP 503, which the agent retries and after which Grub boots the local disk.
 * Socket errors, PostgreSQL's class 08 (connection exception) and 57P01-57P03 (shutdown, cannot
 * connect now), and node-postgres's own words for a connection that ended or timed out.
 */
function unavailableOr(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  const message = (error as Error | undefined)?.message ?? String(error);
  const lost =
    (typeof code === 'string' && (/^(08|57P0[123])/.test(code) || /^E(CONNREFUSED|CONNRESET|NOENT|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
  return lost ? new StoreUnavailableError(`the store (PostgreSQL) cannot be reached: ${message}; try again`, { cause: error }) : error;
}

export class PostgresBackend implements SqlBackend {
  readonly dialect = 'postgres';
  readonly pool: pg.Pool;
  /** This server's mark on its job event announcements (its own listener skips them). */
  readonly origin = newOrigin();
  /** The ids of the job events this server stored lately (its listener skips them: its bus had them). */
  readonly own = new RecentEventIds();

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  announceJobEvent(db: SqlRunner, eventId: number): Promise<void> {
    this.own.add(eventId);
    return announceJobEvent(db, this.origin, eventId);
  }

  read<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T> {
    return fn({ query: (sql, params) => run(this.pool, sql, params) });
  }

  async transaction<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw unavailableOr(error);
    });
    let broken: Error | undefined;
    // While checked out the pool's own listener is off: a connection the server cuts between two
    // statements (restart, failover) would emit an unhandled 'error' and end the process. Record it
    // instead; the next statement fails with its own error and the pool drops the connection.
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      // READ COMMITTED (the default): every statement after the lock sees what the previous
      // holder committed. A snapshot isolation level would take its snapshot before the wait.
      // One round trip for both (a constant key: no parameters, so the simple protocol takes two statements).
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${STORE_LOCK_KEY})`).catch((error: unknown) => {
        throw unavailableOr(error);
      });
      const result = await fn({ query: (sql, params) => run(client, sql, params) });
      await client.query('COMMIT').catch((error: unknown) => {
        throw unavailableOr(error);
      });
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError; // the connection is unusable: the pool drops it
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  schemaVersion(): Promise<number> {
    return readVersion({ query: (sql, params) => run(this.pool, sql, params) });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database, or …@/database?host=/socket/dir for a unix socket. */
  url: string;
  migrations?: Migration[];
  /** Connections per server (default 10). */
  maxConnections?: number;
}

export class PostgresStore extends SqlStore {
  readonly #url: string;
  readonly #backend: PostgresBackend;

  private constructor(backend: PostgresBackend, url: string) {
    super(backend);
    this.#url = url;
    this.#backend = backend;
  }

  override listenJobEvents(log: Logger, onEvent: (e: AnnouncedJobEvent) => void): Promise<JobEventListener> {
    return listenJobEvents({ url: this.#url, origin: this.#backend.origin, own: this.#backend.own, log, onEvent });
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    // A link that drops silently (no reset) must not hold a request for TCP's minutes: a new
    // connection gives up after 10 s, open ones probe with keep-alives.
    const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true });
    // An idle connection the server closed (restart, network) must not crash the process: the
    // pool drops it and the next query opens a new one or fails with its own error.
    pool.on('error', () => undefined);
    const backend = new PostgresBackend(pool);
    try {
      await checkCollation(pool);
      await backend.transaction(async (db) => {
        await migrate(db, options.migrations ?? defaultMigrations);
        await dropDanglingGroups(db);
      });
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(backend, options.url);
  }
}

/**
 * Text must sort and compare byte by byte as in SQLite (listings by id, name), so the database's
 * collation must be C (libc's C or C.UTF-8, or the builtin provider). Any other is refused, with the fix.
 */
async function checkCollation(pool: pg.Pool): Promise<void> {
  const r = await pool.query<{ datname: string; datcollate: string; provider: string }>(
    'SELECT datname, datcollate, datlocprovider::text AS provider FROM pg_database WHERE datname = current_database()',
  );
  const row = r.rows[0];
  if (!row) return;
  const byteOrder = row.provider === 'b' || (row.provider === 'c' && /^(C|POSIX)(\.utf-?8)?$/i.test(row.datcollate));
  if (!byteOrder) {
    const collation = row.provider === 'i' ? `an ICU collation` : `collation ${row.datcollate}`;
    throw new Error(
      `PostgreSQL database ${row.datname} has ${collation}; netimage needs C (text sorted byte by byte, as in SQLite): ` +
        `create it with CREATE DATABASE ${row.datname} TEMPLATE template0 LOCALE 'C' ENCODING 'UTF8'`,
    );
  }
}

async function readVersion(db: SqlRunner): Promise<number> {
  const exists = await db.query('SELECT to_regclass(?) AS t', [VERSION_TABLE]);
  if (exists.rows[0]?.['t'] === null) return 0;
  return Number((await db.query(`SELECT version FROM ${VERSION_TABLE}`, [])).rows[0]?.['version'] ?? 0);
}

/** See group-refs.ts; in the migration's transaction (a server removing a room waits for it). */
async function dropDanglingGroups(db: SqlRunner): Promise<void> {
  if ((await db.query("SELECT to_regclass('users') AS t", [])).rows[0]?.['t'] === null) return; // older schema (tests of migrations)
  const fixes = danglingGroupFixes((await db.query(USERS_AND_GROUPS.users, [])).rows, (await db.query(USERS_AND_GROUPS.groups, [])).rows);
  const ts = new Date().toISOString();
  for (const f of fixes) await db.query(FIX_USER_GROUPS, [JSON.stringify(f.groups), ts, f.name]);
}

/** Runs inside one transaction (holding the store lock): two servers starting at once migrate once. */
async function migrate(db: SqlRunner, list: Migration[]): Promise<void> {
  const current = await readVersion(db);
  const latest = Math.max(0, ...list.map((m) => m.version));
  if (current > latest) throw new Error(`store schema version ${current} is newer than this netimage (${latest}): upgrade netimage`);
  if (current === 0) {
    await db.query(`CREATE TABLE ${VERSION_TABLE} (version INTEGER NOT NULL)`, []);
    await db.query(`INSERT INTO ${VERSION_TABLE}(version) VALUES (0)`, []);
  }
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    try {
      // Several statements in one text: only the simple query protocol (no parameters) takes them.
      await db.query(migrationSql(m, 'postgres'), []);
      await db.query(`UPDATE ${VERSION_TABLE} SET version = ?`, [m.version]);
    } catch (error) {
      throw new Error(`store migration ${m.version} (${m.name}) failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
