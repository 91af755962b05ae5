// The store's behaviour, the same tests on both backends (SQLite and PostgreSQL, a real throwaway
// cluster started once for this file), then what only one backend has (their migrations' records).
import test, { type ExecutionContext } from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { PostgresBackend, PostgresStore } from '../../bootserver/store/postgres.ts';
import { JOB_EVENTS_CHANNEL, RecentEventIds, listenJobEvents } from '../../bootserver/store/pg-events.ts';
import { migrations } from '../../bootserver/store/migrations.ts';
import type { SqlStore } from '../../bootserver/store/sql-store.ts';
import { StoreConflictError, StoreNotFoundError, StoreUnavailableError, type Job } from '../../bootserver/store/types.ts';
import { loadConfig } from '../../bootserver/config/load.ts';
import { loadCatalogue } from '../../bootserver/products/catalogue.ts';
import { JobEventBus } from '../../bootserver/service/event-bus.ts';
import { NetbootService } from '../../bootserver/service/netboot.ts';
import { Scheduler } from '../../bootserver/schedules/scheduler.ts';
import { silentLogger } from '../../lib/logger.ts';
import { repoRoot } from '../../lib/paths.ts';
import { ProductId } from '../../lib/products.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { postgresBackend, sqliteBackend, type StoreBackend, type StoreDb } from '../helpers/store-backends.ts';
import { registerMigrateTests } from './store-migrate-cases.ts';
import { agentCall, parseNetbootConfig, readBootConfig, startTestServer } from '../helpers/server.ts';

let cluster: PgCluster | undefined;
test.before(async () => {
  cluster = await startPgCluster();
});
test.after.always(async () => {
  await cluster?.stop();
});
const theCluster = () => {
  if (!cluster) throw new Error('the PostgreSQL cluster did not start');
  return cluster;
};

const BACKENDS: StoreBackend[] = [sqliteBackend, postgresBackend(theCluster)];
const LATEST = Math.max(...migrations.map((m) => m.version));

/** Everything a client can own: a product state, a foreign one, property values, inventory, a job with events and a log. */
async function clientWithHistory(s: SqlStore, id: string, mac: string, group?: string): Promise<string> {
  const ts = new Date().toISOString();
  await s.createClient({ id, mac, ...(group ? { group } : {}) });
  await s.updateClient(id, { inventory: { memoryBytes: 1 } });
  await s.putProductOnClient({ clientId: id, productId: 'p', actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: ts });
  await s.putForeignProductState({ clientId: id, productId: 'windomain', actionRequest: 'setup', installationStatus: 'installed', actionResult: 'successful', actionProgress: '', lastAction: 'setup', productVersion: '4.3-1', modified: ts });
  await s.setPropertyValues(id, 'p', { a: 'b' });
  await s.replaceClientImages(id, [{ clientId: id, name: 'win11', sizeBytes: 1, createdAt: ts, sourcePartition: '/dev/sda3', fsType: 'ntfs', format: 'stream', reported: ts }]);
  const jobId = randomUUID();
  await s.createJob({ id: jobId, clientId: id, productId: 'p', actionRequest: 'setup', state: 'running', attempt: 1, maxAttempts: 3, tokenHash: `hash-${id}`, percent: 10, error: null, created: ts, updated: ts, attemptStarted: ts, finished: null });
  await s.addJobEvent({ jobId, ts, kind: 'progress', state: 'running', percent: 10, message: 'x' });
  await s.putJobLog(jobId, 'log text');
  return jobId;
}

/** Rows per table that belong to a client (directly or through its jobs), counted in the raw database. */
async function rowsOf(db: StoreDb, clientId: string): Promise<Record<string, number>> {
  const count = async (sql: string) => Number((await db.raw(sql, clientId))[0]!['n']);
  const jobs = 'SELECT id FROM jobs WHERE client_id = ?';
  return {
    clients: await count('SELECT COUNT(*) AS n FROM clients WHERE id = ?'),
    product_on_client: await count('SELECT COUNT(*) AS n FROM product_on_client WHERE client_id = ?'),
    foreign_product_states: await count('SELECT COUNT(*) AS n FROM foreign_product_states WHERE client_id = ?'),
    meta: await count("SELECT COUNT(*) AS n FROM meta WHERE key LIKE '%' || ? || '%'"),
    property_values: await count('SELECT COUNT(*) AS n FROM property_values WHERE client_id = ?'),
    client_images: await count('SELECT COUNT(*) AS n FROM client_images WHERE client_id = ?'),
    jobs: await count(`SELECT COUNT(*) AS n FROM (${jobs}) AS j`),
    job_events: await count(`SELECT COUNT(*) AS n FROM job_events WHERE job_id IN (${jobs})`),
    job_logs: await count(`SELECT COUNT(*) AS n FROM job_logs WHERE job_id IN (${jobs})`),
  };
}

