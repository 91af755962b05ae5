// The embedded store: node:sqlite (no native addon to build). DatabaseSync is synchronous, so
// every operation runs under one async lock: a transaction's awaits cannot interleave with
// other callers' statements on the same connection.
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { AsyncLocalStorage } from 'node:async_hooks';
import { dirname } from 'node:path';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { migrations as defaultMigrations, type Migration } from './migrations.ts';
import { makePrivateDir, touchPrivateFile } from './private-files.ts';
import {
  StoreConflictError,
  StoreNotFoundError,
  type Client,
  type ClientPatch,
  type Group,
  type Job,
  type JobEventKind,
  type JobEventRecord,
  type JobFilter,
  type NewClient,
  type ProductDefinition,
  type ProductOnClient,
  type Store,
  type GroupWakeTarget,
  type WakeRecord,
  type WakeStatus,
  type Schedule,
  type ScheduleRun,
  type OsInstallRecord,
  type OsInstallState,
  type AuditEntry,
  type AuditFilter,
  type SessionRecord,
  type User,
  type UserPatch,
  type UserToken,
} from './types.ts';
import { ACTIVE_STATES } from '../jobs/lifecycle.ts';

type Row = Record<string, SQLInputValue>;

class AsyncLock {
  private tail: Promise<void> = Promise.resolve();
  /** Marks code running inside a transaction on this lock (to catch would-be deadlocks). */
  readonly inside = new AsyncLocalStorage<true>();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

const now = () => new Date().toISOString();

/** `WHERE a = ? AND b IN (?, ?)` from the filters that are set; the rest are left out. */
function whereClause(conditions: [column: string, value: SQLInputValue | SQLInputValue[] | undefined][], extra: string[] = []): { sql: string; params: SQLInputValue[] } {
  const parts: string[] = [...extra];
  const params: SQLInputValue[] = [];
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

function rowToClient(r: Row): Client {
  return {
    id: String(r['id']),
    mac: (r['mac'] as string | null) ?? null,
    uuid: (r['uuid'] as string | null) ?? null,
    group: (r['group_id'] as string | null) ?? null,
    description: String(r['description'] ?? ''),
    notes: String(r['notes'] ?? ''),
    inventory: r['inventory'] ? (JSON.parse(String(r['inventory'])) as unknown) : null,
    created: String(r['created']),
    modified: String(r['modified']),
  };
}

function rowToPoc(r: Row): ProductOnClient {
  return {
    clientId: String(r['client_id']),
    productId: String(r['product_id']),
    actionRequest: r['action_request'] as ProductOnClient['actionRequest'],
    installationStatus: r['installation_status'] as ProductOnClient['installationStatus'],
    actionResult: r['action_result'] as ProductOnClient['actionResult'],
    actionProgress: String(r['action_progress']),
    lastAction: r['last_action'] as ProductOnClient['lastAction'],
    productVersion: (r['product_version'] as string | null) ?? null,
    modified: String(r['modified']),
  };
}

function rowToJob(r: Row): Job {
  return {
    id: String(r['id']),
    clientId: String(r['client_id']),
    productId: String(r['product_id']),
    actionRequest: r['action_request'] as Job['actionRequest'],
    state: r['state'] as Job['state'],
    attempt: Number(r['attempt']),
    maxAttempts: Number(r['max_attempts']),
    tokenHash: (r['token_hash'] as string | null) ?? null,
    percent: r['percent'] === null || r['percent'] === undefined ? null : Number(r['percent']),
    error: (r['error'] as string | null) ?? null,
    created: String(r['created']),
    updated: String(r['updated']),
    attemptStarted: (r['attempt_started'] as string | null) ?? null,
    finished: (r['finished'] as string | null) ?? null,
  };
}

function rowToOsInstall(r: Row): OsInstallRecord {
  const optional = (column: string) => (r[column] as string | null) ?? null;
  const report = optional('report');
  return {
    state: r['state'] as OsInstallState,
    jobId: String(r['job_id']),
    clientId: String(r['client_id']),
    productId: String(r['product_id']),
    tokenHash: optional('token_hash'),
    tokenExpires: optional('token_expires'),
    deadline: optional('deadline'),
    report: report === null ? null : (JSON.parse(report) as unknown),
    updated: String(r['updated']),
  };
}

function rowToEvent(r: Row): JobEventRecord {
  return {
    id: Number(r['id']),
    jobId: String(r['job_id']),
    ts: String(r['ts']),
    kind: r['kind'] as JobEventKind,
    state: (r['state'] as Job['state'] | null) ?? 'booting',
    percent: r['percent'] === null || r['percent'] === undefined ? null : Number(r['percent']),
    message: String(r['message']),
  };
}

function rowToWake(r: Row): WakeRecord {
  return {
    clientId: String(r['client_id']),
    status: r['status'] as WakeStatus,
    source: String(r['source']),
    address: String(r['address']),
    sent: String(r['sent']),
    deadline: String(r['deadline']),
    updated: String(r['updated']),
  };
}

const str = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));

