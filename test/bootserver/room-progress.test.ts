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
