// The scheduler loop with an injectable clock over the real SQLite store: what a restart after
// downtime does with missed runs, and that a claimed run is never repeated.
import test from 'ava';
import { join } from 'node:path';
import { SqliteStore } from '../../bootserver/store/sqlite.ts';
import { Scheduler, type Clock } from '../../bootserver/schedules/scheduler.ts';
import { createLogger } from '../../lib/logger.ts';
import type { Schedule } from '../../bootserver/store/types.ts';
import { tempDir } from '../helpers/tempdir.ts';

class FakeClock implements Clock {
  t: number;
  constructor(iso: string) {
    this.t = Date.parse(iso);
  }
  now() {
    return new Date(this.t);
  }
}

const log = createLogger({ level: 'silent' });

function schedule(name: string, over: Partial<Schedule>): Schedule {
  return {
    id: name, name, kind: 'cron', at: null, atLocal: null, cron: '0 7 * * *', timezone: 'UTC', target: { kind: 'group', id: 'room101' }, productId: null,
    actionRequest: 'setup', properties: {}, wake: true, missedPolicy: 'skip', lateWindowSeconds: 3600, enabled: true,
    nextRun: '2026-12-04T07:00:00.000Z', lastRun: null, created: '2026-12-01T00:00:00.000Z', modified: '2026-12-01T00:00:00.000Z', ...over,
  };
}

async function setup(t: import('ava').ExecutionContext, clock: FakeClock) {
  const path = join(await tempDir(t, 'sched'), 'store.sqlite');
  let store = SqliteStore.open({ path });
  const ran: string[] = [];
  const scheduler = (s: SqliteStore) => new Scheduler({ store: s, log, clock, action: async (sch) => (ran.push(sch.name), `did ${sch.name}`) });
  let current = scheduler(store);
  t.teardown(async () => {
    await current.stop();
    await store.close();
  });
  return {
    get store() {
      return store;
    },
    ran,
    current: () => current,
    /** Stop the "server", let time pass, start a new one on the same file. */
    async restartAt(iso: string) {
      await current.stop();
      await store.close();
      clock.t = Date.parse(iso);
      store = SqliteStore.open({ path });
      current = scheduler(store);
      await current.start();
    },
  };
}

test('missed while down: skip records a skipped run and acts not; run-once acts once, late, within its window', async (t) => {
  const clock = new FakeClock('2026-12-04T06:00:00Z');
  const s = await setup(t, clock);
  await s.store.createSchedule(schedule('skipper', {}));
  await s.store.createSchedule(schedule('catcher', { missedPolicy: 'run-once', lateWindowSeconds: 7200 }));
  await s.store.createSchedule(schedule('too-late', { missedPolicy: 'run-once', lateWindowSeconds: 60 }));
  await s.current().start();
  t.deepEqual(s.ran, [], 'nothing due at 06:00');

  await s.restartAt('2026-12-04T07:30:00Z'); // down over 07:00
  t.deepEqual(s.ran, ['catcher']);
  const runs = async (name: string) => s.store.listScheduleRuns(name);
  t.like((await runs('catcher'))[0], { outcome: 'ran', due: '2026-12-04T07:00:00.000Z' });
  t.regex((await runs('catcher'))[0]!.message, /late run .*run-once.*did catcher/);
  t.like((await runs('skipper'))[0], { outcome: 'skipped' });
  t.regex((await runs('skipper'))[0]!.message, /policy skip/);
  t.regex((await runs('too-late'))[0]!.message, /past the run-once window of 60 s/);
  for (const name of ['skipper', 'catcher', 'too-late']) t.is((await s.store.getSchedule(name))!.nextRun, '2026-12-05T07:00:00.000Z');

  // More ticks at the same time change nothing: each run was claimed once.
  await s.current().tick();
  await s.current().tick();
  t.deepEqual(s.ran, ['catcher']);
  t.is((await runs('catcher')).length, 1);

  // Next day, server up: every schedule runs on time, policy irrelevant.
  clock.t = Date.parse('2026-12-05T07:00:02Z');
  await s.current().tick();
  t.deepEqual([...s.ran].sort(), ['catcher', 'catcher', 'skipper', 'too-late']);
});

test('a one-shot runs once and is then done; a disabled schedule never runs', async (t) => {
  const clock = new FakeClock('2026-12-04T06:00:00Z');
  const s = await setup(t, clock);
  await s.store.createSchedule(schedule('once', { kind: 'once', at: '2026-12-04T06:00:05.000Z', cron: null, nextRun: '2026-12-04T06:00:05.000Z' }));
  await s.store.createSchedule(schedule('off', { enabled: false, nextRun: '2026-12-04T06:00:05.000Z' }));
  await s.current().start();
  clock.t += 4000;
  await s.current().tick();
  t.deepEqual(s.ran, []);
  clock.t += 2000;
  await Promise.all([s.current().tick(), s.current().tick()]);
  clock.t += 86_400_000;
  await s.current().tick();
  t.deepEqual(s.ran, ['once'], 'exactly once, even with two ticks racing');
  t.like(await s.store.getSchedule('once'), { nextRun: null, lastRun: '2026-12-04T06:00:06.000Z' });
  t.is((await s.store.listScheduleRuns('off')).length, 0);
});

test('a failing action is recorded as failed and the schedule moves on', async (t) => {
  const clock = new FakeClock('2026-12-04T06:59:59Z');
  const path = join(await tempDir(t, 'sched'), 'store.sqlite');
  const store = SqliteStore.open({ path });
  const scheduler = new Scheduler({ store, log, clock, action: async () => { throw new Error('group room101 has no clients'); } });
  t.teardown(async () => {
    await scheduler.stop();
    await store.close();
  });
  await store.createSchedule(schedule('broken', {}));
  await scheduler.start();
  clock.t += 2000;
  const [run] = await scheduler.tick();
  t.like(run, { outcome: 'failed', message: 'group room101 has no clients' });
  t.is((await store.getSchedule('broken'))!.nextRun, '2026-12-05T07:00:00.000Z');
});

test('a start re-plans one-shots from their wall time and zone: a next run worked out under other rules is corrected, old ones are left alone', async (t) => {
  const clock = new FakeClock('2027-03-01T00:00:00Z');
  const s = await setup(t, clock);
  // As if worked out where Berlin had no summer time: 07:00 at +01:00.
  await s.store.createSchedule(schedule('dst', { kind: 'once', at: '2027-03-28T06:00:00.000Z', atLocal: '2027-03-28T07:00:00', cron: null, timezone: 'Europe/Berlin', nextRun: '2027-03-28T06:00:00.000Z' }));
  await s.store.createSchedule(schedule('old', { kind: 'once', at: '2027-03-28T06:00:00.000Z', atLocal: null, cron: null, timezone: null, nextRun: '2027-03-28T06:00:00.000Z' }));
  await s.current().start();
  t.like(await s.store.getSchedule('dst'), { at: '2027-03-28T05:00:00.000Z', nextRun: '2027-03-28T05:00:00.000Z', atLocal: '2027-03-28T07:00:00' });
  t.like(await s.store.getSchedule('old'), { nextRun: '2027-03-28T06:00:00.000Z' }, 'an instant-only one-shot keeps its instant');
  clock.t = Date.parse('2027-03-28T05:00:02Z');
  await s.current().tick();
  t.deepEqual(s.ran, ['dst']);
});