function rowToSchedule(r: Row): Schedule {
  return {
    id: String(r['id']),
    name: String(r['name']),
    kind: r['kind'] as Schedule['kind'],
    at: str(r['at']),
    cron: str(r['cron']),
    timezone: str(r['timezone']),
    target: { kind: r['target_kind'] as Schedule['target']['kind'], id: String(r['target_id']) },
    productId: str(r['product_id']),
    actionRequest: String(r['action_request']),
    properties: JSON.parse(String(r['properties'])) as Schedule['properties'],
    wake: Number(r['wake']) === 1,
    missedPolicy: r['missed_policy'] as Schedule['missedPolicy'],
    lateWindowSeconds: Number(r['late_window_seconds']),
    enabled: Number(r['enabled']) === 1,
    nextRun: str(r['next_run']),
    lastRun: str(r['last_run']),
    created: String(r['created']),
    modified: String(r['modified']),
  };
}

function scheduleColumns(s: Schedule): SQLInputValue[] {
  return [s.name, s.kind, s.at, s.cron, s.timezone, s.target.kind, s.target.id, s.productId, s.actionRequest, JSON.stringify(s.properties), s.wake ? 1 : 0, s.missedPolicy, s.lateWindowSeconds, s.enabled ? 1 : 0, s.nextRun, s.lastRun, s.modified];
}

function rowToUser(r: Row): User {
  return {
    name: String(r['name']),
    role: r['role'] as User['role'],
    groups: JSON.parse(String(r['group_ids'])) as string[],
    passwordHash: str(r['password_hash']),
    created: String(r['created']),
    modified: String(r['modified']),
  };
}

function rowToUserToken(r: Row): UserToken {
  return { hash: String(r['hash']), userName: String(r['user_name']), name: String(r['name']), created: String(r['created']), lastUsed: str(r['last_used']) };
}

function rowToSession(r: Row): SessionRecord {
  return {
    hash: String(r['hash']),
    userName: String(r['user_name']),
    csrfToken: String(r['csrf_token']),
    created: String(r['created']),
    lastSeen: String(r['last_seen']),
    idleSeconds: Number(r['idle_seconds']),
    expires: String(r['expires']),
    source: String(r['source']),
  };
}

function rowToAudit(r: Row): AuditEntry {
  return {
    id: Number(r['id']),
    ts: String(r['ts']),
    actor: String(r['actor']),
    role: String(r['role']),
    via: r['via'] as AuditEntry['via'],
    source: String(r['source']),
    method: String(r['method']),
    route: String(r['route']),
    clients: JSON.parse(String(r['clients'])) as string[],
    detail: JSON.parse(String(r['detail'])) as Record<string, unknown>,
    status: Number(r['status']),
  };
}

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  migrations?: Migration[];
}

/** The synchronous core; SqliteStore wraps it with the lock and async signatures. */
class SqliteCore {
  readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.db.prepare(sql).all(...params) as Row[];
  }
  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.db.prepare(sql).get(...params) as Row | undefined;
  }
  /** One row mapped, or null. */
  one<T>(map: (r: Row) => T, sql: string, ...params: SQLInputValue[]): T | null {
    const r = this.get(sql, ...params);
    return r ? map(r) : null;
  }
  exec(sql: string, ...params: SQLInputValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.db.prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** Name the client that already holds a MAC or UUID, so the admin knows what collides. */
  assertMacUuidFree(ownerId: string, mac: string | null | undefined, uuid: string | null | undefined): void {
    if (mac) {
      const other = this.get('SELECT id FROM clients WHERE mac = ? AND id <> ?', mac, ownerId);
      if (other) throw new StoreConflictError(`MAC ${mac} already belongs to client ${String(other['id'])}`);
    }
    if (uuid) {
      const other = this.get('SELECT id FROM clients WHERE uuid = ? AND id <> ?', uuid, ownerId);
      if (other) throw new StoreConflictError(`SMBIOS UUID ${uuid} already belongs to client ${String(other['id'])}`);
    }
  }
}

