import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { migrations } from '../../bootserver/store/migrations.ts';
import { StoreConflictError, StoreNotFoundError } from '../../bootserver/store/types.ts';

const open = () => SqliteStore.open({ path: ':memory:' });

test('a duplicate MAC is refused naming the client that has it', async (t) => {
  const s = open();
  await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  const e = await t.throwsAsync(s.createClient({ id: 'pc02', mac: '52:54:00:00:00:01' }), { instanceOf: StoreConflictError });
  t.is(e!.message, 'MAC 52:54:00:00:00:01 already belongs to client pc01');
  t.is((await s.listClients()).length, 1);
});

test('a duplicate SMBIOS UUID is refused naming the client that has it', async (t) => {
  const s = open();
  const uuid = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
  await s.createClient({ id: 'pc01', uuid });
  const e = await t.throwsAsync(s.createClient({ id: 'pc02', mac: '52:54:00:00:00:02', uuid }), { instanceOf: StoreConflictError });
  t.is(e!.message, `SMBIOS UUID ${uuid} already belongs to client pc01`);
});

test('an update cannot take another client MAC; its own MAC is fine', async (t) => {
  const s = open();
  await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await s.createClient({ id: 'pc02', mac: '52:54:00:00:00:02' });
  await t.throwsAsync(s.updateClient('pc02', { mac: '52:54:00:00:00:01' }), { message: /belongs to client pc01/ });
  t.is((await s.updateClient('pc01', { mac: '52:54:00:00:00:01', description: 'x' })).description, 'x');
  t.is((await s.getClient('pc02'))!.mac, '52:54:00:00:00:02');
});

test('a duplicate host id is refused', async (t) => {
  const s = open();
  await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await t.throwsAsync(s.createClient({ id: 'pc01', mac: '52:54:00:00:00:09' }), { message: 'client pc01 already exists' });
});

test('a failed transaction leaves nothing behind', async (t) => {
  const s = open();
  await t.throwsAsync(
    s.transaction(async (tx) => {
      await tx.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
      await tx.createClient({ id: 'pc02', mac: '52:54:00:00:00:01' });
    }),
  );
  t.deepEqual(await s.listClients(), []);
});

test('using the outer store inside a transaction errors instead of hanging', async (t) => {
  const s = open();
  await t.throwsAsync(s.transaction(async () => s.listClients()), { message: /outside its transaction/ });
  t.deepEqual(await s.listClients(), []);
});

test('migrations run once on a new file and are recorded', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const s1 = SqliteStore.open({ path });
  await s1.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await s1.close();
  const s2 = SqliteStore.open({ path });
  t.is(s2.schemaVersion, Math.max(...migrations.map((m) => m.version)), 'the latest migration');
  t.is((await s2.listClients()).length, 1);
  await s2.close();
  const db = new DatabaseSync(path);
  db.exec('PRAGMA user_version = 99');
  db.close();
  t.throws(() => SqliteStore.open({ path }), { message: /schema version 99 is newer/ });
});