const ALL_ONE = { clients: 1, product_on_client: 1, foreign_product_states: 1, meta: 0, property_values: 1, client_images: 1, jobs: 1, job_events: 1, job_logs: 1 };
const NONE = { clients: 0, product_on_client: 0, foreign_product_states: 0, meta: 0, property_values: 0, client_images: 0, jobs: 0, job_events: 0, job_logs: 0 };

const products = loadCatalogue(join(repoRoot, 'products'));

/** A NetbootService on a store, as one server has it. */
function server(store: SqlStore): NetbootService {
  const config = loadConfig({ env: {}, file: null, overrides: { dataDir: '/nonexistent', 'boot.maxAttempts': 3 } });
  return new NetbootService({ store, config, bus: new JobEventBus(), log: silentLogger, serverSecret: '11'.repeat(32) });
}

async function jobsOf(s: SqlStore, clientId: string): Promise<Job[]> {
  return s.listJobs({ clientId });
}

for (const backend of BACKENDS) {
  const open = (t: ExecutionContext) => backend.open(t);
  const name = (what: string) => `${backend.name}: ${what}`;

  test(name('a duplicate MAC is refused naming the client that has it'), async (t) => {
    const { store: s } = await open(t);
    await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
    const e = await t.throwsAsync(s.createClient({ id: 'pc02', mac: '52:54:00:00:00:01' }), { instanceOf: StoreConflictError });
    t.is(e!.message, 'MAC 52:54:00:00:00:01 already belongs to client pc01');
    t.is((await s.listClients()).length, 1);
  });

  test(name('a duplicate SMBIOS UUID is refused naming the client that has it'), async (t) => {
    const { store: s } = await open(t);
    const uuid = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
    await s.createClient({ id: 'pc01', uuid });
    const e = await t.throwsAsync(s.createClient({ id: 'pc02', mac: '52:54:00:00:00:02', uuid }), { instanceOf: StoreConflictError });
    t.is(e!.message, `SMBIOS UUID ${uuid} already belongs to client pc01`);
  });

  test(name('an update cannot take another client MAC; its own MAC is fine'), async (t) => {
    const { store: s } = await open(t);
    await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
    await s.createClient({ id: 'pc02', mac: '52:54:00:00:00:02' });
    await t.throwsAsync(s.updateClient('pc02', { mac: '52:54:00:00:00:01' }), { message: /belongs to client pc01/ });
    t.is((await s.updateClient('pc01', { mac: '52:54:00:00:00:01', description: 'x' })).description, 'x');
    t.is((await s.getClient('pc02'))!.mac, '52:54:00:00:00:02');
  });

  test(name("a client's images: kept in the reported order, sizes past 4 GiB exact, an unknown date stays null, a new report replaces the old"), async (t) => {
    const { store: s } = await open(t);
    await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
    const ts = '2026-12-01T07:00:00.000Z';
    const images = [
      { clientId: 'pc01', name: 'win11', sizeBytes: 5 * 2 ** 30 + 7, createdAt: ts, sourcePartition: '/dev/sda3', fsType: 'ntfs', format: 'chunked' as const, reported: ts },
      { clientId: 'pc01', name: 'alt', sizeBytes: 4096, createdAt: null, sourcePartition: null, fsType: 'ext4', format: 'stream' as const, reported: ts },
    ];
    await s.replaceClientImages('pc01', images);
    t.deepEqual(await s.listClientImages('pc01'), images);
    await s.replaceClientImages('pc01', [images[1]!]);
    t.deepEqual(await s.listClientImages('pc01'), [images[1]]);
    t.deepEqual(await s.listClientImages('pc02'), []);
  });

  test(name('a duplicate host id is refused'), async (t) => {
    const { store: s } = await open(t);
    await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
    await t.throwsAsync(s.createClient({ id: 'pc01', mac: '52:54:00:00:00:09' }), { message: 'client pc01 already exists' });
  });

  test(name('a group differing from an existing one only by case is refused (R1 beside r1: two rooms an admin cannot tell apart)'), async (t) => {
    const { store: s } = await open(t);
    await s.createGroup({ id: 'room-A', description: '' });
    await t.throwsAsync(s.createGroup({ id: 'ROOM-a', description: '' }), { instanceOf: StoreConflictError, message: 'group ROOM-a differs from the existing group room-A only by case: use room-A' });
    await t.throwsAsync(s.createGroup({ id: 'room-A', description: '' }), { message: 'group room-A already exists' });
    t.deepEqual((await s.listGroups()).map((g) => g.id), ['room-A']);
  });

  test(name('two servers creating the same client at once: one wins, the other gets a conflict'), async (t) => {
    const db = await open(t);
    const other = await db.another();
    const results = await Promise.allSettled([db.store.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' }), other.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' })]);
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected');
    t.true(rejected?.status === 'rejected' && rejected.reason instanceof StoreConflictError);
    t.is((await db.raw('SELECT COUNT(*) AS n FROM clients'))[0]!['n']!.toString(), '1');
  });

  test(name('a failed transaction leaves nothing behind'), async (t) => {
    const { store: s } = await open(t);
    await t.throwsAsync(
      s.transaction(async (tx) => {
        await tx.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
        await tx.createClient({ id: 'pc02', mac: '52:54:00:00:00:01' });
      }),
    );
    t.deepEqual(await s.listClients(), []);
  });

  test(name('using the outer store inside a transaction errors instead of hanging'), async (t) => {
    const { store: s } = await open(t);
    await t.throwsAsync(s.transaction(async () => s.listClients()), { message: /outside its transaction/ });
    t.deepEqual(await s.listClients(), []);
  });

  test(name('text sorts byte by byte, jobs newest first then in insertion order, event and run ids count up'), async (t) => {
    const { store: s } = await open(t);
    for (const [i, id] of ['b', 'B', 'a-1', 'a1', 'A'].entries()) await s.createClient({ id, mac: `52:54:00:00:00:0${i}` });
    t.deepEqual((await s.listClients()).map((c) => c.id), ['A', 'B', 'a-1', 'a1', 'b']);
    await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
    const ts = '2026-01-01T00:00:00.000Z';
    const ids = ['z', 'm', 'a'];
    for (const id of ids) await s.createJob({ id, clientId: 'A', productId: 'p', actionRequest: 'setup', state: 'failed', attempt: 1, maxAttempts: 3, tokenHash: null, percent: 33.3, error: null, created: ts, updated: ts, attemptStarted: ts, finished: ts });
    const listed = await s.listJobs();
    t.deepEqual(listed.map((j) => j.id), [...ids].reverse(), 'same time: the later insert first');
    t.is(listed[0]!.percent, 33.3, 'percent keeps its exact value');
    const e1 = await s.addJobEvent({ jobId: 'z', ts, kind: 'log', state: 'failed', percent: null, message: 'one' });
    const e2 = await s.addJobEvent({ jobId: 'z', ts, kind: 'progress', state: 'failed', percent: 50, message: 'two' });
    t.true(e2.id > e1.id);
    t.deepEqual((await s.listJobEvents('z', { afterId: e1.id })).map((e) => e.message), ['two']);
    t.deepEqual((await s.listJobEvents('z', { kinds: ['log'] })).map((e) => e.message), ['one']);
    await s.addJobEvent({ jobId: 'z', ts, kind: 'log', state: 'failed', percent: null, message: 'three' });
    t.deepEqual((await s.listJobEvents('z', { newest: 2 })).map((e) => e.message), ['two', 'three'], 'the newest, oldest first');
    t.deepEqual((await s.listJobEvents('z', { newest: 9 })).map((e) => e.message), ['one', 'two', 'three']);
    t.deepEqual(await s.countJobs(), [{ state: 'failed', productId: 'p', count: 3 }]);
  });

  test(name("jobs of a group's PCs, at most N newest per PC: a busy PC does not push an idle one's last job out"), async (t) => {
    const { store: s } = await open(t);
    await s.createGroup({ id: 'room1', description: '' });
    await s.createGroup({ id: 'room2', description: '' });
    await s.createClient({ id: 'busy', mac: '52:54:00:00:01:01', group: 'room1' });
    await s.createClient({ id: 'idle', mac: '52:54:00:00:01:02', group: 'room1' });
    await s.createClient({ id: 'other', mac: '52:54:00:00:01:03', group: 'room2' });
    await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
    const job = (id: string, clientId: string, minute: number) => {
      const ts = `2026-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`;
      return s.createJob({ id, clientId, productId: 'p', actionRequest: 'setup', state: 'succeeded', attempt: 1, maxAttempts: 3, tokenHash: null, percent: 100, error: null, created: ts, updated: ts, attemptStarted: ts, finished: ts });
    };
    await job('idle-1', 'idle', 0);
    await job('idle-2', 'idle', 1);
    for (let i = 0; i < 20; i++) await job(`busy-${i}`, 'busy', 2 + i);
    await job('other-1', 'other', 30);
    // The plain newest-first list with a limit loses the idle PC's jobs behind the busy one's.
    t.false((await s.listJobs({ limit: 10 })).some((j) => j.clientId === 'idle'));
    const room = await s.listJobs({ group: 'room1', perClient: 2, limit: 10 });
    t.deepEqual(room.map((j) => j.id), ['busy-19', 'busy-18', 'idle-2', 'idle-1'], 'newest first, two per PC, only room1');
    t.deepEqual((await s.listJobs({ perClient: 1 })).map((j) => j.id), ['other-1', 'busy-19', 'idle-2']);
    t.deepEqual((await s.listJobs({ group: 'room2' })).map((j) => j.id), ['other-1']);
    t.deepEqual(await s.listJobs({ group: 'nowhere' }), []);
    t.is((await s.listJobs({ limit: Number.MAX_SAFE_INTEGER })).length, 23, 'no limit to speak of: every job (depot rm asks for every job under way)');
  });

  test(name('deleting a client removes its states (foreign ones too), property values, inventory, jobs, job events and job logs, and nothing of other clients'), async (t) => {
    const db = await open(t);
    const s = db.store;
    await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
    const doomed = await clientWithHistory(s, 'pc01', '52:54:00:00:00:01');
    const kept = await clientWithHistory(s, 'pc02', '52:54:00:00:00:02');
    t.deepEqual(await rowsOf(db, 'pc01'), ALL_ONE);
    await s.deleteClient('pc01');

    t.deepEqual(await rowsOf(db, 'pc01'), NONE, 'no row of pc01 left behind in any table');
    // Orphans would also show as job events/logs whose job is gone: none anywhere.
    t.is(Number((await db.raw('SELECT COUNT(*) AS n FROM job_events WHERE job_id NOT IN (SELECT id FROM jobs)'))[0]!['n']), 0);
    t.is(await s.getClient('pc01'), null);
    t.is(await s.findClientByMac('52:54:00:00:00:01'), null, 'the MAC is free again');
    t.is(await s.getJob(doomed), null);
    t.is(await s.findJobByTokenHash('hash-pc01'), null, "the deleted client's job token no longer resolves");
    t.deepEqual(await s.listJobEvents(doomed), []);
    t.is(await s.getJobLog(doomed), null);
    t.deepEqual(await s.listProductOnClients({ clientId: 'pc01' }), []);
    t.deepEqual(await s.listForeignProductStates({ clientId: 'pc01' }), []);

    t.deepEqual(await rowsOf(db, 'pc02'), ALL_ONE, 'the other client is untouched');
    t.is((await s.getJob(kept))?.state, 'running');
    t.deepEqual((await s.getClient('pc02'))?.inventory, { memoryBytes: 1 });
    await t.throwsAsync(s.deleteClient('pc01'), { instanceOf: StoreNotFoundError });
  });

  test(name('deleting a group keeps its clients and all their data, ungrouped; nothing is left pointing at the group'), async (t) => {
    const db = await open(t);
    const s = db.store;
    await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
    await s.createGroup({ id: 'room', description: '' });
    await clientWithHistory(s, 'pc01', '52:54:00:00:00:01', 'room');
    await clientWithHistory(s, 'pc02', '52:54:00:00:00:02', 'room');
    await s.deleteGroup('room');

    t.is(await s.getGroup('room'), null);
    for (const id of ['pc01', 'pc02']) {
      t.deepEqual(await rowsOf(db, id), ALL_ONE, `${id} keeps its states, values and jobs`);
      t.is((await s.getClient(id))?.group, null, `${id} is ungrouped`);
      t.is((await s.getProductOnClient(id, 'p'))?.actionRequest, 'setup', `${id} keeps its pending action`);
    }
    t.is(Number((await db.raw('SELECT COUNT(*) AS n FROM clients WHERE group_id IS NOT NULL'))[0]!['n']), 0, 'no client row still names the deleted group');
    // A new group of the same name starts empty: the old members do not silently rejoin.
    await s.createGroup({ id: 'room', description: '' });
    t.deepEqual(await s.listClients({ group: 'room' }), []);
    await t.throwsAsync(s.deleteGroup('nope'), { instanceOf: StoreNotFoundError });
  });

  test(name('deleting a group takes it from its operators; deleting a group or a client is refused while a schedule targets it'), async (t) => {
    const db = await open(t);
    const s = db.store;
    const at = '2026-12-01T00:00:00.000Z';
    await s.createGroup({ id: 'room', description: '' });
    await s.createGroup({ id: 'other', description: '' });
    await s.createUser({ name: 'jdoe', role: 'operator', groups: ['room', 'other'], passwordHash: null, created: at, modified: at });
    await s.createUser({ name: 'ann', role: 'operator', groups: ['other'], passwordHash: null, created: at, modified: at });
    await s.createUser({ name: 'boss', role: 'admin', groups: ['room'], passwordHash: null, created: at, modified: at });
    await s.createSchedule({
      id: 'morning', name: 'morning', kind: 'cron', at: null, atLocal: null, cron: '0 7 * * *', timezone: 'UTC', target: { kind: 'group', id: 'room' }, productId: null,
      actionRequest: 'setup', properties: {}, wake: true, missedPolicy: 'skip', lateWindowSeconds: 3600, enabled: true, nextRun: '2026-12-04T07:00:00.000Z', lastRun: null, created: at, modified: at,
    });
    await t.throwsAsync(s.deleteGroup('room'), { instanceOf: StoreConflictError, message: 'group room is the target of schedule(s) morning: remove them first (netimage schedule rm morning); nothing was removed' });
    t.truthy(await s.getGroup('room'), 'refused: the group stays');
    t.deepEqual((await s.getUser('jdoe'))?.groups, ['room', 'other'], 'refused: the operator keeps it');
    await s.deleteSchedule('morning');
    t.deepEqual(await s.deleteGroup('room'), { operators: ['jdoe'] });
    // The same for a PC a schedule names.
    await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01', uuid: null, group: null, description: '', notes: '' });
    await s.createSchedule({
      id: 'pc01-backup', name: 'pc01-backup', kind: 'cron', at: null, atLocal: null, cron: '0 7 * * *', timezone: 'UTC', target: { kind: 'client', id: 'pc01' }, productId: null,
      actionRequest: 'setup', properties: {}, wake: true, missedPolicy: 'skip', lateWindowSeconds: 3600, enabled: true, nextRun: '2026-12-04T07:00:00.000Z', lastRun: null, created: at, modified: at,
    });
    await t.throwsAsync(s.deleteClient('pc01'), { instanceOf: StoreConflictError, message: 'client pc01 is the target of schedule(s) pc01-backup: remove them first (netimage schedule rm pc01-backup); nothing was removed' });
    t.truthy(await s.getClient('pc01'));
    await s.deleteSchedule('pc01-backup');
    await s.deleteClient('pc01');
    t.is(await s.getClient('pc01'), null);
    t.deepEqual((await s.getUser('jdoe'))?.groups, ['other']);
    t.deepEqual((await s.getUser('ann'))?.groups, ['other']);
    t.deepEqual((await s.getUser('boss'))?.groups, [], 'an admin is no operator to name, but keeps no stale room either');
    // A new room of the same name is nobody's until an admin gives it.
    await s.createGroup({ id: 'room', description: '' });
    t.false((await s.getUser('jdoe'))!.groups.includes('room'));
  });

  test(name('an operator is never listed with a room that does not exist, and a room made later is not theirs (references left by removals before they were cleaned)'), async (t) => {
    const db = await open(t);
    const s = db.store;
    const at = '2026-12-01T00:00:00.000Z';
    await s.createGroup({ id: 'room', description: '' });
    // As an older netimage left them: group rm did not take the room from its operators.
    await s.createUser({ name: 'jdoe', role: 'operator', groups: ['gone', 'room', 'old'], passwordHash: null, created: at, modified: at });
    t.deepEqual((await s.getUser('jdoe'))?.groups, ['room']);
    t.deepEqual((await s.listUsers()).map((u) => [u.name, u.groups]), [['jdoe', ['room']]]);
    await s.createGroup({ id: 'gone', description: 'a new room under an old name' });
    t.deepEqual((await s.getUser('jdoe'))?.groups, ['room'], 'the new room is nobody\'s until an admin gives it');
    t.deepEqual(JSON.parse(String((await db.raw('SELECT group_ids FROM users WHERE name = ?', 'jdoe'))[0]!['group_ids'])), ['room', 'old'], 'taken from the stored list too');
  });

  test(name('two servers reading the same PC config at the same moment create one job attempt, never two'), async (t) => {
    const db = await open(t);
    const stores = [db.store, await db.another()];
    for (const p of products) await db.store.upsertProduct(p);
    await db.store.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
    const [a, b] = stores.map(server) as [NetbootService, NetbootService];
    await a.setActionRequest('pc01', ProductId.hwinvent, 'setup');
    const read = (svc: NetbootService) => svc.bootConfigRead({ mac: '52:54:00:00:00:01', uuid: null, firmware: 'uefi' });

    // Both servers at once, several times over: one job, attempt 1, one token.
    const first = await Promise.all([read(a), read(b), read(a), read(b)]);
    t.is(new Set(first.map((o) => o.job?.id)).size, 1, 'every read got the same job');
    t.is(new Set(first.map((o) => o.token)).size, 1, 'and the same token');
    let jobs = await jobsOf(db.store, 'pc01');
    t.is(jobs.length, 1);
    t.like(jobs[0], { state: 'booting', attempt: 1 });

    // The agent started, then the PC rebooted (power loss): both servers read again at once.
    await a.store.transaction(async (tx) => a.applyJobEvent(tx, (await tx.getJob(jobs[0]!.id))!, { type: 'agentStarted' }));
    const second = await Promise.all([read(b), read(a)]);
    jobs = await jobsOf(db.store, 'pc01');
    t.is(jobs.length, 1, 'still one job');
    t.like(jobs[0], { state: 'booting', attempt: 2 }, 'one new attempt, not two');
    t.is(new Set(second.map((o) => o.token)).size, 1, 'both servers hand out the one attempt 2 token');
    const events = await db.store.listJobEvents(jobs[0]!.id, { kinds: ['state'] });
    t.is(events.filter((e) => /attempt 1 of/.test(e.message)).length, 1, 'one "attempt 1" event');
  });

  test(name("two servers' schedulers ticking at the same moment run a due schedule once"), async (t) => {
    const db = await open(t);
    const ran: string[] = [];
    const clock = { now: () => new Date('2026-12-04T07:00:01Z') };
    const [a, b] = [db.store, await db.another()].map((store) => new Scheduler({ store, log: silentLogger, clock, action: async (s) => (ran.push(s.name), 'ok') }));
    await db.store.createSchedule({
      id: 'once', name: 'once', kind: 'once', at: '2026-12-04T07:00:00.000Z', atLocal: null, cron: null, timezone: null, target: { kind: 'group', id: 'room101' }, productId: null,
      // run-once: the schedulers never ran start(), so the due time counts as missed while down.
      actionRequest: 'setup', properties: {}, wake: true, missedPolicy: 'run-once', lateWindowSeconds: 3600, enabled: true,
      nextRun: '2026-12-04T07:00:00.000Z', lastRun: null, created: '2026-12-01T00:00:00.000Z', modified: '2026-12-01T00:00:00.000Z',
    });
    await Promise.all([a!.tick(), b!.tick(), a!.tick(), b!.tick()]);
    t.deepEqual(ran, ['once']);
    t.is((await db.store.listScheduleRuns('once')).length, 1);
  });
}

