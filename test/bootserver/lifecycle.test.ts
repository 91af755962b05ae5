import test from 'ava';
import { startJob, transition, productStateAfter, isTerminal, TERMINAL_STATES, type JobEvent, type JobSnapshot } from '../../bootserver/jobs/lifecycle.ts';
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
      t.is(r.newAttempt, event.type === 'bootConfigRead');
      t.is(r.next.attempt, event.type === 'bootConfigRead' ? 2 : 1);
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
