// The Store on SQL: every query of the domain, written once in SQL that SQLite and PostgreSQL both
// run. Which database it talks to is the SqlBackend's business (sqlite.ts, postgres.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { whereClause, type Row, type SqlBackend, type SqlRunner, type SqlValue } from './sql.ts';
import {
  StoreConflictError,
  StoreNotFoundError,
  type Client,
  type ClientImage,
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
import type { Logger } from '../../lib/logger.ts';
import type { AnnouncedJobEvent, JobEventListener } from './pg-events.ts';

const now = () => new Date().toISOString();
const str = (v: SqlValue | undefined): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: SqlValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));

function rowToClientImage(r: Row): ClientImage {
  return {
    clientId: String(r['client_id']),
    name: String(r['name']),
    // PostgreSQL answers BIGINT as text.
    sizeBytes: Number(r['size_bytes']),
    createdAt: str(r['created_at']),
    sourcePartition: str(r['source_partition']),
    fsType: String(r['fs_type']),
    format: String(r['format']) === 'chunked' ? 'chunked' : 'stream',
    reported: String(r['reported']),
  };
}

function rowToClient(r: Row): Client {
  return {
    id: String(r['id']),
    mac: str(r['mac']),
    uuid: str(r['uuid']),
    group: str(r['group_id']),
    description: String(r['description'] ?? ''),
    notes: String(r['notes'] ?? ''),
    inventory: r['inventory'] ? (JSON.parse(String(r['inventory'])) as unknown) : null,
    created: String(r['created']),
    modified: String(r['modified']),
    lastSeen: str(r['last_seen']),
    lastSeenSite: str(r['last_seen_site']),
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
    productVersion: str(r['product_version']),
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
    tokenHash: str(r['token_hash']),
    percent: num(r['percent']),
    error: str(r['error']),
    created: String(r['created']),
    updated: String(r['updated']),
    attemptStarted: str(r['attempt_started']),
    finished: str(r['finished']),
    site: str(r['site']),
  };
}

function rowToOsInstall(r: Row): OsInstallRecord {
  const report = str(r['report']);
  return {
    state: r['state'] as OsInstallState,
    jobId: String(r['job_id']),
    clientId: String(r['client_id']),
    productId: String(r['product_id']),
    tokenHash: str(r['token_hash']),
    tokenExpires: str(r['token_expires']),
    deadline: str(r['deadline']),
    report: report === null ? null : (JSON.parse(report) as unknown),
    updated: String(r['updated']),
  };
}