// ---- SQLite only: its file and PRAGMA user_version ----

test('sqlite: migrations run once on a new file and are recorded', async (t) => {
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

test('sqlite: migration 4 moves the foreign product states kept in meta rows into their table, and drops those of deleted clients', async (t) => {
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

test('sqlite: a one-shot stored before migration 9 (an instant, no wall time) reads with atLocal null and still runs at its instant', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const old = SqliteStore.open({ path, migrations: migrations.filter((m) => m.version < 9) });
  await old.createGroup({ id: 'room101', description: '' });
  await old.close();
  // As routes.ts wrote it before: the CLI's instant in `at`, no zone.
  const db = new DatabaseSync(path);
  db.prepare(`INSERT INTO schedules(id, name, kind, at, cron, timezone, target_kind, target_id, product_id, action_request, properties, wake, missed_policy,
    late_window_seconds, enabled, next_run, last_run, created, modified) VALUES ('old', 'old', 'once', '2026-12-04T06:00:00.000Z', NULL, NULL, 'group', 'room101', NULL,
    'setup', '{}', 1, 'skip', 3600, 1, '2026-12-04T06:00:00.000Z', NULL, '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z')`).run();
  db.close();
  const s = SqliteStore.open({ path });
  t.teardown(() => s.close());
  t.like(await s.getSchedule('old'), { kind: 'once', at: '2026-12-04T06:00:00.000Z', atLocal: null, timezone: null });
  const ran: string[] = [];
  let now = new Date('2026-12-04T05:59:59Z');
  const scheduler = new Scheduler({ store: s, log: silentLogger, clock: { now: () => now }, action: async (x) => (ran.push(x.name), 'ok') });
  await scheduler.start();
  t.teardown(() => scheduler.stop());
  t.deepEqual(ran, []);
  now = new Date('2026-12-04T06:00:01Z');
  await scheduler.tick();
  t.deepEqual(ran, ['old']);
});

test('sqlite: opening a store drops the rooms operators hold that no longer exist (left by removals before they were cleaned)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'db.sqlite');
  const at = '2026-12-01T00:00:00.000Z';
  const old = SqliteStore.open({ path });
  await old.createGroup({ id: 'room', description: '' });
  await old.createUser({ name: 'jdoe', role: 'operator', groups: ['gone', 'room'], passwordHash: null, created: at, modified: at });
  await old.createUser({ name: 'ann', role: 'operator', groups: ['room'], passwordHash: null, created: at, modified: at });
  await old.close();
  const s = SqliteStore.open({ path });
  await s.close();
  const raw = new DatabaseSync(path);
  t.teardown(() => raw.close());
  t.deepEqual(
    raw.prepare('SELECT name, group_ids, modified FROM users ORDER BY name').all().map((r) => [r['name'], JSON.parse(String(r['group_ids'])), r['modified'] === at]),
    [
      ['ann', ['room'], true],
      ['jdoe', ['room'], false],
    ],
  );
});

// ---- PostgreSQL only: its version table, the collation check, two servers migrating at once ----

test('postgres: an empty database is migrated once even when two servers start at once; a newer schema is refused', async (t) => {
  const url = await theCluster().emptyDatabase();
  const [s1, s2] = await Promise.all([PostgresStore.open({ url }), PostgresStore.open({ url })]);
  t.is(await s1.readSchemaVersion(), LATEST);
  await s1.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  t.is((await s2.listClients()).length, 1);
  await s2.close();
  await s1.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('UPDATE netimage_schema_version SET version = 99');
  await client.end();
  await t.throwsAsync(PostgresStore.open({ url }), { message: /schema version 99 is newer/ });
});

test('postgres: opening a store drops the rooms operators hold that no longer exist', async (t) => {
  const url = await theCluster().emptyDatabase();
  const at = '2026-12-01T00:00:00.000Z';
  const old = await PostgresStore.open({ url });
  await old.createGroup({ id: 'room', description: '' });
  await old.createUser({ name: 'jdoe', role: 'operator', groups: ['gone', 'room', 'old'], passwordHash: null, created: at, modified: at });
  await old.close();
  const s = await PostgresStore.open({ url });
  await s.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  const rows = (await client.query('SELECT group_ids FROM users')).rows;
  t.deepEqual(JSON.parse(String(rows[0]['group_ids'])), ['room']);
});

test('postgres: a database whose collation is not C is refused with the command that makes a right one', async (t) => {
  const admin = new pg.Client({ connectionString: theCluster().url('postgres') });
  await admin.connect();
  const name = `coll${process.pid}`;
  // Any collation but C: the cluster has no language locales, so use ICU's (built into Debian's server).
  await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'`);
  await admin.end();
  await t.throwsAsync(PostgresStore.open({ url: theCluster().url(name) }), { message: /ICU collation; netimage needs C .*LOCALE 'C'/ });
});

test('postgres: two bootservers on one database: one secret and first token, one job for a PC whose config both serve at once, either takes its agent', async (t) => {
  const url = await theCluster().emptyDatabase();
  const [a, b] = await Promise.all([startTestServer({ overrides: { 'store.url': url } }), startTestServer({ overrides: { 'store.url': url } })]);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  t.is([a, b].filter((s) => s.server.initialAdminToken !== null).length, 1, 'one first admin token for the site');
  t.is((await b.api('GET', '/api/v1/clients')).status, 200, "the first server's token works on the second");
  t.is((await b.api('GET', '/api/v1/clients', undefined, { authorization: `Bearer ${[a, b].find((s) => s.server.initialAdminToken)!.server.initialAdminToken}` })).status, 200);

  t.is((await a.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:00:01' })).status, 201);
  t.is((await a.api('PUT', `/api/v1/clients/pc01/products/${ProductId.hwinvent}/action`, { actionRequest: 'setup' })).status, 200);
  const configs = await Promise.all([readBootConfig(a, '52:54:00:00:00:01', null), readBootConfig(b, '52:54:00:00:00:01', null)]);
  const [fromA, fromB] = configs.map(parseNetbootConfig);
  t.truthy(fromA);
  t.deepEqual(fromB, fromA, 'the same job, attempt and token from both servers');
  t.is((await a.server.store.listJobs({ clientId: 'pc01' })).length, 1, 'one job in the shared store');
  const job = await agentCall(b.url, fromA!.token, 'GET', '/job');
  t.is(job.status, 200, "the token server A's config carried works on server B");
});

test('postgres: a connection the server cuts in the middle of a transaction fails that transaction only; the process and the pool go on', async (t) => {
  const url = await theCluster().migratedDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());
  const backend = new PostgresBackend(pool);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const error = await t.throwsAsync(
    backend.transaction(async (db) => {
      const pid = Number((await db.query('SELECT pg_backend_pid() AS pid', [])).rows[0]?.['pid']);
      // As a restart or failover does: the server ends the backend while the transaction holds it.
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      // The connection's error event arrives while no statement is running (an unhandled one ends the process).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await db.query('SELECT 1', []);
    }),
  );
  t.true(error instanceof StoreUnavailableError, `a 503 for the caller, got ${String(error)}`);
  t.is(await backend.transaction(async (db) => Number((await db.query('SELECT 41 + 1 AS n', [])).rows[0]?.['n'])), 42, 'the next transaction gets a working connection');
});

test('postgres: the job event listener closed while it connects again leaves no connection open behind it', async (t) => {
  const url = await theCluster().migratedDatabase();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  t.teardown(() => locker.end());
  const mine = [Number((await admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid), Number((await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)];
  const others = async () =>
    (await admin.query(`SELECT pid, wait_event_type FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND NOT (pid = ANY($1))`, [mine])).rows as { pid: number; wait_event_type: string | null }[];
  const until = async (what: string, done: () => Promise<boolean>) => {
    for (const deadline = Date.now() + 10_000; !(await done()); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const listener = await listenJobEvents({ url, origin: 'test', own: new RecentEventIds(), log: silentLogger, onEvent: () => undefined });
  const [first] = await others();
  t.truthy(first, 'the listener has its connection');
  // Its reconnection's catch-up read waits behind this lock: the connect is under way while close is called.
  await locker.query('BEGIN; LOCK TABLE job_events IN ACCESS EXCLUSIVE MODE');
  await admin.query('SELECT pg_terminate_backend($1)', [first!.pid]);
  await until('the listener connects again and waits for the lock', async () => (await others()).some((o) => o.pid !== first!.pid && o.wait_event_type === 'Lock'));
  const closing = listener.close();
  await locker.query('COMMIT');
  await closing;
  await until('no listener connection is left', async () => (await others()).length === 0);
  t.pass();
});

test('postgres: a job event listener whose handler throws logs it and keeps listening (a throw inside pg\'s socket handler would end the process)', async (t) => {
  const url = await theCluster().migratedDatabase();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const got: number[] = [];
  const errors: unknown[] = [];
  const log: typeof silentLogger = Object.assign(Object.create(silentLogger) as typeof silentLogger, { error: (o: unknown) => void errors.push(o) });
  const listener = await listenJobEvents({
    url,
    origin: 'this-server',
    own: new RecentEventIds(),
    log,
    onEvent: (e) => {
      got.push(e.id);
      if (e.id === 1) throw new Error('a subscriber failed');
    },
  });
  t.teardown(() => listener.close());
  const announce = (id: number) =>
    admin.query('SELECT pg_notify($1, $2)', [
      JOB_EVENTS_CHANNEL,
      JSON.stringify({ origin: 'other-server', id, jobId: 'j1', clientId: 'pc01', productId: 'hwinvent', ts: new Date().toISOString(), kind: 'log', state: null, percent: null, message: `event ${id}` }),
    ]);
  await announce(1);
  await announce(2);
  for (const deadline = Date.now() + 10_000; got.length < 2 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual(got, [1, 2], 'the event after the failing one still arrives');
  t.is(errors.length, 1);
});

test('postgres: an event committed while a starting listener reads the newest id is delivered, not taken for an old one', async (t) => {
  const url = await theCluster().migratedDatabase();
  const store = await PostgresStore.open({ url });
  const ts = new Date().toISOString();
  await store.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await store.createJob({ id: 'j1', clientId: 'pc01', productId: 'hwinvent', actionRequest: 'setup', state: 'running', attempt: 1, maxAttempts: 3, tokenHash: null, percent: null, error: null, created: ts, updated: ts, attemptStarted: ts, finished: null });
  await store.close();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const writer = new pg.Client({ connectionString: url });
  await writer.connect();
  t.teardown(() => writer.end());
  const mine = [Number((await admin.query('SELECT pg_backend_pid() AS pid')).rows[0].pid), Number((await writer.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)];
  // Another server's write, held open: the listener's read of the newest id waits behind it.
  await writer.query('BEGIN; LOCK TABLE job_events IN ACCESS EXCLUSIVE MODE');
  const id = Number((await writer.query(`INSERT INTO job_events(job_id, ts, kind, state, percent, message) VALUES ('j1', $1, 'progress', 'running', 50, 'half') RETURNING id`, [ts])).rows[0].id);
  await writer.query('SELECT pg_notify($1, $2)', [
    JOB_EVENTS_CHANNEL,
    JSON.stringify({ origin: 'other-server', id, jobId: 'j1', clientId: 'pc01', productId: 'hwinvent', ts, kind: 'progress', state: 'running', percent: 50, message: 'half' }),
  ]);
  const got: number[] = [];
  const listening = listenJobEvents({ url, origin: 'this-server', own: new RecentEventIds(), log: silentLogger, onEvent: (e) => void got.push(e.id) });
  for (const deadline = Date.now() + 10_000; ; await new Promise((resolve) => setTimeout(resolve, 20))) {
    const waiting = (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND NOT (pid = ANY($1))`, [mine])).rows.length;
    if (waiting) break;
    if (Date.now() > deadline) throw new Error('the listener never read the newest id');
  }
  // Committed after its LISTEN: announced to it, and its id is the newest the listener then reads.
  await writer.query('COMMIT');
  const listener = await listening;
  t.teardown(() => listener.close());
  for (const deadline = Date.now() + 10_000; got.length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual(got, [id]);
});

registerMigrateTests(theCluster);