test('migration 4 moves the foreign product states kept in meta rows into their table, and drops those of deleted clients', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const old = SqliteStore.open({ path, migrations: migrations.filter((m) => m.version < 4) });
  await old.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await old.createClient({ id: 'pc02', mac: '52:54:00:00:00:02' });
  const windomain = { productId: 'windomain', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '4.3-1' };
  // As agent-session.ts wrote them before: one JSON list of wire states per client.
  await old.setMeta('foreign-product-states:pc01', JSON.stringify([windomain, { ...windomain, productId: 'office', productVersion: null }]));
  await old.setMeta('foreign-product-states:pc02', 'not json');
  await old.setMeta('foreign-product-states:gone', JSON.stringify([windomain]));
  await old.setMeta('other', 'kept');
  await old.close();

  const s = SqliteStore.open({ path });
  t.teardown(() => s.close());
  const rows = await s.listForeignProductStates({});
  t.deepEqual(
    rows.map(({ modified, ...r }) => r),
    [
      { clientId: 'pc01', productId: 'office', actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful', actionProgress: '', lastAction: 'setup', productVersion: null },
      { clientId: 'pc01', productId: 'windomain', actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful', actionProgress: '', lastAction: 'setup', productVersion: '4.3-1' },
    ],
  );
  t.regex(rows[0]!.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  for (const client of ['pc01', 'pc02', 'gone']) t.is(await s.getMeta(`foreign-product-states:${client}`), null, client);
  t.is(await s.getMeta('other'), 'kept');
});

/** A store in a file (so the raw tables can be counted afterwards) with one product. */
async function fileStore(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const s = SqliteStore.open({ path });
  await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
  return { s, path };
}

/** Everything a client can own: a product state, a foreign one, property values, inventory, a job with events and a log. */
async function clientWithHistory(s: SqliteStore, id: string, mac: string, group?: string): Promise<string> {
  const ts = new Date().toISOString();
  await s.createClient({ id, mac, ...(group ? { group } : {}) });
  await s.updateClient(id, { inventory: { memoryBytes: 1 } });
  await s.putProductOnClient({ clientId: id, productId: 'p', actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: ts });
  await s.putForeignProductState({ clientId: id, productId: 'windomain', actionRequest: 'setup', installationStatus: 'installed', actionResult: 'successful', actionProgress: '', lastAction: 'setup', productVersion: '4.3-1', modified: ts });
  await s.setPropertyValues(id, 'p', { a: 'b' });
  const jobId = randomUUID();
  await s.createJob({ id: jobId, clientId: id, productId: 'p', actionRequest: 'setup', state: 'running', attempt: 1, maxAttempts: 3, tokenHash: `hash-${id}`, percent: 10, error: null, created: ts, updated: ts, attemptStarted: ts, finished: null });
  await s.addJobEvent({ jobId, ts, kind: 'progress', state: 'running', percent: 10, message: 'x' });
  await s.putJobLog(jobId, 'log text');
  return jobId;
}

/** Rows per table that belong to a client (directly or through its jobs), counted in the raw database. */
function rowsOf(path: string, clientId: string): Record<string, number> {
  const db = new DatabaseSync(path);
  try {
    const count = (sql: string) => Number((db.prepare(sql).get(clientId) as { n: number }).n);
    const jobs = 'SELECT id FROM jobs WHERE client_id = ?';
    return {
      clients: count('SELECT COUNT(*) AS n FROM clients WHERE id = ?'),
      product_on_client: count('SELECT COUNT(*) AS n FROM product_on_client WHERE client_id = ?'),
      foreign_product_states: count('SELECT COUNT(*) AS n FROM foreign_product_states WHERE client_id = ?'),
      meta: count("SELECT COUNT(*) AS n FROM meta WHERE key LIKE '%' || ? || '%'"),
      property_values: count('SELECT COUNT(*) AS n FROM property_values WHERE client_id = ?'),
      jobs: count(`SELECT COUNT(*) AS n FROM (${jobs})`),
      job_events: count(`SELECT COUNT(*) AS n FROM job_events WHERE job_id IN (${jobs})`),
      job_logs: count(`SELECT COUNT(*) AS n FROM job_logs WHERE job_id IN (${jobs})`),
    };
  } finally {
    db.close();
  }
}

const ALL_ONE = { clients: 1, product_on_client: 1, foreign_product_states: 1, meta: 0, property_values: 1, jobs: 1, job_events: 1, job_logs: 1 };
const NONE = { clients: 0, product_on_client: 0, foreign_product_states: 0, meta: 0, property_values: 0, jobs: 0, job_events: 0, job_logs: 0 };

test('deleting a client removes its states (foreign ones too), property values, inventory, jobs, job events and job logs, and nothing of other clients', async (t) => {
  const { s, path } = await fileStore(t);
  const doomed = await clientWithHistory(s, 'pc01', '52:54:00:00:00:01');
  const kept = await clientWithHistory(s, 'pc02', '52:54:00:00:00:02');
  t.deepEqual(rowsOf(path, 'pc01'), ALL_ONE);
  await s.deleteClient('pc01');

  t.deepEqual(rowsOf(path, 'pc01'), NONE, 'no row of pc01 left behind in any table');
  // Orphans would also show as job events/logs whose job is gone: none anywhere.
  const db = new DatabaseSync(path);
  t.is(Number((db.prepare('SELECT COUNT(*) AS n FROM job_events WHERE job_id NOT IN (SELECT id FROM jobs)').get() as { n: number }).n), 0);
  db.close();
  t.is(await s.getClient('pc01'), null);
  t.is(await s.findClientByMac('52:54:00:00:00:01'), null, 'the MAC is free again');
  t.is(await s.getJob(doomed), null);
  t.is(await s.findJobByTokenHash('hash-pc01'), null, "the deleted client's job token no longer resolves");
  t.deepEqual(await s.listJobEvents(doomed), []);
  t.is(await s.getJobLog(doomed), null);
  t.deepEqual(await s.listProductOnClients({ clientId: 'pc01' }), []);
  t.deepEqual(await s.listForeignProductStates({ clientId: 'pc01' }), []);

  t.deepEqual(rowsOf(path, 'pc02'), ALL_ONE, 'the other client is untouched');
  t.is((await s.getJob(kept))?.state, 'running');
  t.deepEqual((await s.getClient('pc02'))?.inventory, { memoryBytes: 1 });
  await t.throwsAsync(s.deleteClient('pc01'), { instanceOf: StoreNotFoundError });
  await s.close();
});

test('deleting a group keeps its clients and all their data, ungrouped; nothing is left pointing at the group', async (t) => {
  const { s, path } = await fileStore(t);
  await s.createGroup({ id: 'room', description: '' });
  await clientWithHistory(s, 'pc01', '52:54:00:00:00:01', 'room');
  await clientWithHistory(s, 'pc02', '52:54:00:00:00:02', 'room');
  await s.deleteGroup('room');

  t.is(await s.getGroup('room'), null);
  for (const id of ['pc01', 'pc02']) {
    t.deepEqual(rowsOf(path, id), ALL_ONE, `${id} keeps its states, values and jobs`);
    t.is((await s.getClient(id))?.group, null, `${id} is ungrouped`);
    t.is((await s.getProductOnClient(id, 'p'))?.actionRequest, 'setup', `${id} keeps its pending action`);
  }
  const db = new DatabaseSync(path);
  t.is(Number((db.prepare('SELECT COUNT(*) AS n FROM clients WHERE group_id IS NOT NULL').get() as { n: number }).n), 0, 'no client row still names the deleted group');
  db.close();
  // A new group of the same name starts empty: the old members do not silently rejoin.
  await s.createGroup({ id: 'room', description: '' });
  t.deepEqual(await s.listClients({ group: 'room' }), []);
  await t.throwsAsync(s.deleteGroup('nope'), { instanceOf: StoreNotFoundError });
  await s.close();
});