/** Insert or replace one product state; both state tables have the same columns. */
function upsertState(c: SqliteCore, table: 'product_on_client' | 'foreign_product_states', s: ProductOnClient): void {
  c.exec(
    `INSERT INTO ${table}(client_id, product_id, action_request, installation_status, action_result, action_progress, last_action, product_version, modified)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(client_id, product_id) DO UPDATE SET action_request = excluded.action_request,
       installation_status = excluded.installation_status, action_result = excluded.action_result,
       action_progress = excluded.action_progress, last_action = excluded.last_action,
       product_version = excluded.product_version, modified = excluded.modified`,
    s.clientId,
    s.productId,
    s.actionRequest,
    s.installationStatus,
    s.actionResult,
    s.actionProgress,
    s.lastAction,
    s.productVersion,
    s.modified,
  );
}

export class SqliteStore implements Store {
  private readonly core: SqliteCore;
  private readonly lock: AsyncLock;
  /** True for the store handed to a transaction callback: it runs inside the held lock. */
  private readonly inTransaction: boolean;

  private constructor(core: SqliteCore, lock: AsyncLock, inTransaction: boolean) {
    this.core = core;
    this.lock = lock;
    this.inTransaction = inTransaction;
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
    const core = new SqliteCore(db);
    SqliteStore.migrate(core, options.migrations ?? defaultMigrations);
    return new SqliteStore(core, new AsyncLock(), false);
  }

  /** Current schema version (0 = empty database). */
  static schemaVersion(db: DatabaseSync): number {
    return Number((db.prepare('PRAGMA user_version').get() as Row)['user_version']);
  }

