// The per-PC state behind `netimage room restore --follow` (pure): which events count, when the
// room is done, and the summary.
import test from 'ava';
import { RoomProgress, formatDuration, summaryText } from '../../bootserver/cli/room-progress.ts';

const RESTORE = 'opsi-local-image-restore';
const event = (clientId: string, state: string, percent: number | null, message: string, extra: { productId?: string; kind?: string } = {}) => ({
  ts: '2026-12-01T10:00:00.000Z',
  clientId,
  productId: extra.productId ?? RESTORE,
  state,
  kind: extra.kind ?? 'state',
  percent,
  message,
});

test('only restore events of the room change a line; an ended PC stays ended', (t) => {
  const room = new RoomProgress(['pc01', 'pc02'], RESTORE);
  t.false(room.apply(event('pc09', 'running', 10, 'not in the room')));
  t.false(room.apply(event('pc01', 'running', 10, 'a backup', { productId: 'opsi-local-image-backup' })));
  t.false(room.apply(event('pc01', 'running', 10, 'a log line', { kind: 'log' })));
  t.regex(room.line('pc01'), /^pc01\s+waiting\s+\[\.{20}\]\s+0%/);
  t.true(room.apply(event('pc01', 'running', 55, 'restoring', { kind: 'progress' })));
  t.regex(room.line('pc01'), /^pc01\s+running\s+\[#{11}\.{9}\]\s+55%\s+restoring$/);
  t.true(room.apply(event('pc01', 'failed', null, 'failed: no disk')));
  t.false(room.apply(event('pc01', 'booting', null, 'boot configuration read (attempt 2 of 3)')));
  t.false(room.done());
  t.true(room.apply(event('pc02', 'succeeded', null, 'succeeded')));
  t.true(room.done());
  t.regex(room.line('pc02'), /100%/);
  t.deepEqual(room.summary(), { succeeded: ['pc02'], failed: [{ clientId: 'pc01', state: 'failed', error: 'failed: no disk' }] });
  t.is(summaryText(room.summary(), 75), '1 succeeded, 1 failed in 1m15s\n  pc01: failed: no disk');
  t.is(formatDuration(9.4), '9s');
});

test('after the stream was away, the listed jobs bring each PC up to date; an ended PC stays ended', (t) => {
  const job = (clientId: string, state: string, percent: number | null, error: string | null = null, productId = RESTORE) => ({ clientId, productId, state, percent, error });
  const room = new RoomProgress(['pc01', 'pc02', 'pc03', 'pc04'], RESTORE);
  t.true(room.apply(event('pc01', 'running', 40, 'restoring', { kind: 'progress' })));
  t.true(room.apply(event('pc04', 'failed', null, 'failed: no disk')));
  const changed = room.catchUp([
    job('pc01', 'succeeded', 40),
    job('pc02', 'booting', null), // its PC has not booted yet: still waiting
    job('pc03', 'failed', null, 'disk too small'),
    job('pc04', 'succeeded', 100), // ended before: stays as the stream left it
    job('pc09', 'failed', null, 'not in the room'),
    job('pc02', 'running', 10, null, 'opsi-local-image-backup'),
  ]);
  t.deepEqual(changed, ['pc01', 'pc03']);
  t.regex(room.line('pc01'), /^pc01\s+succeeded\s+\[#{20}\]\s+100%\s+succeeded$/);
  t.regex(room.line('pc02'), /^pc02\s+waiting\s+\[\.{20}\]\s+0%\s+waiting for the PC to boot/);
  t.regex(room.line('pc03'), /^pc03\s+failed\s+.*failed: disk too small$/);
  t.false(room.done());
  t.deepEqual(room.catchUp([job('pc02', 'running', 30)]), ['pc02']);
  t.deepEqual(room.catchUp([job('pc02', 'running', 30)]), [], 'nothing new: no line');
  t.deepEqual(room.catchUp([job('pc02', 'exhausted', null, 'no result after 3 boots')]), ['pc02']);
  t.true(room.done());
  t.deepEqual(room.summary().failed.map((f) => [f.clientId, f.error]), [
    ['pc02', 'gave up: no result after 3 boots'],
    ['pc03', 'failed: disk too small'],
    ['pc04', 'failed: no disk'],
  ]);
});

test('a room taller than the terminal: the header and the PCs that need a look, the rest counted in one line', (t) => {
  const ids = Array.from({ length: 30 }, (_, i) => `pc${String(i + 1).padStart(2, '0')}`);
  const room = new RoomProgress(ids, RESTORE);
  for (const id of ids.slice(0, 20)) room.apply(event(id, 'succeeded', null, 'succeeded'));
  room.apply(event('pc25', 'running', 50, 'restoring', { kind: 'progress' }));
  room.apply(event('pc28', 'failed', null, 'failed: no disk'));
  room.apply(event('pc03', 'running', 10, 'late')); // ended before: stays succeeded
  t.is(room.counts(), '1 failed, 1 running, 8 waiting, 20 succeeded');
  // Everything fits: the header and every PC in the room's order.
  const tall = room.frame('H', 40);
  t.is(tall.length, 31);
  t.deepEqual(tall.slice(0, 2), ['H', room.line('pc01')]);
  // 12 rows: the header, 9 PCs (failed, running, then the waiting ones, in the room's order), the rest counted; one row left for the cursor.
  const small = room.frame('H', 12);
  t.is(small.length, 11);
  t.is(small[0], 'H');
  t.deepEqual(
    small.slice(1, -1).map((l) => l.slice(0, 4)),
    ['pc21', 'pc22', 'pc23', 'pc24', 'pc25', 'pc26', 'pc27', 'pc28', 'pc29'],
  );
  t.regex(small[5]!, /^pc25\s+running\s+\[#{10}\.{10}\]\s+50%\s+restoring$/);
  t.is(small.at(-1), '… and 21 more: 1 waiting, 20 succeeded');
  t.deepEqual(room.frame('H', 3), ['H'], 'no room for a PC line: the header only');
  t.is(new RoomProgress(['a'], RESTORE).frame('H', 3).length, 2, 'one PC fits in three rows');
});
