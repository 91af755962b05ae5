// `netimage store migrate --to postgres://…`: copy an SQLite store into PostgreSQL, table by table,
// in one PostgreSQL transaction, then check every table: row count and a content hash computed
// the same way on both sides. The table list is read from the SQLite file (so tables added by later
// migrations are copied too); each must exist in the target, which PostgresStore.open migrates first.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import pg from 'pg';
import { SqliteStore } from './sqlite.ts';
import { PostgresStore, STORE_LOCK_KEY } from './postgres.ts';
import type { SqlValue } from './sql.ts';
import { NetimageError } from '../../lib/errors.ts';

export interface TableCheck {
  table: string;
  sourceRows: number;
  targetRows: number;
  sourceHash: string;
  targetHash: string;
  ok: boolean;
}

export interface CopyOptions {
  sqlitePath: string;
  targetUrl: string;
  /** Empty a non-empty target first (otherwise it is refused and nothing is written). */
  replace: boolean;
}

/** A target that already holds data, and no --replace: nothing was written. */
export class TargetNotEmptyError extends NetimageError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'TargetNotEmptyError';
  }
}

interface Table {
  name: string;
  columns: string[];
}

const ROWS_PER_INSERT = 500;
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The SQLite file's tables, parents before children (foreign keys), each with its columns. */
function sqliteTables(db: DatabaseSync): Table[] {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  const parents = new Map(names.map((n) => [n, (db.prepare(`PRAGMA foreign_key_list(${ident(n)})`).all() as { table: string }[]).map((r) => r.table).filter((p) => p !== n)]));
  const ordered: string[] = [];
  const visit = (n: string, path: string[]) => {
    if (ordered.includes(n)) return;
    if (path.includes(n)) throw new Error(`foreign keys form a cycle: ${[...path, n].join(' -> ')}`);
    for (const p of parents.get(n) ?? []) visit(p, [...path, n]);
    ordered.push(n);
  };
  for (const n of names) visit(n, []);
  return ordered.map((name) => ({ name, columns: (db.prepare(`PRAGMA table_info(${ident(name)})`).all() as { name: string }[]).map((c) => c.name) }));
}

/** One row as text the same on both sides (numbers and ids as their decimal text, NULL as null). */
function rowHash(values: unknown[]): string {
  const canonical = values.map((v) => (v === null || v === undefined ? null : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : String(v)));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** Order-independent hash of a table's rows (the two databases need not list them in one order). */
function tableHash(rowHashes: string[]): string {
  return createHash('sha256').update(rowHashes.sort().join('\n')).digest('hex');
}

function sourceSummary(db: DatabaseSync, table: Table): { rows: number; hash: string } {
  const rows = db.prepare(`SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.name)}`).all() as Record<string, unknown>[];
  return { rows: rows.length, hash: tableHash(rows.map((r) => rowHash(table.columns.map((c) => r[c])))) };
}

async function targetSummary(client: pg.ClientBase, table: Table): Promise<{ rows: number; hash: string }> {
  const r = await client.query({ text: `SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.name)}`, rowMode: 'array' });
  return { rows: r.rows.length, hash: tableHash((r.rows as unknown[][]).map(rowHash)) };
}

/** Row counts and content hashes of every table of the SQLite file, compared with the target. */
export async function verifyCopy(sqlitePath: string, client: pg.ClientBase): Promise<TableCheck[]> {
  const db = new DatabaseSync(sqlitePath, { readOnly: true });
  try {
    const checks: TableCheck[] = [];
    for (const table of sqliteTables(db)) {
      const source = sourceSummary(db, table);
      const target = await targetSummary(client, table);
      checks.push({ table: table.name, sourceRows: source.rows, targetRows: target.rows, sourceHash: source.hash, targetHash: target.hash, ok: source.rows === target.rows && source.hash === target.hash });
    }
    return checks;
  } finally {
    db.close();
  }
}

async function copyTable(db: DatabaseSync, client: pg.ClientBase, table: Table): Promise<void> {
  const columns = table.columns.map(ident).join(', ');
  // rowid order: the target's own serials (jobs' insertion order) follow the source's.
  const statement = db.prepare(`SELECT ${columns} FROM ${ident(table.name)} ORDER BY rowid`);
  let batch: SqlValue[][] = [];
  const flush = async () => {
    if (!batch.length) return;
    const width = table.columns.length;
    const values = batch.map((_, i) => `(${table.columns.map((__, j) => `$${i * width + j + 1}`).join(', ')})`).join(', ');
    await client.query(`INSERT INTO ${ident(table.name)} (${columns}) VALUES ${values}`, batch.flat());
    batch = [];
  };
  for (const row of statement.iterate() as Iterable<Record<string, SqlValue>>) {
    batch.push(table.columns.map((c) => row[c] ?? null));
    if (batch.length === ROWS_PER_INSERT) await flush();
  }
  await flush();
}

/** Identity columns continue after the copied ids (the copy gave them explicitly). */
async function resetIdentities(client: pg.ClientBase): Promise<void> {
  const r = await client.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'",
  );
  for (const { table_name: table, column_name: column } of r.rows) {
    await client.query(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX(${ident(column)}) FROM ${ident(table)}), 0) + 1, false)`, [ident(table), column]);
  }
}

/** Copy, then verify. Throws (nothing written) for a non-empty target without replace or a table the target lacks. */
export async function copySqliteToPostgres(options: CopyOptions): Promise<TableCheck[]> {
  if (!existsSync(options.sqlitePath)) throw new NetimageError('not_found', `no SQLite store at ${options.sqlitePath}`);
  // Both schemas at the newest migration: the source file's own upgrade, the target's creation.
  await SqliteStore.open({ path: options.sqlitePath }).close();
  await (await PostgresStore.open({ url: options.targetUrl })).close();

  const db = new DatabaseSync(options.sqlitePath, { readOnly: true });
  const client = new pg.Client({ connectionString: options.targetUrl });
  // A connection cut mid-copy fails the next statement (rolled back); it must not also crash the CLI.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const tables = sqliteTables(db);
    await client.query('BEGIN');
    // The store lock: a server already using the target waits until the copy is committed.
    await client.query('SELECT pg_advisory_xact_lock($1)', [STORE_LOCK_KEY.toString()]);
    const present = new Set((await client.query<{ t: string }>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()')).rows.map((r) => r.t));
    const missing = tables.filter((t) => !present.has(t.name)).map((t) => t.name);
    if (missing.length) throw new NetimageError('conflict', `the PostgreSQL schema lacks table(s) ${missing.join(', ')} of the SQLite store: this netimage has no PostgreSQL migration for them`);
    const filled: string[] = [];
    for (const t of tables) {
      const n = Number((await client.query(`SELECT COUNT(*) AS n FROM ${ident(t.name)}`)).rows[0].n);
      if (n > 0) filled.push(`${t.name} (${n})`);
    }
    if (filled.length && !options.replace) {
      throw new TargetNotEmptyError(`the target database is not empty: ${filled.join(', ')}; nothing was copied (--replace empties it first)`);
    }
    if (filled.length) await client.query(`TRUNCATE ${tables.map((t) => ident(t.name)).join(', ')} RESTART IDENTITY`);
    for (const t of tables) await copyTable(db, client, t);
    await resetIdentities(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
    db.close();
    throw error;
  }
  db.close();
  try {
    return await verifyCopy(options.sqlitePath, client);
  } finally {
    await client.end();
  }
}
