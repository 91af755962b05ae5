// What the SQL store needs from a database: run one statement (`?` placeholders), read outside a
// transaction, and run a transaction that is serialised with every other one on the database.
// SQLite (sqlite.ts) and PostgreSQL (postgres.ts) each provide one; sql-store.ts holds the logic.

export type SqlValue = string | number | bigint | null | Uint8Array;
export type Row = Record<string, SqlValue>;

export interface SqlResult {
  rows: Row[];
  /** Rows changed by an INSERT, UPDATE or DELETE. */
  changes: number;
}

export interface SqlRunner {
  query(sql: string, params: SqlValue[]): Promise<SqlResult>;
}

export type Dialect = 'sqlite' | 'postgres';

export interface SqlBackend {
  readonly dialect: Dialect;
  /** Statements that only read, outside any transaction (no lock across servers). */
  read<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * All of fn's writes or none, and no other transaction on the same database (from this process
   * or another server) runs between its first statement and its commit.
   */
  transaction<T>(fn: (db: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * Tell the other servers on the same database that a job event was stored (inside the
   * transaction that stored it). Absent where one server is all there is (SQLite).
   */
  announceJobEvent?(db: SqlRunner, eventId: number): Promise<void>;
  /** The migration the database is at (0 = empty). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

/** `WHERE a = ? AND b IN (?, ?)` from the filters that are set; the rest are left out. */
export function whereClause(conditions: [column: string, value: SqlValue | SqlValue[] | undefined][], extra: string[] = []): { sql: string; params: SqlValue[] } {
  const parts: string[] = [...extra];
  const params: SqlValue[] = [];
  for (const [column, value] of conditions) {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (Array.isArray(value)) {
      parts.push(`${column} IN (${value.map(() => '?').join(', ')})`);
      params.push(...value);
    } else {
      parts.push(`${column} = ?`);
      params.push(value);
    }
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** `?` placeholders to PostgreSQL's `$1, $2, …`, leaving quoted strings and identifiers alone. */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  let out = '';
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}
