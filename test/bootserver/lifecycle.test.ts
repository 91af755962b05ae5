import test from 'ava';
import {
  agentTokenUse,
  configReadEffect,
  FINAL_LOG_GRACE_MS,
  startJob,
  transition,
  productStateAfter,
  isTerminal,
  TERMINAL_STATES,
  type JobEvent,
  type JobSnapshot,
} from '../../bootserver/jobs/lifecycle.ts';
import type { JobState, ProductOnClient } from '../../bootserver/store/types.ts';

const events: JobEvent[] = [
  { type: 'bootConfigRead' },
  { type: 'agentStarted' },
  { type: 'progress', percent: 10, message: 'x' },
  { type: 'succeeded' },
  { type: 'failed', error: 'boom' },
  { type: 'cancelled', reason: 'admin' },
];

const job = (state: JobState, attempt = 1, maxAttempts = 3): JobSnapshot => ({ state, attempt, maxAttempts });

test('a new job starts booting at attempt 1; bad limits are refused', (t) => {
  t.deepEqual(startJob(3), { state: 'booting', attempt: 1, maxAttempts: 3 });
  t.throws(() => startJob(0), { instanceOf: RangeError });
});

// The full table: every state x every event.
const expected: Record<'booting' | 'running', Record<JobEvent['type'], JobState>> = {
  booting: { bootConfigRead: 'booting', agentStarted: 'running', progress: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' },
  running: { bootConfigRead: 'booting', agentStarted: 'running', progress: 'running', succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' },
};
for (const from of ['booting', 'running'] as const) {
  for (const event of events) {
    test(`${from} --${event.type}--> ${expected[from][event.type]}`, (t) => {
      const r = transition(job(from), event);
      t.true(r.ok);
      if (!r.ok) return;
      t.is(r.next.state, expected[from][event.type]);
      t.is(r.terminal, isTerminal(r.next.state));
      // Only a read after the agent started counts a new attempt (a booting one is re-served).
      const counts = event.type === 'bootConfigRead' && from === 'running';
      t.is(r.newAttempt, counts);
      t.is(r.next.attempt, counts ? 2 : 1);
      if (event.type === 'failed') t.is(r.error, 'boom');
    });
  }
}

for (const from of TERMINAL_STATES) {
  test(`terminal ${from} refuses every event`, (t) => {
    for (const event of events) {
      const r = transition(job(from), event);
      t.false(r.ok, `${from} accepted ${event.type}`);
      if (!r.ok) t.regex(r.reason, new RegExp(`job is ${from}`));
    }
  });
}

test('a reboot at the last attempt exhausts the job with a reason', (t) => {
  const r = transition(job('running', 3, 3), { type: 'bootConfigRead' });
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.next.state, 'exhausted');
  t.true(r.terminal);
  t.false(r.newAttempt);
  t.is(r.error, 'no result after 3 boot attempts');
});

test('config reads while the attempt is booting never count, however many: a spoofed read cannot exhaust a job', (t) => {
  let snapshot = job('booting', 1, 2);
  for (let i = 0; i < 10; i++) {
    t.is(configReadEffect(snapshot), 'reserve');
    const r = transition(snapshot, { type: 'bootConfigRead' });
    if (!r.ok) return t.fail(r.reason);
    t.deepEqual(r.next, snapshot);
    t.false(r.newAttempt);
    snapshot = r.next;
  }
  t.is(configReadEffect(job('booting', 2, 2)), 'reserve', 'not even at the last attempt');
});

test('a read after the agent started is a power loss: next attempt, or exhausted at the last one', (t) => {
  t.is(configReadEffect(job('running', 1, 2)), 'newAttempt');
  t.is(configReadEffect(job('running', 2, 2)), 'exhausted');
});

const finished = (state: JobState, at = 1_000_000) => ({ state, finished: new Date(at).toISOString() });

test('an active job token may be used for everything', (t) => {
  for (const state of ['booting', 'running'] as const) {
    for (const use of ['work', 'result', 'finalLog'] as const) t.true(agentTokenUse({ state, finished: null }, use, { now: 0, logStored: true }).ok, `${state} ${use}`);
  }
});

test('a finished job token: result resends always, work never', (t) => {
  for (const state of TERMINAL_STATES) {
    t.true(agentTokenUse(finished(state), 'result', { now: 9e15, logStored: true }).ok, state);
    const work = agentTokenUse(finished(state), 'work', { now: 1_000_001, logStored: false });
    t.false(work.ok, state);
    if (!work.ok) t.regex(work.reason, new RegExp(`job is ${state}: its token no longer works`));
  }
});

test('a finished job token: one final log after a reported result, within the grace window', (t) => {
  const at = 1_000_000;
  for (const state of ['succeeded', 'failed'] as const) {
    t.true(agentTokenUse(finished(state, at), 'finalLog', { now: at + FINAL_LOG_GRACE_MS, logStored: false }).ok);
    t.false(agentTokenUse(finished(state, at), 'finalLog', { now: at + FINAL_LOG_GRACE_MS + 1, logStored: false }).ok, 'too late');
    t.false(agentTokenUse(finished(state, at), 'finalLog', { now: at + 1, logStored: true }).ok, 'only once');
  }
  for (const state of ['cancelled', 'exhausted'] as const) t.false(agentTokenUse(finished(state, at), 'finalLog', { now: at + 1, logStored: false }).ok, `${state}: no result, no log`);
  t.false(agentTokenUse({ state: 'succeeded', finished: null }, 'finalLog', { now: at, logStored: false }).ok, 'no finish time: refused');
});

const poc: ProductOnClient = {
  clientId: 'pc01', productId: 'opsi-local-image-restore', actionRequest: 'setup', installationStatus: 'not_installed',
  actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: 'then',
};
const ctx = { attempt: 1, actionRequest: 'setup' as const, productVersion: '4.3.0-1', now: 'now' };

test('success sets installed/successful/none/lastAction like opsi', (t) => {
  t.like(productStateAfter(poc, { type: 'succeeded' }, ctx), { installationStatus: 'installed', actionResult: 'successful', actionRequest: 'none', lastAction: 'setup', productVersion: '4.3.0-1', actionProgress: '' });
});

test("success of an 'always' request keeps it", (t) => {
  t.is(productStateAfter({ ...poc, actionRequest: 'always' }, { type: 'succeeded' }, { ...ctx, actionRequest: 'always' }).actionRequest, 'always');
});

test('failure keeps the error and clears the request', (t) => {
  t.like(productStateAfter(poc, { type: 'failed', error: 'disk too small' }, ctx), { actionResult: 'failed', actionRequest: 'none', lastAction: 'setup', actionProgress: 'failed: disk too small', installationStatus: 'unknown' });
});

test('config read and progress only change actionProgress (the request stays pending)', (t) => {
  const read = productStateAfter(poc, { type: 'bootConfigRead' }, { ...ctx, attempt: 2 });
  t.is(read.actionRequest, 'setup');
  t.is(read.actionProgress, 'boot configuration read (attempt 2)');
  const prog = productStateAfter(poc, { type: 'progress', percent: 42.4, message: 'restoring' }, ctx);
  t.is(prog.actionRequest, 'setup');
  t.is(prog.actionProgress, '42% restoring');
});

test('exhausted (config read with an error) fails the product state', (t) => {
  t.like(productStateAfter(poc, { type: 'bootConfigRead' }, { ...ctx, error: 'no result after 3 boot attempts' }), { actionResult: 'failed', actionRequest: 'none' });
});