export function rowToEvent(r: Row): JobEventRecord {
  return {
    id: Number(r['id']),
    jobId: String(r['job_id']),
    ts: String(r['ts']),
    kind: r['kind'] as JobEventKind,
    state: (r['state'] as Job['state'] | null) ?? 'booting',
    percent: num(r['percent']),
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

function rowToSchedule(r: Row): Schedule {
  return {
    id: String(r['id']),
    name: String(r['name']),
    kind: r['kind'] as Schedule['kind'],
    at: str(r['at']),
    atLocal: str(r['at_local']),
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

function scheduleColumns(s: Schedule): SqlValue[] {
  return [s.name, s.kind, s.at, s.cron, s.timezone, s.target.kind, s.target.id, s.productId, s.actionRequest, JSON.stringify(s.properties), s.wake ? 1 : 0, s.missedPolicy, s.lateWindowSeconds, s.enabled ? 1 : 0, s.nextRun, s.lastRun, s.modified, s.atLocal];
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

async function existingGroupsOnly(c: { all(sql: string, ...params: SqlValue[]): Promise<Row[]> }, users: User[]): Promise<User[]> {
  if (!users.some((u) => u.groups.length)) return users;
  const exists = new Set((await c.all('SELECT id FROM groups')).map((r) => String(r['id'])));
  return users.map((u) => ({ ...u, groups: u.groups.filter((g) => exists.has(g)) }));
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

/** Statement helpers over one runner (a transaction's connection, or the backend's reader). */
class Sql {
  readonly db: SqlRunner;
  constructor(db: SqlRunner) {
    this.db = db;
  }
  async all(sql: string, ...params: SqlValue[]): Promise<Row[]> {
    return (await this.db.query(sql, params)).rows;
  }
  async get(sql: string, ...params: SqlValue[]): Promise<Row | undefined> {
    return (await this.db.query(sql, params)).rows[0];
  }
  /** One row mapped, or null. */
  async one<T>(map: (r: Row) => T, sql: string, ...params: SqlValue[]): Promise<T | null> {
    const r = await this.get(sql, ...params);
    return r ? map(r) : null;
  }
  async exec(sql: string, ...params: SqlValue[]): Promise<number> {
    return (await this.db.query(sql, params)).changes;
  }

  /** Name the client that already holds a MAC or UUID, so the admin knows what collides. */
  async assertMacUuidFree(ownerId: string, mac: string | null | undefined, uuid: string | null | undefined): Promise<void> {
    if (mac) {
      const other = await this.get('SELECT id FROM clients WHERE mac = ? AND id <> ?', mac, ownerId);
      if (other) throw new StoreConflictError(`MAC ${mac} already belongs to client ${String(other['id'])}`);
    }
    if (uuid) {
      const other = await this.get('SELECT id FROM clients WHERE uuid = ? AND id <> ?', uuid, ownerId);
      if (other) throw new StoreConflictError(`SMBIOS UUID ${uuid} already belongs to client ${String(other['id'])}`);
    }
  }

  /** Insert or replace one product state; both state tables have the same columns. */
  async upsertState(table: 'product_on_client' | 'foreign_product_states', s: ProductOnClient): Promise<void> {
    await this.exec(
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
}

export class SqlStore implements Store {
  protected readonly backend: SqlBackend;
  /** The transaction's connection for the store handed to a transaction callback, else null. */
  private readonly tx: Sql | null;
  /** Marks code running inside a transaction of this store (to catch would-be deadlocks). */
  private readonly inside: AsyncLocalStorage<true>;

  protected constructor(backend: SqlBackend, tx: Sql | null = null, inside = new AsyncLocalStorage<true>()) {
    this.backend = backend;
    this.tx = tx;
    this.inside = inside;
  }

  private outsideCheck(): Error | null {
    // Waiting for the lock from inside the transaction that holds it would hang forever.
    return this.inside.getStore() ? new Error('store used outside its transaction while that transaction runs: pass the tx store down') : null;
  }

  /** A read: inside the transaction, or on its own without taking the transaction lock. */
  private read<T>(fn: (c: Sql) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this.tx);
    const refused = this.outsideCheck();
    if (refused) return Promise.reject(refused);
    return this.backend.read((db) => fn(new Sql(db)));
  }

  /** A write (possibly several statements): inside the transaction, or as a transaction of its own. */
  private write<T>(fn: (c: Sql) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this.tx);
    const refused = this.outsideCheck();
    if (refused) return Promise.reject(refused);
    return this.backend.transaction((db) => fn(new Sql(db)));
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this); // nested: part of the outer transaction
    if (this.inside.getStore()) return Promise.reject(new Error('transaction started on the outer store inside a transaction: pass the tx store down'));
    return this.backend.transaction((db) => this.inside.run(true, () => fn(new SqlStore(this.backend, new Sql(db), this.inside))));
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  /**
   * Hand job events stored by other servers on the same database to onEvent, until closed; null
   * where no other server can write (SQLite: the in-process bus carries everything).
   */
  listenJobEvents(_log: Logger, _onEvent: (e: AnnouncedJobEvent) => void): Promise<JobEventListener | null> {
    return Promise.resolve(null);
  }

  /** The migration the database is at. */
  readSchemaVersion(): Promise<number> {
    return this.backend.schemaVersion();
  }

  getMeta(key: string): Promise<string | null> {
    return this.read(async (c) => str((await c.get('SELECT value FROM meta WHERE key = ?', key))?.['value']));
  }
  setMeta(key: string, value: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', key, value);
    });
  }

  createGroup(group: Group): Promise<Group> {
    return this.write(async (c) => {
      if (await c.get('SELECT id FROM groups WHERE id = ?', group.id)) throw new StoreConflictError(`group ${group.id} already exists`);
      // Group names keep their case (opsi's may have capitals), but R1 beside r1 is two rooms an
      // admin (and an operator given one of them) cannot tell apart.
      const twin = await c.get('SELECT id FROM groups WHERE LOWER(id) = LOWER(?)', group.id);
      if (twin) throw new StoreConflictError(`group ${group.id} differs from the existing group ${String(twin['id'])} only by case: use ${String(twin['id'])}`);
      await c.exec('INSERT INTO groups(id, description) VALUES (?, ?)', group.id, group.description);
      // A new room is nobody's until an admin gives it: a reference an older netimage left to a
      // removed room of this name (group-refs.ts) must not make it theirs now.
      for (const u of (await c.all('SELECT * FROM users ORDER BY name')).map(rowToUser)) {
        if (u.groups.includes(group.id)) await c.exec('UPDATE users SET group_ids = ?, modified = ? WHERE name = ?', JSON.stringify(u.groups.filter((g) => g !== group.id)), now(), u.name);
      }
      return group;
    });
  }
  getGroup(id: string): Promise<Group | null> {
    return this.read((c) => c.one((r) => ({ id: String(r['id']), description: String(r['description']) }), 'SELECT * FROM groups WHERE id = ?', id));
  }
  listGroups(): Promise<Group[]> {
    return this.read(async (c) => (await c.all('SELECT * FROM groups ORDER BY id')).map((r) => ({ id: String(r['id']), description: String(r['description']) })));
  }
  deleteGroup(id: string): Promise<{ operators: string[] }> {
    return this.write(async (c) => {
      if (!(await c.get('SELECT id FROM groups WHERE id = ?', id))) throw new StoreNotFoundError(`group ${id} not found`);
      // A schedule of a removed room would fail at every run from now on: the admin removes it first.
      const schedules = (await c.all("SELECT name FROM schedules WHERE target_kind = 'group' AND target_id = ? ORDER BY name", id)).map((r) => String(r['name']));
      if (schedules.length) {
        throw new StoreConflictError(`group ${id} is the target of schedule(s) ${schedules.join(', ')}: remove them first (netimage schedule rm ${schedules[0]}); nothing was removed`);
      }
      // Operators lose the room with it: a room made later under the same name must not be theirs unasked.
      const operators: string[] = [];
      for (const u of (await c.all('SELECT * FROM users ORDER BY name')).map(rowToUser)) {
        if (!u.groups.includes(id)) continue;
        await c.exec('UPDATE users SET group_ids = ?, modified = ? WHERE name = ?', JSON.stringify(u.groups.filter((g) => g !== id)), now(), u.name);
        // An admin's list is kept but unused (admins act on every room): only operators lose something.
        if (u.role === 'operator') operators.push(u.name);
      }
      await c.exec('DELETE FROM groups WHERE id = ?', id);
      return { operators };
    });
  }

  createClient(client: NewClient): Promise<Client> {
    return this.write(async (c) => {
      if (await c.get('SELECT id FROM clients WHERE id = ?', client.id)) throw new StoreConflictError(`client ${client.id} already exists`);
      await c.assertMacUuidFree(client.id, client.mac, client.uuid);
      if (client.group && !(await c.get('SELECT id FROM groups WHERE id = ?', client.group))) {
        throw new StoreNotFoundError(`group ${client.group} not found`);
      }
      const ts = now();
      await c.exec(
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
      return rowToClient((await c.get('SELECT * FROM clients WHERE id = ?', client.id))!);
    });
  }
  updateClient(id: string, patch: ClientPatch): Promise<Client> {
    return this.write(async (c) => {
      const row = await c.get('SELECT * FROM clients WHERE id = ?', id);
      if (!row) throw new StoreNotFoundError(`client ${id} not found`);
      const current = rowToClient(row);
      const next = { ...current, ...patch };
      // As on create: a client without both could never be recognised at boot.
      if (!next.mac && !next.uuid) throw new StoreConflictError(`client ${id} needs a MAC or an SMBIOS UUID to be recognised at boot: keep one of them`);
      await c.assertMacUuidFree(id, next.mac, next.uuid);
      if (next.group && !(await c.get('SELECT id FROM groups WHERE id = ?', next.group))) {
        throw new StoreNotFoundError(`group ${next.group} not found`);
      }
      await c.exec(
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
      return rowToClient((await c.get('SELECT * FROM clients WHERE id = ?', id))!);
    });
  }
  getClient(id: string): Promise<Client | null> {
    return this.read((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE id = ?', id));
  }
  findClientByMac(mac: string): Promise<Client | null> {
    return this.read((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE mac = ?', mac));
  }
  findClientByUuid(uuid: string): Promise<Client | null> {
    return this.read((c) => c.one(rowToClient, 'SELECT * FROM clients WHERE uuid = ?', uuid));
  }
  listClients(filter: { group?: string } = {}): Promise<Client[]> {
    return this.read(async (c) => {
      const w = whereClause([['group_id', filter.group || undefined]]);
      return (await c.all(`SELECT * FROM clients ${w.sql} ORDER BY id`, ...w.params)).map(rowToClient);
    });
  }
  deleteClient(id: string): Promise<void> {
    return this.write(async (c) => {
      if (!(await c.get('SELECT id FROM clients WHERE id = ?', id))) throw new StoreNotFoundError(`client ${id} not found`);
      // Its schedule would fail at every run, or act on a new PC registered later under the name.
      const schedules = (await c.all("SELECT name FROM schedules WHERE target_kind = 'client' AND target_id = ? ORDER BY name", id)).map((r) => String(r['name']));
      if (schedules.length) {
        throw new StoreConflictError(`client ${id} is the target of schedule(s) ${schedules.join(', ')}: remove them first (netimage schedule rm ${schedules[0]}); nothing was removed`);
      }
      await c.exec('DELETE FROM clients WHERE id = ?', id);
    });
  }

  upsertProduct(product: ProductDefinition): Promise<void> {
    return this.write(async (c) => {
      await c.exec(
        'INSERT INTO products(id, version, definition) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, definition = excluded.definition',
        product.id,
        product.version,
        JSON.stringify(product),
      );
    });
  }
  getProduct(id: string): Promise<ProductDefinition | null> {
    return this.read((c) => c.one((r) => JSON.parse(String(r['definition'])) as ProductDefinition, 'SELECT definition FROM products WHERE id = ?', id));
  }
  listProducts(): Promise<ProductDefinition[]> {
    return this.read(async (c) => (await c.all('SELECT definition FROM products ORDER BY id')).map((r) => JSON.parse(String(r['definition'])) as ProductDefinition));
  }

  getProductOnClient(clientId: string, productId: string): Promise<ProductOnClient | null> {
    return this.read((c) => c.one(rowToPoc, 'SELECT * FROM product_on_client WHERE client_id = ? AND product_id = ?', clientId, productId));
  }
  listProductOnClients(filter: { clientId?: string; productId?: string; pendingOnly?: boolean }): Promise<ProductOnClient[]> {
    return this.read(async (c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId]], filter.pendingOnly ? ["action_request <> 'none'"] : []);
      return (await c.all(`SELECT * FROM product_on_client ${w.sql} ORDER BY client_id, product_id`, ...w.params)).map(rowToPoc);
    });
  }
  putProductOnClient(s: ProductOnClient): Promise<void> {
    return this.write((c) => c.upsertState('product_on_client', s));
  }

  listForeignProductStates(filter: { clientId?: string; productId?: string }): Promise<ProductOnClient[]> {
    return this.read(async (c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId]]);
      return (await c.all(`SELECT * FROM foreign_product_states ${w.sql} ORDER BY client_id, product_id`, ...w.params)).map(rowToPoc);
    });
  }
  getForeignProductState(clientId: string, productId: string): Promise<ProductOnClient | null> {
    return this.read((c) => c.one(rowToPoc, 'SELECT * FROM foreign_product_states WHERE client_id = ? AND product_id = ?', clientId, productId));
  }
  putForeignProductState(s: ProductOnClient): Promise<void> {
    return this.write((c) => c.upsertState('foreign_product_states', s));
  }
  deleteForeignProductState(clientId: string, productId: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('DELETE FROM foreign_product_states WHERE client_id = ? AND product_id = ?', clientId, productId);
    });
  }

  getPropertyValues(clientId: string, productId: string): Promise<Record<string, PropertyValue>> {
    return this.read(async (c) => {
      const out: Record<string, PropertyValue> = {};
      for (const r of await c.all('SELECT name, value FROM property_values WHERE client_id = ? AND product_id = ?', clientId, productId)) {
        out[String(r['name'])] = JSON.parse(String(r['value'])) as PropertyValue;
      }
      return out;
    });
  }
  setPropertyValues(clientId: string, productId: string, values: Record<string, PropertyValue>): Promise<void> {
    return this.write(async (c) => {
      for (const [name, value] of Object.entries(values)) {
        await c.exec(
          'INSERT INTO property_values(client_id, product_id, name, value) VALUES (?, ?, ?, ?) ON CONFLICT(client_id, product_id, name) DO UPDATE SET value = excluded.value',
          clientId,
          productId,
          name,
          JSON.stringify(value),
        );
      }
    });
  }

  listClientImages(clientId: string): Promise<ClientImage[]> {
    return this.read(async (c) => (await c.all('SELECT * FROM client_images WHERE client_id = ? ORDER BY position', clientId)).map(rowToClientImage));
  }
  replaceClientImages(clientId: string, images: readonly ClientImage[]): Promise<void> {
    return this.write(async (c) => {
      await c.exec('DELETE FROM client_images WHERE client_id = ?', clientId);
      for (const [position, i] of images.entries()) {
        await c.exec(
          'INSERT INTO client_images(client_id, name, position, size_bytes, created_at, source_partition, fs_type, format, reported) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          clientId,
          i.name,
          position,
          i.sizeBytes,
          i.createdAt,
          i.sourcePartition,
          i.fsType,
          i.format,
          i.reported,
        );
      }
    });
  }

  createJob(job: Job): Promise<Job> {
    return this.write(async (c) => {
      await c.exec(
        `INSERT INTO jobs(id, client_id, product_id, action_request, state, attempt, max_attempts, token_hash, percent, error, created, updated, attempt_started, finished, site)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
        job.site ?? null,
      );
      return job;
    });
  }
  markClientSeen(id: string, at: string, site: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('UPDATE clients SET last_seen = ?, last_seen_site = ? WHERE id = ?', at, site, id);
    });
  }
  getJob(id: string): Promise<Job | null> {
    return this.read((c) => c.one(rowToJob, 'SELECT * FROM jobs WHERE id = ?', id));
  }
  updateJob(job: Job): Promise<void> {
    return this.write(async (c) => {
      const changes = await c.exec(
        `UPDATE jobs SET state = ?, attempt = ?, max_attempts = ?, token_hash = ?, percent = ?, error = ?, updated = ?, attempt_started = ?, finished = ?, site = ? WHERE id = ?`,
        job.state,
        job.attempt,
        job.maxAttempts,
        job.tokenHash,
        job.percent,
        job.error,
        job.updated,
        job.attemptStarted,
        job.finished,
        job.site ?? null,
        job.id,
      );
      if (changes === 0) throw new StoreNotFoundError(`job ${job.id} not found`);
    });
  }
  findJobByTokenHash(tokenHash: string): Promise<Job | null> {
    return this.read((c) => c.one(rowToJob, 'SELECT * FROM jobs WHERE token_hash = ?', tokenHash));
  }
  findActiveJob(clientId: string): Promise<Job | null> {
    return this.read((c) => c.one(rowToJob, `SELECT * FROM jobs WHERE client_id = ? AND state IN (${ACTIVE_STATES.map(() => '?').join(', ')}) ORDER BY created DESC LIMIT 1`, clientId, ...ACTIVE_STATES));
  }
  listJobs(filter: JobFilter = {}): Promise<Job[]> {
    return this.read(async (c) => {
      const inGroup = filter.group === undefined ? [] : ['client_id IN (SELECT id FROM clients WHERE group_id = ?)'];
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId], ['state', filter.states]], inGroup);
      const params = [...(filter.group === undefined ? [] : [filter.group]), ...w.params];
      // rowid: insertion order (SQLite's implicit column; PostgreSQL's jobs table has one of that name).
      if (filter.perClient === undefined) return (await c.all(`SELECT * FROM jobs ${w.sql} ORDER BY created DESC, rowid DESC LIMIT ?`, ...params, filter.limit ?? 100)).map(rowToJob);
      const ranked = `SELECT jobs.*, jobs.rowid AS insertion, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY created DESC, jobs.rowid DESC) AS newest FROM jobs ${w.sql}`;
      return (await c.all(`SELECT * FROM (${ranked}) AS ranked WHERE newest <= ? ORDER BY created DESC, insertion DESC LIMIT ?`, ...params, filter.perClient, filter.limit ?? 100)).map(rowToJob);
    });
  }

  addJobEvent(event: Omit<JobEventRecord, 'id'>): Promise<JobEventRecord> {
    return this.write(async (c) => {
      const r = await c.get(
        'INSERT INTO job_events(job_id, ts, kind, state, percent, message) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
        event.jobId,
        event.ts,
        event.kind,
        event.state,
        event.percent,
        event.message,
      );
      const id = Number(r!['id']);
      await this.backend.announceJobEvent?.(c.db, id);
      return { ...event, id };
    });
  }
  listJobEvents(jobId: string, options: { afterId?: number; kinds?: JobEventKind[]; limit?: number; newest?: number } = {}): Promise<JobEventRecord[]> {
    return this.read(async (c) => {
      const w = whereClause([['job_id', jobId], ['kind', options.kinds]], ['id > ?']);
      const params = [options.afterId ?? 0, ...w.params];
      if (options.newest !== undefined) {
        const newest = await c.all(`SELECT * FROM job_events ${w.sql} ORDER BY id DESC LIMIT ?`, ...params, options.newest);
        return newest.reverse().map(rowToEvent);
      }
      return (await c.all(`SELECT * FROM job_events ${w.sql} ORDER BY id LIMIT ?`, ...params, options.limit ?? 10000)).map(rowToEvent);
    });
  }
  putJobLog(jobId: string, text: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('INSERT INTO job_logs(job_id, text) VALUES (?, ?) ON CONFLICT(job_id) DO UPDATE SET text = excluded.text', jobId, text);
    });
  }
  getJobLog(jobId: string): Promise<string | null> {
    return this.read(async (c) => str((await c.get('SELECT text FROM job_logs WHERE job_id = ?', jobId))?.['text']));
  }

  putOsInstall(r: OsInstallRecord): Promise<void> {
    return this.write(async (c) => {
      await c.exec(
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
    return this.read((c) => c.one(rowToOsInstall, 'SELECT * FROM os_installs WHERE job_id = ?', jobId));
  }
  findOsInstallByTokenHash(tokenHash: string): Promise<OsInstallRecord | null> {
    return this.read((c) => c.one(rowToOsInstall, 'SELECT * FROM os_installs WHERE token_hash = ?', tokenHash));
  }
  listOsInstalls(filter: { clientId?: string; productId?: string; states?: OsInstallState[] }): Promise<OsInstallRecord[]> {
    return this.read(async (c) => {
      const w = whereClause([['client_id', filter.clientId], ['product_id', filter.productId], ['state', filter.states]]);
      return (await c.all(`SELECT * FROM os_installs ${w.sql} ORDER BY updated, job_id`, ...w.params)).map(rowToOsInstall);
    });
  }

  addAdminTokenHash(hash: string, description: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('INSERT INTO admin_tokens(hash, description, created) VALUES (?, ?, ?)', hash, description, now());
    });
  }
  hasAdminTokenHash(hash: string): Promise<boolean> {
    return this.read(async (c) => (await c.get('SELECT 1 AS x FROM admin_tokens WHERE hash = ?', hash)) !== undefined);
  }
  countAdminTokens(): Promise<number> {
    return this.read(async (c) => Number((await c.get('SELECT COUNT(*) AS n FROM admin_tokens'))!['n']));
  }
  deleteAdminTokens(): Promise<void> {
    return this.write(async (c) => {
      await c.exec('DELETE FROM admin_tokens');
    });
  }
  // ---- Wake-on-LAN ----
  getGroupWakeTarget(groupId: string): Promise<GroupWakeTarget | null> {
    return this.read((c) => c.one((r) => ({ groupId: String(r['group_id']), broadcast: String(r['broadcast']), port: Number(r['port']) }), 'SELECT * FROM group_wake_targets WHERE group_id = ?', groupId));
  }
  setGroupWakeTarget(groupId: string, target: Omit<GroupWakeTarget, 'groupId'> | null): Promise<void> {
    return this.write(async (c) => {
      if (!(await c.get('SELECT id FROM groups WHERE id = ?', groupId))) throw new StoreNotFoundError(`group ${groupId} not found`);
      if (target === null) await c.exec('DELETE FROM group_wake_targets WHERE group_id = ?', groupId);
      else {
        await c.exec(
          'INSERT INTO group_wake_targets(group_id, broadcast, port) VALUES (?, ?, ?) ON CONFLICT(group_id) DO UPDATE SET broadcast = excluded.broadcast, port = excluded.port',
          groupId,
          target.broadcast,
          target.port,
        );
      }
    });
  }
  putWakeRecord(w: WakeRecord): Promise<void> {
    return this.write(async (c) => {
      await c.exec(
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
    return this.read((c) => c.one(rowToWake, 'SELECT * FROM wake_records WHERE client_id = ?', clientId));
  }
  listWakeRecords(filter: { status?: WakeStatus } = {}): Promise<WakeRecord[]> {
    return this.read(async (c) => {
      const w = whereClause([['status', filter.status]]);
      return (await c.all(`SELECT * FROM wake_records ${w.sql} ORDER BY client_id`, ...w.params)).map(rowToWake);
    });
  }

  // ---- schedules ----
  createSchedule(s: Schedule): Promise<Schedule> {
    return this.write(async (c) => {
      if (await c.get('SELECT id FROM schedules WHERE name = ? OR id = ?', s.name, s.id)) throw new StoreConflictError(`schedule ${s.name} already exists`);
      await c.exec(
        `INSERT INTO schedules(name, kind, at, cron, timezone, target_kind, target_id, product_id, action_request, properties, wake, missed_policy,
           late_window_seconds, enabled, next_run, last_run, modified, at_local, id, created) VALUES (${Array(20).fill('?').join(', ')})`,
        ...scheduleColumns(s),
        s.id,
        s.created,
      );
      return s;
    });
  }
  getSchedule(idOrName: string): Promise<Schedule | null> {
    return this.read((c) => c.one(rowToSchedule, 'SELECT * FROM schedules WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1', idOrName, idOrName, idOrName));
  }
  listSchedules(): Promise<Schedule[]> {
    return this.read(async (c) => (await c.all('SELECT * FROM schedules ORDER BY name')).map(rowToSchedule));
  }
  updateSchedule(s: Schedule): Promise<void> {
    return this.write(async (c) => {
      const changes = await c.exec(
        `UPDATE schedules SET name = ?, kind = ?, at = ?, cron = ?, timezone = ?, target_kind = ?, target_id = ?, product_id = ?, action_request = ?,
           properties = ?, wake = ?, missed_policy = ?, late_window_seconds = ?, enabled = ?, next_run = ?, last_run = ?, modified = ?, at_local = ? WHERE id = ?`,
        ...scheduleColumns(s),
        s.id,
      );
      if (changes === 0) throw new StoreNotFoundError(`schedule ${s.name} not found`);
    });
  }
  deleteSchedule(id: string): Promise<void> {
    return this.write(async (c) => {
      if ((await c.exec('DELETE FROM schedules WHERE id = ?', id)) === 0) throw new StoreNotFoundError(`schedule ${id} not found`);
    });
  }
  addScheduleRun(run: Omit<ScheduleRun, 'id'>): Promise<ScheduleRun> {
    return this.write(async (c) => {
      const r = await c.get('INSERT INTO schedule_runs(schedule_id, due, handled, outcome, message) VALUES (?, ?, ?, ?, ?) RETURNING id', run.scheduleId, run.due, run.handled, run.outcome, run.message);
      return { ...run, id: Number(r!['id']) };
    });
  }
  listScheduleRuns(scheduleId: string, options: { limit?: number } = {}): Promise<ScheduleRun[]> {
    return this.read(async (c) =>
      (await c.all('SELECT * FROM schedule_runs WHERE schedule_id = ? ORDER BY id DESC LIMIT ?', scheduleId, options.limit ?? 100)).map((r) => ({
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
    return this.read(async (c) =>
      (await c.all('SELECT state, product_id, COUNT(*) AS n FROM jobs GROUP BY state, product_id ORDER BY state, product_id')).map((r) => ({
        state: r['state'] as Job['state'],
        productId: String(r['product_id']),
        count: Number(r['n']),
      })),
    );
  }

  // ---- users, tokens, sessions, audit ----
  createUser(u: User): Promise<User> {
    return this.write(async (c) => {
      if (await c.get('SELECT name FROM users WHERE name = ?', u.name)) throw new StoreConflictError(`user ${u.name} already exists`);
      await c.exec('INSERT INTO users(name, role, group_ids, password_hash, created, modified) VALUES (?, ?, ?, ?, ?, ?)', u.name, u.role, JSON.stringify(u.groups), u.passwordHash, u.created, u.modified);
      return u;
    });
  }
  /** Users with the rooms that exist: a list never shows a removed one (group-refs.ts). */
  getUser(name: string): Promise<User | null> {
    return this.read(async (c) => {
      const user = await c.one(rowToUser, 'SELECT * FROM users WHERE name = ?', name);
      return user && (await existingGroupsOnly(c, [user]))[0]!;
    });
  }
  listUsers(): Promise<User[]> {
    return this.read(async (c) => existingGroupsOnly(c, (await c.all('SELECT * FROM users ORDER BY name')).map(rowToUser)));
  }
  updateUser(name: string, patch: UserPatch): Promise<User> {
    return this.write(async (c) => {
      const old = await c.one(rowToUser, 'SELECT * FROM users WHERE name = ?', name);
      if (!old) throw new StoreNotFoundError(`user ${name} not found`);
      const next: User = { ...old, ...patch, modified: now() };
      await c.exec('UPDATE users SET role = ?, group_ids = ?, password_hash = ?, modified = ? WHERE name = ?', next.role, JSON.stringify(next.groups), next.passwordHash, next.modified, name);
      return next;
    });
  }
  deleteUser(name: string): Promise<void> {
    return this.write(async (c) => {
      if ((await c.exec('DELETE FROM users WHERE name = ?', name)) === 0) throw new StoreNotFoundError(`user ${name} not found`);
    });
  }
  addUserToken(t: UserToken): Promise<void> {
    return this.write(async (c) => {
      if (!(await c.get('SELECT name FROM users WHERE name = ?', t.userName))) throw new StoreNotFoundError(`user ${t.userName} not found`);
      if (await c.get('SELECT hash FROM user_tokens WHERE user_name = ? AND name = ?', t.userName, t.name)) throw new StoreConflictError(`user ${t.userName} already has a token named ${t.name}`);
      await c.exec('INSERT INTO user_tokens(hash, user_name, name, created, last_used) VALUES (?, ?, ?, ?, ?)', t.hash, t.userName, t.name, t.created, t.lastUsed);
    });
  }
  findUserToken(hash: string): Promise<UserToken | null> {
    return this.read((c) => c.one(rowToUserToken, 'SELECT * FROM user_tokens WHERE hash = ?', hash));
  }
  listUserTokens(userName: string): Promise<UserToken[]> {
    return this.read(async (c) => (await c.all('SELECT * FROM user_tokens WHERE user_name = ? ORDER BY name', userName)).map(rowToUserToken));
  }
  deleteUserToken(userName: string, name: string): Promise<void> {
    return this.write(async (c) => {
      if ((await c.exec('DELETE FROM user_tokens WHERE user_name = ? AND name = ?', userName, name)) === 0) throw new StoreNotFoundError(`user ${userName} has no token named ${name}`);
    });
  }
  touchUserToken(hash: string, at: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('UPDATE user_tokens SET last_used = ? WHERE hash = ?', at, hash);
    });
  }
  createSession(s: SessionRecord): Promise<void> {
    return this.write(async (c) => {
      await c.exec(
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
    return this.read((c) => c.one(rowToSession, 'SELECT * FROM sessions WHERE hash = ?', hash));
  }
  touchSession(hash: string, at: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('UPDATE sessions SET last_seen = ? WHERE hash = ?', at, hash);
    });
  }
  deleteSession(hash: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('DELETE FROM sessions WHERE hash = ?', hash);
    });
  }
  deleteUserSessions(userName: string): Promise<void> {
    return this.write(async (c) => {
      await c.exec('DELETE FROM sessions WHERE user_name = ?', userName);
    });
  }
  deleteExpiredSessions(at: string): Promise<number> {
    return this.write((c) => c.exec('DELETE FROM sessions WHERE expires <= ?', at));
  }
  addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    return this.write(async (c) => {
      await c.exec(
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
    return this.read(async (c) => {
      const w = whereClause([['actor', filter.actor]], filter.since ? ['ts >= ?'] : []);
      const params = filter.since ? [filter.since, ...w.params] : w.params;
      return (await c.all(`SELECT * FROM audit_log ${w.sql} ORDER BY id DESC LIMIT ?`, ...params, filter.limit ?? 100)).map(rowToAudit);
    });
  }
}
