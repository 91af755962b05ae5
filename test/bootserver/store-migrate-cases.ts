// `netimage store migrate --to postgres://…`: registered by store.test.ts, which owns the one
// PostgreSQL cluster of the run. The CLI runs as a user runs it (a child process).
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { PostgresStore } from '../../bootserver/store/postgres.ts';
import { verifyCopy } from '../../bootserver/store/copy.ts';
import type { SqlStore } from '../../bootserver/store/sql-store.ts';
import type { Schedule } from '../../bootserver/store/types.ts';
import { CLI, type CliFailure } from '../helpers/cli.ts';
import type { PgCluster } from '../helpers/pg-cluster.ts';
import { tempDir } from '../helpers/tempdir.ts';

const exec = promisify(execFile);

/** A store with a row in every table, some values that need care (REAL, NULL, JSON, unicode, serial ids). */
async function filled(s: SqlStore): Promise<{ jobId: string }> {
  const ts = '2026-12-01T10:00:00.000Z';
  await s.setMeta('server_secret', 'ab'.repeat(32));
  await s.addAdminTokenHash('f'.repeat(64), 'created at first start');
  await s.createGroup({ id: 'room101', description: 'Raum 101 – Süd' });
  await s.setGroupWakeTarget('room101', { broadcast: '10.1.101.255', port: 9 });
  await s.upsertProduct({ id: 'p', version: '1.0-2', name: 'p', description: '', priority: 5, destructive: true, properties: [] });
  await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01', group: 'room101', description: 'ünïcode' });
  await s.createClient({ id: 'pc02', uuid: '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d' });
  await s.updateClient('pc01', { inventory: { memoryBytes: 8589934592, disks: [{ size: 1.5 }] } });
  await s.putProductOnClient({ clientId: 'pc01', productId: 'p', actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: ts });
  await s.putForeignProductState({ clientId: 'pc01', productId: 'windomain', actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful', actionProgress: '', lastAction: 'setup', productVersion: '4.3-1', modified: ts });
  await s.setPropertyValues('pc01', 'p', { imagefile: 'win10', imagefiles_list: ['win10', 'win11'], free_on_backup: true });
  await s.replaceClientImages('pc01', [
    { clientId: 'pc01', name: 'win10', sizeBytes: 6 * 2 ** 30, createdAt: ts, sourcePartition: '/dev/sda3', fsType: 'ntfs', format: 'stream', reported: ts },
    { clientId: 'pc01', name: 'win11', sizeBytes: 1, createdAt: null, sourcePartition: null, fsType: 'ntfs', format: 'chunked', reported: ts },
  ]);
  const jobId = randomUUID();
  await s.createJob({ id: jobId, clientId: 'pc01', productId: 'p', actionRequest: 'setup', state: 'running', attempt: 2, maxAttempts: 3, tokenHash: 'h'.repeat(64), percent: 33.3, error: null, created: ts, updated: ts, attemptStarted: ts, finished: null });
  for (const message of ['one', 'two', 'three']) await s.addJobEvent({ jobId, ts, kind: 'progress', state: 'running', percent: 12.5, message });
  await s.putJobLog(jobId, 'line 1\nline 2\n');
  await s.putWakeRecord({ clientId: 'pc01', status: 'woke', source: 'api', address: '10.1.101.255:9', sent: ts, deadline: ts, updated: ts });
  const schedule: Schedule = { id: randomUUID(), name: 'morning', kind: 'cron', at: null, atLocal: null, cron: '0 7 * * 1-5', timezone: 'Europe/Berlin', target: { kind: 'group', id: 'room101' }, productId: 'p', actionRequest: 'setup', properties: { imagefile: 'win10' }, wake: true, missedPolicy: 'run-once', lateWindowSeconds: 600, enabled: true, nextRun: ts, lastRun: null, created: ts, modified: ts };
  await s.createSchedule(schedule);
  await s.addScheduleRun({ scheduleId: schedule.id, due: ts, handled: ts, outcome: 'ran', message: '' });
  await s.createUser({ name: 'anna', role: 'operator', groups: ['room101'], passwordHash: '$y$j9T$salt$hash', created: ts, modified: ts });
  await s.addUserToken({ hash: 'e'.repeat(64), userName: 'anna', name: 'laptop', created: ts, lastUsed: null });
  await s.createSession({ hash: 'd'.repeat(64), userName: 'anna', csrfToken: 'c'.repeat(32), created: ts, lastSeen: ts, idleSeconds: 1800, expires: ts, source: '10.0.0.5' });
  await s.putOsInstall({ jobId, clientId: 'pc01', productId: 'p', state: 'waiting', tokenHash: 'b'.repeat(64), tokenExpires: ts, deadline: ts, report: null, updated: ts });
  for (const status of [200, 403]) await s.addAudit({ ts, actor: 'anna', role: 'operator', via: 'ui', source: '10.0.0.5', method: 'POST', route: '/api/v1/groups/:id/action', clients: ['pc01'], detail: { productId: 'p' }, status });
  return { jobId };
}

/** A data dir holding a filled SQLite store, and a config file naming it. */
async function sqliteSite(t: ExecutionContext): Promise<{ config: string; path: string; jobId: string }> {
  const dir = await tempDir(t, 'store-migrate');
  const path = join(dir, 'data', 'netimage.sqlite');
  const s = SqliteStore.open({ path });
  const { jobId } = await filled(s);
  await s.close();
  const config = join(dir, 'netimage.yaml');
  await writeFile(config, `dataDir: ${join(dir, 'data')}\n`);
  return { config, path, jobId };
}

const migrate = (config: string, url: string, ...extra: string[]) => exec(process.execPath, [CLI, 'store', 'migrate', '--config', config, '--to', url, ...extra], { env: { ...process.env, NETIMAGE_STORE_URL: '' } });

async function pgQuery(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export function registerMigrateTests(cluster: () => PgCluster): void {
  test('store migrate: every table is copied and verified (counts and hashes); the PostgreSQL store then holds the same data and continues the ids', async (t) => {
    const site = await sqliteSite(t);
    const url = await cluster().emptyDatabase();
    const { stdout } = await migrate(site.config, url);
    for (const table of ['meta', 'groups', 'clients', 'products', 'product_on_client', 'property_values', 'jobs', 'job_events', 'job_logs', 'admin_tokens', 'group_wake_targets', 'wake_records', 'schedules', 'schedule_runs', 'foreign_product_states', 'users', 'user_tokens', 'sessions', 'audit_log', 'os_installs', 'client_images']) {
      t.regex(stdout, new RegExp(`✔ ${table} +\\d+ rows  sha256 [0-9a-f]{16}`), table);
    }
    t.notRegex(stdout, /✘/);
    t.regex(stdout, /every table matches/);

    const sqlite = SqliteStore.open({ path: site.path });
    const postgres = await PostgresStore.open({ url });
    t.teardown(async () => {
      await sqlite.close();
      await postgres.close();
    });
    t.deepEqual(await postgres.listClients(), await sqlite.listClients());
    t.deepEqual(await postgres.getJob(site.jobId), await sqlite.getJob(site.jobId));
    t.deepEqual(await postgres.listJobEvents(site.jobId), await sqlite.listJobEvents(site.jobId));
    t.deepEqual(await postgres.getPropertyValues('pc01', 'p'), await sqlite.getPropertyValues('pc01', 'p'));
    t.deepEqual(await postgres.listClientImages('pc01'), await sqlite.listClientImages('pc01'));
    t.is((await postgres.listClientImages('pc01'))[0]!.sizeBytes, 6 * 2 ** 30, 'past 4 GiB, a number again');
    t.deepEqual(await postgres.listSchedules(), await sqlite.listSchedules());
    t.is(await postgres.getMeta('server_secret'), 'ab'.repeat(32), 'the server secret moves: job tokens stay valid');
    const next = await postgres.addJobEvent({ jobId: site.jobId, ts: new Date().toISOString(), kind: 'log', state: 'running', percent: null, message: 'after the move' });
    t.is(next.id, 4, 'new event ids continue after the copied ones');
    t.deepEqual(await postgres.listAudit(), await sqlite.listAudit());
    t.deepEqual(await postgres.getSession('d'.repeat(64)), await sqlite.getSession('d'.repeat(64)));
  });

  test('store migrate: a non-empty target is refused and left as it was; --replace empties it and copies', async (t) => {
    const site = await sqliteSite(t);
    const url = await cluster().migratedDatabase();
    const other = await PostgresStore.open({ url });
    await other.createClient({ id: 'elsewhere', mac: '52:54:00:99:99:99' });
    await other.close();

    const refused = await t.throwsAsync<CliFailure>(migrate(site.config, url));
    t.is(refused.code, 1);
    t.regex(refused.stderr, /target database is not empty: clients \(1\); nothing was copied \(--replace empties it first\)/);
    t.deepEqual((await pgQuery(url, 'SELECT id FROM clients')).rows, [{ id: 'elsewhere' }], 'the target is unchanged');

    const { stdout } = await migrate(site.config, url, '--replace');
    t.regex(stdout, /every table matches/);
    t.deepEqual((await pgQuery(url, 'SELECT id FROM clients ORDER BY id')).rows, [{ id: 'pc01' }, { id: 'pc02' }]);
  });

  test('store migrate: the verification sees a changed value or a missing row', async (t) => {
    const site = await sqliteSite(t);
    const url = await cluster().emptyDatabase();
    await migrate(site.config, url);
    await pgQuery(url, "UPDATE job_logs SET text = 'line 1\nline 2'");
    await pgQuery(url, 'DELETE FROM schedule_runs');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    t.teardown(() => client.end());
    const bad = (await verifyCopy(site.path, client)).filter((c) => !c.ok);
    t.deepEqual(
      bad.map((c) => [c.table, c.sourceRows, c.targetRows]),
      [
        ['job_logs', 1, 1],
        ['schedule_runs', 1, 0],
      ],
    );
  });

  test('store migrate: no --to, or not a postgres:// URL, is a usage error', async (t) => {
    const site = await sqliteSite(t);
    const noTo = await t.throwsAsync<CliFailure>(exec(process.execPath, [CLI, 'store', 'migrate', '--config', site.config]));
    t.is(noTo.code, 2);
    const mysql = await t.throwsAsync<CliFailure>(migrate(site.config, 'mysql://x/y'));
    t.is(mysql.code, 2);
    t.regex(mysql.stderr, /needs --to postgres:\/\//);
  });
}
