import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { migrations } from '../../bootserver/store/migrations.ts';
import { StoreConflictError } from '../../bootserver/store/types.ts';

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

test('deleting a client removes its states, values and jobs', async (t) => {
  const s = open();
  await s.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await s.upsertProduct({ id: 'p', version: '1', name: 'p', description: '', priority: 1, destructive: false, properties: [] });
  await s.setPropertyValues('pc01', 'p', { a: 'b' });
  await s.deleteClient('pc01');
  t.deepEqual(await s.getPropertyValues('pc01', 'p'), {});
});
