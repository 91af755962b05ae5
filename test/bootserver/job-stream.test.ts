import test from 'ava';
import { join } from 'node:path';
import { JobEventBus, type LiveJobEvent } from '../../bootserver/service/event-bus.ts';
import { openJobStream } from '../../bootserver/service/job-stream.ts';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { tempDir } from '../helpers/tempdir.ts';

const ts = '2026-12-05T00:00:00.000Z';
const event = (id: number, message: string): LiveJobEvent => ({ id, jobId: 'j1', clientId: 'pc01', productId: 'hwinvent', state: 'running', kind: 'progress', percent: 50, message, ts });

async function storeWithJob(t: Parameters<typeof tempDir>[0]) {
  const store = SqliteStore.open({ path: join(await tempDir(t, 'job-stream'), 'db.sqlite') });
  t.teardown(() => store.close());
  await store.createClient({ id: 'pc01', mac: '52:54:00:00:00:01' });
  await store.createJob({ id: 'j1', clientId: 'pc01', productId: 'hwinvent', actionRequest: 'setup', state: 'running', attempt: 1, maxAttempts: 3, tokenHash: null, percent: null, error: null, created: ts, updated: ts, attemptStarted: ts, finished: null });
  return store;
}

test('a live event with a lower id than one already sent is sent (another server\'s event can arrive after a later local one)', async (t) => {
  const store = await storeWithJob(t);
  const bus = new JobEventBus();
  const sent: number[] = [];
  const stream = openJobStream(store, bus, {}, (e) => void sent.push(e.id));
  t.teardown(() => stream.close());
  await stream.ready;
  bus.publish(event(12, 'local, committed second'));
  bus.publish(event(11, 'remote, committed first'));
  t.deepEqual(sent, [12, 11]);
});

test('a job filter replays the stored history, then the events held meanwhile, each once; a late lower id after that still comes', async (t) => {
  const store = await storeWithJob(t);
  const first = await store.addJobEvent({ jobId: 'j1', ts, kind: 'state', state: 'running', percent: null, message: 'attempt 1 of 3' });
  const second = await store.addJobEvent({ jobId: 'j1', ts, kind: 'progress', state: 'running', percent: 10, message: 'reading' });
  const bus = new JobEventBus();
  const sent: number[] = [];
  const stream = openJobStream(store, bus, { job: 'j1' }, (e) => void sent.push(e.id));
  t.teardown(() => stream.close());
  // While the history is read: one event it also has, one it does not, one of another job.
  bus.publish({ ...event(second.id, 'reading'), percent: 10 });
  bus.publish(event(second.id + 2, 'newer'));
  bus.publish({ ...event(second.id + 3, 'other job'), jobId: 'j2' });
  await stream.ready;
  t.deepEqual(sent, [first.id, second.id, second.id + 2]);
  bus.publish(event(second.id + 1, 'from the other server, late'));
  t.deepEqual(sent, [first.id, second.id, second.id + 2, second.id + 1]);
});

test('a job filter replays the whole history of a long job, its end too (more events than one read of the store returns)', async (t) => {
  const store = await storeWithJob(t);
  // 12 000 events: an OS install logs each line of its apt output as an event; the store's reads stop at 10 000.
  const n = 12_000;
  for (let i = 0; i < n - 1; i++) await store.addJobEvent({ jobId: 'j1', ts, kind: 'log', state: 'running', percent: null, message: `line ${i}` });
  const end = await store.addJobEvent({ jobId: 'j1', ts, kind: 'state', state: 'succeeded', percent: 100, message: 'succeeded' });
  const sent: LiveJobEvent[] = [];
  const stream = openJobStream(store, new JobEventBus(), { job: 'j1' }, (e) => void sent.push(e));
  t.teardown(() => stream.close());
  await stream.ready;
  t.is(sent.length, n);
  t.is(new Set(sent.map((e) => e.id)).size, n, 'each once');
  t.true(sent.every((e, i) => i === 0 || e.id > sent[i - 1]!.id), 'in order');
  t.like(sent.at(-1), { id: end.id, state: 'succeeded', clientId: 'pc01', productId: 'hwinvent' });
});