  private static migrate(core: SqliteCore, list: Migration[]): void {
    const current = SqliteStore.schemaVersion(core.db);
    const latest = Math.max(0, ...list.map((m) => m.version));
    if (current > latest) {
      throw new Error(`store schema version ${current} is newer than this netimage (${latest}): upgrade netimage`);
    }
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (m.version <= current) continue;
      core.db.exec('BEGIN IMMEDIATE');
      try {
        core.db.exec(m.sql);
        core.db.exec(`PRAGMA user_version = ${m.version}`);
        core.db.exec('COMMIT');
      } catch (error) {
        core.db.exec('ROLLBACK');
        throw new Error(`store migration ${m.version} (${m.name}) failed: ${(error as Error).message}`, { cause: error });
      }
    }
  }

  get schemaVersion(): number {
    return SqliteStore.schemaVersion(this.core.db);
  }

  private op<T>(fn: (core: SqliteCore) => T): Promise<T> {
    if (this.inTransaction) {
      try {
        return Promise.resolve(fn(this.core));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    if (this.lock.inside.getStore()) {
      // Waiting for the lock from inside the transaction that holds it would hang forever.
      return Promise.reject(new Error('store used outside its transaction while that transaction runs: pass the tx store down'));
    }
    return this.lock.run(() => fn(this.core));
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this); // nested: part of the outer transaction
    if (this.lock.inside.getStore()) return Promise.reject(new Error('transaction started on the outer store inside a transaction: pass the tx store down'));
    return this.lock.run(async () => {
      const tx = new SqliteStore(this.core, this.lock, true);
      this.core.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await this.lock.inside.run(true, () => fn(tx));
        this.core.db.exec('COMMIT');
        return result;
      } catch (error) {
        this.core.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  close(): Promise<void> {
    return this.lock.run(() => this.core.db.close());
  }

  getMeta(key: string): Promise<string | null> {
    return this.op((c) => {
      const r = c.get('SELECT value FROM meta WHERE key = ?', key);
      return r ? String(r['value']) : null;
    });
  }
  setMeta(key: string, value: string): Promise<void> {
    return this.op((c) => {
      c.exec('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', key, value);
    });
  }

  createGroup(group: Group): Promise<Group> {
    return this.op((c) => {
      if (c.get('SELECT id FROM groups WHERE id = ?', group.id)) throw new StoreConflictError(`group ${group.id} already exists`);
      c.exec('INSERT INTO groups(id, description) VALUES (?, ?)', group.id, group.description);
      return group;
    });
  }
  getGroup(id: string): Promise<Group | null> {
    return this.op((c) => {
      const r = c.get('SELECT * FROM groups WHERE id = ?', id);
      return r ? { id: String(r['id']), description: String(r['description']) } : null;
    });
  }
  listGroups(): Promise<Group[]> {
    return this.op((c) => c.all('SELECT * FROM groups ORDER BY id').map((r) => ({ id: String(r['id']), description: String(r['description']) })));
  }
  deleteGroup(id: string): Promise<void> {
    return this.op((c) => {
      if (c.exec('DELETE FROM groups WHERE id = ?', id).changes === 0) throw new StoreNotFoundError(`group ${id} not found`);
    });
  }

  createClient(client: NewClient): Promise<Client> {
    return this.op((c) => {
      if (c.get('SELECT id FROM clients WHERE id = ?', client.id)) throw new StoreConflictError(`client ${client.id} already exists`);
      c.assertMacUuidFree(client.id, client.mac, client.uuid);
      if (client.group && !c.get('SELECT id FROM groups WHERE id = ?', client.group)) {
        throw new StoreNotFoundError(`group ${client.group} not found`);
      }
      const ts = now();
      c.exec(
        'INSERT INTO clients(id, mac, uuid, group_id, description, notes, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        client.id,
        client.mac ?? null,
        client.uuid ?? null,
        client.group ?? null,
        client.description ?? '',
        client.notes ?? '',
        ts,
        ts,
      );
      return rowToClient(c.get('SELECT * FROM clients WHERE id = ?', client.id)!);
    });
  }
  updateClient(id: string, patch: ClientPatch): Promise<Client> {
    return this.op((c) => {
      const row = c.get('SELECT * FROM clients WHERE id = ?', id);
      if (!row) throw new StoreNotFoundError(`client ${id} not found`);
      const current = rowToClient(row);
      const next = { ...current, ...patch };
      // As on create: a client without both could never be recognised at boot.
      if (!next.mac && !next.uuid) throw new StoreConflictError(`client ${id} needs a MAC or an SMBIOS UUID to be recognised at boot: keep one of them`);
      c.assertMacUuidFree(id, next.mac, next.uuid);
      if (next.group && !c.get('SELECT id FROM groups WHERE id = ?', next.group)) {
        throw new StoreNotFoundError(`group ${next.group} not found`);
      }
      c.exec(
        'UPDATE clients SET mac = ?, uuid = ?, group_id = ?, description = ?, notes = ?, inventory = ?, modified = ? WHERE id = ?',
        next.mac,
        next.uuid,
        next.group,
        next.description,
        next.notes,
        next.inventory === null || next.inventory === undefined ? null : JSON.stringify(next.inventory),
        now(),
        id,
      );
      return rowToClient(c.get('SELECT * FROM clients WHERE id = ?', id)!);
    });
  }
  getClient(id: string): Promise<Client | null> {
    return this.op((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE id = ?', id));
  }
  findClientByMac(mac: string): Promise<Client | null> {
    return this.op((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE mac = ?', mac));
  }
  findClientByUuid(uuid: string): Promise<Client | null> {
    return this.op((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE uuid = ?', uuid));
  }
  listClients(filter: { group?: string } = {}): Promise<Client[]> {
    return this.op((c) =>
      (filter.group
        ? c.all('SELECT * FROM clients WHERE group_id = ? ORDER BY id', filter.group)
        : c.all('SELECT * FROM clients ORDER BY id')
      ).map(rowToClient),
    );
  }
  deleteClient(id: string): Promise<void> {
    return this.op((c) => {
      if (c.exec('DELETE FROM clients WHERE id = ?', id).changes === 0) throw new StoreNotFoundError(`client ${id} not found`);
    });
  }

  upsertProduct(product: ProductDefinition): Promise<void> {
    return this.op((c) => {
      c.exec(
        'INSERT INTO products(id, version, definition) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, definition = excluded.definition',
        product.id,
        product.version,
        JSON.stringify(product),
      );
    });
  }
  getProduct(id: string): Promise<ProductDefinition | null> {
    return this.op((c) => {
      const r = c.get('SELECT definition FROM products WHERE id = ?', id);
      return r ? (JSON.parse(String(r['definition'])) as ProductDefinition) : null;
    });
  }
  listProducts(): Promise<ProductDefinition[]> {
    return this.op((c) => c.all('SELECT definition FROM products ORDER BY id').map((r) => JSON.parse(String(r['definition'])) as ProductDefinition));
  }

  getProductOnClient(clientId: string, productId: string): Promise<ProductOnClient | null> {
    return this.op((c) => c.one(rowToPoc, 'SELECT * FROM product_on_client WHERE client_id = ? AND product_id = ?', clientId, productId));
  }
  listProductOnClients(filter: { clientId?: string; productId?: string; pendingOnly?: boolean }): Promise<ProductOnClient[]> {
    return this.op((c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId]], filter.pendingOnly ? ["action_request <> 'none'"] : []);
      return c.all(`SELECT * FROM product_on_client ${w.sql} ORDER BY client_id, product_id`, ...w.params).map(rowToPoc);
    });
  }
  putProductOnClient(s: ProductOnClient): Promise<void> {
    return this.op((c) => upsertState(c, 'product_on_client', s));
  }

  listForeignProductStates(filter: { clientId?: string; productId?: string }): Promise<ProductOnClient[]> {
    return this.op((c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId]]);
      return c.all(`SELECT * FROM foreign_product_states ${w.sql} ORDER BY client_id, product_id`, ...w.params).map(rowToPoc);
    });
  }
  getForeignProductState(clientId: string, productId: string): Promise<ProductOnClient | null> {
    return this.op((c) => c.one(rowToPoc, 'SELECT * FROM foreign_product_states WHERE client_id = ? AND product_id = ?', clientId, productId));
  }
  putForeignProductState(s: ProductOnClient): Promise<void> {
    return this.op((c) => upsertState(c, 'foreign_product_states', s));
  }
  deleteForeignProductState(clientId: string, productId: string): Promise<void> {
    return this.op((c) => {
      c.exec('DELETE FROM foreign_product_states WHERE client_id = ? AND product_id = ?', clientId, productId);
    });
  }

  getPropertyValues(clientId: string, productId: string): Promise<Record<string, PropertyValue>> {
    return this.op((c) => {
      const out: Record<string, PropertyValue> = {};
      for (const r of c.all('SELECT name, value FROM property_values WHERE client_id = ? AND product_id = ?', clientId, productId)) {
        out[String(r['name'])] = JSON.parse(String(r['value'])) as PropertyValue;
      }
      return out;
    });
  }
  setPropertyValues(clientId: string, productId: string, values: Record<string, PropertyValue>): Promise<void> {
    return this.op((c) => {
      for (const [name, value] of Object.entries(values)) {
        c.exec(
          'INSERT INTO property_values(client_id, product_id, name, value) VALUES (?, ?, ?, ?) ON CONFLICT(client_id, product_id, name) DO UPDATE SET value = excluded.value',
          clientId,
          productId,
          name,
          JSON.stringify(value),
        );
      }
    });
  }

  createJob(job: Job): Promise<Job> {
    return this.op((c) => {
      c.exec(
        `INSERT INTO jobs(id, client_id, product_id, action_request, state, attempt, max_attempts, token_hash, percent, error, created, updated, attempt_started, finished)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        job.id,
        job.clientId,
        job.productId,
        job.actionRequest,
        job.state,
        job.attempt,
        job.maxAttempts,
        job.tokenHash,
        job.percent,
        job.error,
        job.created,
        job.updated,
        job.attemptStarted,
        job.finished,
      );
      return job;
    });
  }
  getJob(id: string): Promise<Job | null> {
    return this.op((c) => c.one(rowToJob, 'SELECT * FROM jobs WHERE id = ?', id));
  }
  updateJob(job: Job): Promise<void> {
    return this.op((c) => {
      const r = c.exec(
        `UPDATE jobs SET state = ?, attempt = ?, max_attempts = ?, token_hash = ?, percent = ?, error = ?, updated = ?, attempt_started = ?, finished = ? WHERE id = ?`,
        job.state,
        job.attempt,
        job.maxAttempts,
        job.tokenHash,
        job.percent,
        job.error,
        job.updated,
        job.attemptStarted,
        job.finished,
        job.id,
      );
      if (r.changes === 0) throw new StoreNotFoundError(`job ${job.id} not found`);
    });
  }
  findJobByTokenHash(tokenHash: string): Promise<Job | null> {
    return this.op((c) => c.one(rowToJob, 'SELECT * FROM jobs WHERE token_hash = ?', tokenHash));
  }
  findActiveJob(clientId: string): Promise<Job | null> {
    return this.op((c) => c.one(rowToJob, `SELECT * FROM jobs WHERE client_id = ? AND state IN (${ACTIVE_STATES.map(() => '?').join(', ')}) ORDER BY created DESC LIMIT 1`, clientId, ...ACTIVE_STATES));
  }
  listJobs(filter: JobFilter = {}): Promise<Job[]> {
    return this.op((c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId], ['state', filter.states]]);
      return c.all(`SELECT * FROM jobs ${w.sql} ORDER BY created DESC, rowid DESC LIMIT ?`, ...w.params, filter.limit ?? 100).map(rowToJob);
    });
  }

  addJobEvent(event: Omit<JobEventRecord, 'id'>): Promise<JobEventRecord> {
    return this.op((c) => {
      const r = c.exec(
        'INSERT INTO job_events(job_id, ts, kind, state, percent, message) VALUES (?, ?, ?, ?, ?, ?)',
        event.jobId,
        event.ts,
        event.kind,
        event.state,
        event.percent,
        event.message,
      );
      return { ...event, id: r.lastInsertRowid };
    });
  }
  listJobEvents(jobId: string, options: { afterId?: number; kinds?: JobEventKind[]; limit?: number } = {}): Promise<JobEventRecord[]> {
    return this.op((c) => {
      const params: SQLInputValue[] = [jobId, options.afterId ?? 0];
      let kinds = '';
      if (options.kinds?.length) {
        kinds = ` AND kind IN (${options.kinds.map(() => '?').join(', ')})`;
        params.push(...options.kinds);
      }
      params.push(options.limit ?? 10000);
      return c.all(`SELECT * FROM job_events WHERE job_id = ? AND id > ?${kinds} ORDER BY id LIMIT ?`, ...params).map(rowToEvent);
    });
  }
  putJobLog(jobId: string, text: string): Promise<void> {
    return this.op((c) => {
      c.exec('INSERT INTO job_logs(job_id, text) VALUES (?, ?) ON CONFLICT(job_id) DO UPDATE SET text = excluded.text', jobId, text);
    });
  }
  getJobLog(jobId: string): Promise<string | null> {
    return this.op((c) => {
      const r = c.get('SELECT text FROM job_logs WHERE job_id = ?', jobId);
      return r ? String(r['text']) : null;
    });
  }

  putOsInstall(r: OsInstallRecord): Promise<void> {
    return this.op((c) => {
      c.exec(
        `INSERT INTO os_installs(job_id, client_id, product_id, state, token_hash, token_expires, deadline, report, updated)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(job_id) DO UPDATE SET state = excluded.state, token_hash = excluded.token_hash,
           token_expires = excluded.token_expires, deadline = excluded.deadline, report = excluded.report, updated = excluded.updated`,
        r.jobId,
        r.clientId,
        r.productId,
        r.state,
        r.tokenHash,
        r.tokenExpires,
        r.deadline,
        r.report === null || r.report === undefined ? null : JSON.stringify(r.report),
        r.updated,
      );
    });
  }
  getOsInstall(jobId: string): Promise<OsInstallRecord | null> {
    return this.op((c) => c.one(rowToOsInstall, 'SELECT * FROM os_installs WHERE job_id = ?', jobId));
  }
  findOsInstallByTokenHash(tokenHash: string): Promise<OsInstallRecord | null> {
    return this.op((c) => c.one(rowToOsInstall, 'SELECT * FROM os_installs WHERE token_hash = ?', tokenHash));
  }
  listOsInstalls(filter: { clientId?: string; productId?: string; states?: OsInstallState[] }): Promise<OsInstallRecord[]> {
    return this.op((c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId], ['state', filter.states]]);
      return c.all(`SELECT * FROM os_installs ${w.sql} ORDER BY updated, job_id`, ...w.params).map(rowToOsInstall);
    });
  }

  addAdminTokenHash(hash: string, description: string): Promise<void> {
    return this.op((c) => {
      c.exec('INSERT INTO admin_tokens(hash, description, created) VALUES (?, ?, ?)', hash, description, now());
    });
  }
  hasAdminTokenHash(hash: string): Promise<boolean> {
    return this.op((c) => c.get('SELECT 1 AS x FROM admin_tokens WHERE hash = ?', hash) !== undefined);
  }
  countAdminTokens(): Promise<number> {
    return this.op((c) => Number(c.get('SELECT COUNT(*) AS n FROM admin_tokens')!['n']));
  }
  deleteAdminTokens(): Promise<void> {
    return this.op((c) => {
      c.exec('DELETE FROM admin_tokens');
    });
  }
  // ---- Wake-on-LAN ----
  getGroupWakeTarget(groupId: string): Promise<GroupWakeTarget | null> {
    return this.op((c) => {
      const r = c.get('SELECT * FROM group_wake_targets WHERE group_id = ?', groupId);
      return r ? { groupId: String(r['group_id']), broadcast: String(r['broadcast']), port: Number(r['port']) } : null;
    });
  }
  setGroupWakeTarget(groupId: string, target: Omit<GroupWakeTarget, 'groupId'> | null): Promise<void> {
    return this.op((c) => {
      if (!c.get('SELECT id FROM groups WHERE id = ?', groupId)) throw new StoreNotFoundError(`group ${groupId} not found`);
      if (target === null) c.exec('DELETE FROM group_wake_targets WHERE group_id = ?', groupId);
      else {
        c.exec(
          'INSERT INTO group_wake_targets(group_id, broadcast, port) VALUES (?, ?, ?) ON CONFLICT(group_id) DO UPDATE SET broadcast = excluded.broadcast, port = excluded.port',
          groupId,
          target.broadcast,
          target.port,
        );
      }
    });
  }
  putWakeRecord(w: WakeRecord): Promise<void> {
    return this.op((c) => {
      c.exec(
        `INSERT INTO wake_records(client_id, status, source, address, sent, deadline, updated) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(client_id) DO UPDATE SET status = excluded.status, source = excluded.source, address = excluded.address,
           sent = excluded.sent, deadline = excluded.deadline, updated = excluded.updated`,
        w.clientId,
        w.status,
        w.source,
        w.address,
        w.sent,
        w.deadline,
        w.updated,
      );
    });
  }
  getWakeRecord(clientId: string): Promise<WakeRecord | null> {
    return this.op((c) => c.one(rowToWake, 'SELECT * FROM wake_records WHERE client_id = ?', clientId));
  }
  listWakeRecords(filter: { status?: WakeStatus } = {}): Promise<WakeRecord[]> {
    return this.op((c) => {
      const w = whereClause([['status', filter.status]]);
      return c.all(`SELECT * FROM wake_records ${w.sql} ORDER BY client_id`, ...w.params).map(rowToWake);
    });
  }

  // ---- schedules ----
  createSchedule(s: Schedule): Promise<Schedule> {
    return this.op((c) => {
      if (c.get('SELECT id FROM schedules WHERE name = ? OR id = ?', s.name, s.id)) throw new StoreConflictError(`schedule ${s.name} already exists`);
      c.exec(
        `INSERT INTO schedules(name, kind, at, cron, timezone, target_kind, target_id, product_id, action_request, properties, wake, missed_policy,
           late_window_seconds, enabled, next_run, last_run, modified, id, created) VALUES (${Array(19).fill('?').join(', ')})`,
        ...scheduleColumns(s),
        s.id,
        s.created,
      );
      return s;
    });
  }
  getSchedule(idOrName: string): Promise<Schedule | null> {
    return this.op((c) => c.one(rowToSchedule, 'SELECT * FROM schedules WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1', idOrName, idOrName, idOrName));
  }
  listSchedules(): Promise<Schedule[]> {
    return this.op((c) => c.all('SELECT * FROM schedules ORDER BY name').map(rowToSchedule));
  }
  updateSchedule(s: Schedule): Promise<void> {
    return this.op((c) => {
      const r = c.exec(
        `UPDATE schedules SET name = ?, kind = ?, at = ?, cron = ?, timezone = ?, target_kind = ?, target_id = ?, product_id = ?, action_request = ?,
           properties = ?, wake = ?, missed_policy = ?, late_window_seconds = ?, enabled = ?, next_run = ?, last_run = ?, modified = ? WHERE id = ?`,
        ...scheduleColumns(s),
        s.id,
      );
      if (r.changes === 0) throw new StoreNotFoundError(`schedule ${s.name} not found`);
    });
  }
  deleteSchedule(id: string): Promise<void> {
    return this.op((c) => {
      if (c.exec('DELETE FROM schedules WHERE id = ?', id).changes === 0) throw new StoreNotFoundError(`schedule ${id} not found`);
    });
  }
  addScheduleRun(run: Omit<ScheduleRun, 'id'>): Promise<ScheduleRun> {
    return this.op((c) => {
      const r = c.exec('INSERT INTO schedule_runs(schedule_id, due, handled, outcome, message) VALUES (?, ?, ?, ?, ?)', run.scheduleId, run.due, run.handled, run.outcome, run.message);
      return { ...run, id: r.lastInsertRowid };
    });
  }
  listScheduleRuns(scheduleId: string, options: { limit?: number } = {}): Promise<ScheduleRun[]> {
    return this.op((c) =>
      c.all('SELECT * FROM schedule_runs WHERE schedule_id = ? ORDER BY id DESC LIMIT ?', scheduleId, options.limit ?? 100).map((r) => ({
        id: Number(r['id']),
        scheduleId: String(r['schedule_id']),
        due: String(r['due']),
        handled: String(r['handled']),
        outcome: r['outcome'] as ScheduleRun['outcome'],
        message: String(r['message']),
      })),
    );
  }

  countJobs(): Promise<{ state: Job['state']; productId: string; count: number }[]> {
    return this.op((c) =>
      c.all('SELECT state, product_id, COUNT(*) AS n FROM jobs GROUP BY state, product_id ORDER BY state, product_id').map((r) => ({
        state: r['state'] as Job['state'],
        productId: String(r['product_id']),
        count: Number(r['n']),
      })),
    );
  }

  // ---- users, tokens, sessions, audit ----
  createUser(u: User): Promise<User> {
    return this.op((c) => {
      if (c.get('SELECT name FROM users WHERE name = ?', u.name)) throw new StoreConflictError(`user ${u.name} already exists`);
      c.exec('INSERT INTO users(name, role, group_ids, password_hash, created, modified) VALUES (?, ?, ?, ?, ?, ?)', u.name, u.role, JSON.stringify(u.groups), u.passwordHash, u.created, u.modified);
      return u;
    });
  }
  getUser(name: string): Promise<User | null> {
    return this.op((c) => c.one(rowToUser, 'SELECT * FROM users WHERE name = ?', name));
  }
  listUsers(): Promise<User[]> {
    return this.op((c) => c.all('SELECT * FROM users ORDER BY name').map(rowToUser));
  }
  updateUser(name: string, patch: UserPatch): Promise<User> {
    return this.op((c) => {
      const old = c.one(rowToUser, 'SELECT * FROM users WHERE name = ?', name);
      if (!old) throw new StoreNotFoundError(`user ${name} not found`);
      const next: User = { ...old, ...patch, modified: now() };
      c.exec('UPDATE users SET role = ?, group_ids = ?, password_hash = ?, modified = ? WHERE name = ?', next.role, JSON.stringify(next.groups), next.passwordHash, next.modified, name);
      return next;
    });
  }
  deleteUser(name: string): Promise<void> {
    return this.op((c) => {
      if (c.exec('DELETE FROM users WHERE name = ?', name).changes === 0) throw new StoreNotFoundError(`user ${name} not found`);
    });
  }
  addUserToken(t: UserToken): Promise<void> {
    return this.op((c) => {
      if (!c.get('SELECT name FROM users WHERE name = ?', t.userName)) throw new StoreNotFoundError(`user ${t.userName} not found`);
      if (c.get('SELECT hash FROM user_tokens WHERE user_name = ? AND name = ?', t.userName, t.name)) throw new StoreConflictError(`user ${t.userName} already has a token named ${t.name}`);
      c.exec('INSERT INTO user_tokens(hash, user_name, name, created, last_used) VALUES (?, ?, ?, ?, ?)', t.hash, t.userName, t.name, t.created, t.lastUsed);
    });
  }
  findUserToken(hash: string): Promise<UserToken | null> {
    return this.op((c) => c.one(rowToUserToken, 'SELECT * FROM user_tokens WHERE hash = ?', hash));
  }
  listUserTokens(userName: string): Promise<UserToken[]> {
    return this.op((c) => c.all('SELECT * FROM user_tokens WHERE user_name = ? ORDER BY name', userName).map(rowToUserToken));
  }
  deleteUserToken(userName: string, name: string): Promise<void> {
    return this.op((c) => {
      if (c.exec('DELETE FROM user_tokens WHERE user_name = ? AND name = ?', userName, name).changes === 0) throw new StoreNotFoundError(`user ${userName} has no token named ${name}`);
    });
  }
  touchUserToken(hash: string, at: string): Promise<void> {
    return this.op((c) => {
      c.exec('UPDATE user_tokens SET last_used = ? WHERE hash = ?', at, hash);
    });
  }
  createSession(s: SessionRecord): Promise<void> {
    return this.op((c) => {
      c.exec(
        'INSERT INTO sessions(hash, user_name, csrf_token, created, last_seen, idle_seconds, expires, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        s.hash,
        s.userName,
        s.csrfToken,
        s.created,
        s.lastSeen,
        s.idleSeconds,
        s.expires,
        s.source,
      );
    });
  }
  getSession(hash: string): Promise<SessionRecord | null> {
    return this.op((c) => c.one(rowToSession, 'SELECT * FROM sessions WHERE hash = ?', hash));
  }
  touchSession(hash: string, at: string): Promise<void> {
    return this.op((c) => {
      c.exec('UPDATE sessions SET last_seen = ? WHERE hash = ?', at, hash);
    });
  }
  deleteSession(hash: string): Promise<void> {
    return this.op((c) => {
      c.exec('DELETE FROM sessions WHERE hash = ?', hash);
    });
  }
  deleteUserSessions(userName: string): Promise<void> {
    return this.op((c) => {
      c.exec('DELETE FROM sessions WHERE user_name = ?', userName);
    });
  }
  deleteExpiredSessions(at: string): Promise<number> {
    return this.op((c) => c.exec('DELETE FROM sessions WHERE expires <= ?', at).changes);
  }
  addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    return this.op((c) => {
      c.exec(
        'INSERT INTO audit_log(ts, actor, role, via, source, method, route, clients, detail, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        e.ts,
        e.actor,
        e.role,
        e.via,
        e.source,
        e.method,
        e.route,
        JSON.stringify(e.clients),
        JSON.stringify(e.detail),
        e.status,
      );
    });
  }
  listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.op((c) => {
      const w = whereClause([['actor', filter.actor]], filter.since ? ['ts >= ?'] : []);
      const params = filter.since ? [filter.since, ...w.params] : w.params;
      return c.all(`SELECT * FROM audit_log ${w.sql} ORDER BY id DESC LIMIT ?`, ...params, filter.limit ?? 100).map(rowToAudit);
    });
  }
}
