// The embedded store: node:sqlite (no native addon to build). DatabaseSync is synchronous, so
// every operation runs under one async lock: a transaction's awaits cannot interleave with
// other callers' statements on the same connection. The queries are sql-store.ts's.
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { dirname } from 'node:path';
import { migrations as defaultMigrations, migrationSql, type Migration } from './migrations.ts';
import { makePrivateDir, touchPrivateFile } from './private-files.ts';
import type { Row, SqlBackend, SqlResult, SqlRunner, SqlValue } from './sql.ts';
import { SqlStore } from './sql-store.ts';
import { danglingGroupFixes, FIX_USER_GROUPS, USERS_AND_GROUPS } from './group-refs.ts';

class AsyncLock {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

class SqliteBackend implements SqlBackend {
  readonly dialect = 'sqlite';
  readonly db: DatabaseSync;
  private readonly lock = new AsyncLock();
  private readonly runner: SqlRunner;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.runner = { query: async (sql, params) => this.query(sql, params) };
  }

  /** Prepared statements by SQL text (the texts come from the code: a small, fixed set). */
  private readonly statements = new Map<string, { statement: StatementSync; returnsRows: boolean }>();

  private prepared(sql: string): { statement: StatementSync; returnsRows: boolean } {
    let entry = this.statements.get(sql);
    if (!entry) {
      if (this.statements.size >= 500) this.statements.clear(); // a bound, should texts ever vary
      const statement = this.db.prepare(sql);
      // A statement that returns rows (SELECT, or INSERT … RETURNING) is read with all(); run() otherwise.
      entry = { statement, returnsRows: statement.columns().length > 0 };
      this.statements.set(sql, entry);
    }
    return entry;
  }

  private query(sql: string, params: SqlValue[]): SqlResult {
    const { statement, returnsRows } = this.prepared(sql);
    const args = params as SQLInputValue[];
    if (returnsRows) {
      const rows = statement.all(...args) as Row[];
      return { rows, changes: rows.length };
    }
    return { rows: [], changes: Number(statement.run(...args).changes) };
  }

  read<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T> {
    return this.lock.run(() => fn(this.runner));
  }

  transaction<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      // IMMEDIATE: take the write lock now, so another process's writer cannot slip in between.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.runner);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  schemaVersion(): Promise<number> {
    return this.lock.run(() => SqliteStore.schemaVersion(this.db));
  }

  close(): Promise<void> {
    return this.lock.run(() => this.db.close());
  }
}

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  migrations?: Migration[];
}

export class SqliteStore extends SqlStore {
  private readonly db: DatabaseSync;

  private constructor(backend: SqliteBackend) {
    super(backend);
    this.db = backend.db;
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    if (options.path !== ':memory:') {
      // The store holds the server secret: owner-only, whatever the umask (see private-files.ts).
      makePrivateDir(dirname(options.path));
      touchPrivateFile(options.path);
    }
    const db = new DatabaseSync(options.path);
    db.exec('PRAGMA foreign_keys = ON');
    if (options.path !== ':memory:') {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
    }
    db.exec('PRAGMA busy_timeout = 5000');
    SqliteStore.migrate(db, options.migrations ?? defaultMigrations);
    SqliteStore.dropDanglingGroups(db);
    return new SqliteStore(new SqliteBackend(db));
  }

  /** Current schema version (0 = empty database). */
  static schemaVersion(db: DatabaseSync): number {
    return Number((db.prepare('PRAGMA user_version').get() as Row)['user_version']);
  }

  /** See group-refs.ts. Synchronous like the migrations: open() returns a ready store. */
  private static dropDanglingGroups(db: DatabaseSync): void {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").get()) return; // older schema (tests of migrations)
    const fixes = danglingGroupFixes(db.prepare(USERS_AND_GROUPS.users).all() as Row[], db.prepare(USERS_AND_GROUPS.groups).all() as Row[]);
    const update = db.prepare(FIX_USER_GROUPS);
    const ts = new Date().toISOString();
    for (const f of fixes) update.run(JSON.stringify(f.groups), ts, f.name);
  }

  private static migrate(db: DatabaseSync, list: Migration[]): void {
    const current = SqliteStore.schemaVersion(db);
    const latest = Math.max(0, ...list.map((m) => m.version));
    if (current > latest) {
      throw new Error(`store schema version ${current} is newer than this netimage (${latest}): upgrade netimage`);
    }
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (m.version <= current) continue;
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(migrationSql(m, 'sqlite'));
        db.exec(`PRAGMA user_version = ${m.version}`);
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw new Error(`store migration ${m.version} (${m.name}) failed: ${(error as Error).message}`, { cause: error });
      }
    }
  }

  get schemaVersion(): number {
    return SqliteStore.schemaVersion(this.db);
  }
}
