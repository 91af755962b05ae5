import test from 'ava';
import { decideDue, everyToCron, nextRunAfter, checkCron, ScheduleSpecError } from '../../bootserver/schedules/timing.ts';
import type { Schedule } from '../../bootserver/store/types.ts';

test('the short form becomes a cron expression', (t) => {
  t.is(everyToCron('weekdays 07:00'), '0 7 * * 1-5');
  t.is(everyToCron('daily 18:30'), '30 18 * * *');
  t.is(everyToCron('Weekends 9:05'), '5 9 * * 0,6');
  t.is(everyToCron('mon,wed,friday 07:15'), '15 7 * * 1,3,5');
  for (const bad of ['weekdays', 'weekdays 25:00', 'someday 07:00', 'mo 07:00', '07:00', 'daily 7:5']) t.throws(() => everyToCron(bad), { instanceOf: ScheduleSpecError }, bad);
});

test('next run of a recurring schedule honours its time zone; a one-shot runs once', (t) => {
  // 2026-12-04 is a Friday. 07:00 in Berlin (UTC+1 in winter) is 06:00Z.
  const s = { kind: 'cron' as const, at: null, cron: '0 7 * * 1-5', timezone: 'Europe/Berlin' };
  t.is(nextRunAfter(s, new Date('2026-12-04T05:00:00Z'))!.toISOString(), '2026-12-04T06:00:00.000Z');
  t.is(nextRunAfter(s, new Date('2026-12-04T06:00:00Z'))!.toISOString(), '2026-12-07T06:00:00.000Z', 'after Friday 07:00 comes Monday');
  const once = { kind: 'once' as const, at: '2026-12-04T06:00:00.000Z', cron: null, timezone: null };
  t.is(nextRunAfter(once, new Date('2026-12-04T05:59:59Z'))!.toISOString(), once.at);
  t.is(nextRunAfter(once, new Date('2026-12-04T06:00:00Z')), null);
  t.throws(() => checkCron('61 * * * *', null, new Date()), { instanceOf: ScheduleSpecError });
  t.throws(() => checkCron('0 7 * * *', 'Mars/Olympus', new Date()), { instanceOf: ScheduleSpecError });
});

function schedule(over: Partial<Schedule>): Schedule {
  return {
    id: 'x', name: 'x', kind: 'cron', at: null, atLocal: null, cron: '0 7 * * *', timezone: 'UTC', target: { kind: 'group', id: 'room101' }, productId: 'hwinvent',
    actionRequest: 'setup', properties: {}, wake: false, missedPolicy: 'skip', lateWindowSeconds: 3600, enabled: true,
    nextRun: '2026-12-04T07:00:00.000Z', lastRun: null, created: '', modified: '', ...over,
  };
}

test('due decisions: on time while up; missed while down follows the policy; missed occurrences collapse into one', (t) => {
  const started = new Date('2026-12-04T06:00:00Z');
  t.deepEqual(decideDue(schedule({}), new Date('2026-12-04T06:59:59Z'), started), { kind: 'wait' });
  const onTime = decideDue(schedule({}), new Date('2026-12-04T07:00:03Z'), started);
  t.like(onTime, { kind: 'run', late: false });
  t.is((onTime as { next: Date }).next.toISOString(), '2026-12-05T07:00:00.000Z');

  // The server was down from Dec 4 06:30 to Dec 7 07:20: three 07:00 runs missed.
  const up = new Date('2026-12-07T07:20:00Z');
  const skip = decideDue(schedule({}), up, up);
  t.like(skip, { kind: 'skip' });
  t.regex((skip as { reason: string }).reason, /policy skip/);
  t.is((skip as { next: Date }).next.toISOString(), '2026-12-08T07:00:00.000Z', 'the next one is tomorrow, not a backlog');
  t.like(decideDue(schedule({ missedPolicy: 'run-once' }), up, up), { kind: 'skip' }, 'run-once: the due run is 3 days late, past the 1 h window');
  const late = decideDue(schedule({ missedPolicy: 'run-once', nextRun: '2026-12-07T07:00:00.000Z' }), up, up);
  t.like(late, { kind: 'run', late: true });
  t.is((late as { next: Date }).next.toISOString(), '2026-12-08T07:00:00.000Z');

  t.deepEqual(decideDue(schedule({ enabled: false }), up, up), { kind: 'wait' });
  t.like(decideDue(schedule({ kind: 'once', at: '2026-12-04T07:00:00.000Z', cron: null }), new Date('2026-12-04T07:00:01Z'), started), { kind: 'run', next: null });
});

test('a one-shot keeps its wall time and zone: the instant is worked out when it is planned, DST days included; old schedules with only an instant still run', (t) => {
  // 2027-03-28: Berlin skips 02:00-03:00; 2027-10-31: 02:00-03:00 comes twice.
  const once = (atLocal: string, timezone: string | null) => ({ kind: 'once' as const, at: null, atLocal, cron: null, timezone });
  t.is(nextRunAfter(once('2027-03-28T07:00:00', 'Europe/Berlin'), new Date('2027-03-01T00:00:00Z'))!.toISOString(), '2027-03-28T05:00:00.000Z', 'summer time from that morning');
  t.is(nextRunAfter(once('2027-03-27T07:00:00', 'Europe/Berlin'), new Date('2027-03-01T00:00:00Z'))!.toISOString(), '2027-03-27T06:00:00.000Z', 'winter time the day before');
  t.is(nextRunAfter(once('2027-03-28T02:30:00', 'Europe/Berlin'), new Date('2027-03-01T00:00:00Z'))!.toISOString(), '2027-03-28T01:30:00.000Z', 'a time in the gap moves on by the gap (03:30 CEST)');
  t.is(nextRunAfter(once('2027-10-31T02:30:00', 'Europe/Berlin'), new Date('2027-10-01T00:00:00Z'))!.toISOString(), '2027-10-31T00:30:00.000Z', 'a time that comes twice is the first');
  t.is(nextRunAfter(once('2027-10-31T07:00:00', 'America/New_York'), new Date('2027-10-01T00:00:00Z'))!.toISOString(), '2027-10-31T11:00:00.000Z');
  // The instant stored when it was made (here as if the zone had no summer time) does not decide:
  // the wall time in the zone does.
  const stale = schedule({ kind: 'once', at: '2027-03-28T06:00:00.000Z', atLocal: '2027-03-28T07:00:00', cron: null, timezone: 'Europe/Berlin', nextRun: '2027-03-28T06:00:00.000Z' });
  const started = new Date('2027-03-28T00:00:00Z');
  t.deepEqual(decideDue(stale, new Date('2027-03-28T04:59:59Z'), started), { kind: 'wait' });
  const due = decideDue(stale, new Date('2027-03-28T05:00:01Z'), started);
  t.like(due, { kind: 'run', late: false, next: null });
  t.is((due as { due: Date }).due.toISOString(), '2027-03-28T05:00:00.000Z');
  // Stored before wall times were kept: `at` is the instant, as before.
  const old = schedule({ kind: 'once', at: '2027-03-28T06:00:00.000Z', atLocal: null, cron: null, timezone: null, nextRun: '2027-03-28T06:00:00.000Z' });
  t.deepEqual(decideDue(old, new Date('2027-03-28T05:00:01Z'), started), { kind: 'wait' });
  t.like(decideDue(old, new Date('2027-03-28T06:00:01Z'), started), { kind: 'run', next: null });
});
