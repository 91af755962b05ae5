// restore_mode=auto's choice from master.log (pure): delta until both kinds ran on this disk,
// then whichever moved the used bytes faster last time; ties go to delta.
import test from 'ava';
import { pastRestores, preferFullByHistory, unfinishedRestore } from '../../imaging/restore-mode.ts';

const line = (mode: string, written: number, compared: number, seconds: number) =>
  `2026-12-02T10:00:00.000Z restore done image=win11 device=/dev/sda2 mode=${mode} chunks=10/4715 written=${written} compared=${compared} seconds=${seconds}`;

test('master.log lines become rates; stream restores, failures, starts and tiny restores are not rates', (t) => {
  const log = [
    line('full', 4_000_000_000, 0, 8),
    '2026-12-02T10:01:00.000Z restore done image=old device=/dev/sda2 mode=stream seconds=30.0',
    '2026-12-02T10:02:00.000Z restore start image=win11 device=/dev/sda2 mode=delta',
    '2026-12-02T10:03:00.000Z restore FAILED image=win11 device=/dev/sda2 mode=delta: boom',
    line('delta', 100_000_000, 4_000_000_000, 10),
    line('delta', 1_000_000, 20_000_000, 0.1),
  ].join('\n');
  t.deepEqual(pastRestores(log), [
    { mode: 'full', bytesPerSecond: 500_000_000 },
    { mode: 'delta', bytesPerSecond: 400_000_000 },
  ]);
});

test('delta until both kinds have run; then the faster one, the latest of each counting', (t) => {
  t.is(preferFullByHistory([]), null);
  t.is(preferFullByHistory(pastRestores(line('full', 4e9, 0, 4))), null, 'no delta yet: delta');
  t.is(preferFullByHistory(pastRestores(line('delta', 1e8, 4e9, 40))), null, 'no full yet: delta');
  const fullFaster = pastRestores([line('delta', 1e8, 4e9, 10), line('full', 4e9, 0, 5)].join('\n'));
  t.regex(preferFullByHistory(fullFaster) ?? '', /last full restore wrote 800 MB\/s, the last delta covered 400 MB\/s/);
  const deltaNowFaster = pastRestores([line('delta', 1e8, 4e9, 10), line('full', 4e9, 0, 5), line('delta', 1e8, 4e9, 4)].join('\n'));
  t.is(preferFullByHistory(deltaNowFaster), null);
  t.is(preferFullByHistory(pastRestores([line('delta', 1e8, 4e9, 5), line('full', 4e9, 0, 5)].join('\n'))), null, 'a tie goes to delta');
});

test('a delta covers compared + trusted bytes; lines without trusted= (older logs) still parse', (t) => {
  const withTrusted = '2026-12-03T10:00:00.000Z restore done image=pc device=/dev/sda2 mode=delta chunks=86/4735 written=1 compared=1000000000 trusted=3464 trustedBytes=3000000000 seconds=2.0';
  t.deepEqual(pastRestores(withTrusted), [{ mode: 'delta', bytesPerSecond: 2_000_000_000 }]);
  t.deepEqual(pastRestores(line('delta', 1e8, 4e9, 10)), [{ mode: 'delta', bytesPerSecond: 400_000_000 }]);
});

test('inode records are not trusted after an unfinished restore to the same device', (t) => {
  const sda2 = { device: '/dev/sda2', partition: null };
  const ev = (what: string, device = '/dev/sda2') => `2026-12-03T10:00:0${what.length % 10}.000Z restore ${what} image=pc device=${device} mode=delta`;
  t.is(unfinishedRestore('', sda2), null);
  t.is(unfinishedRestore([ev('start'), ev('done')].join('\n'), sda2), null);
  t.regex(unfinishedRestore([ev('done'), ev('start')].join('\n'), sda2) ?? '', /^the restore to \/dev\/sda2 started .* did not finish/);
  t.truthy(unfinishedRestore([ev('start'), ev('FAILED')].join('\n'), sda2), 'a failed restore may have written part of the image');
  t.is(unfinishedRestore([ev('start', '/dev/sdb2')].join('\n'), sda2), null, 'another device');
  t.is(unfinishedRestore([ev('start'), ev('FAILED'), ev('start'), ev('done')].join('\n'), sda2), null, 'a later restore finished');
  t.is(unfinishedRestore('2026-12-03T10:00:00.000Z restore REFUSED image=pc device=/dev/sda2: bad', sda2), null, 'a refusal wrote nothing');
});

test('an unfinished restore is found by its partition entry when the disk has another name this boot', (t) => {
  const A = '8f0c1e2a-3b4c-4d5e-8f60-718293a4b5c6';
  const B = '11111111-2222-4333-8444-555555555555';
  const ev = (what: string, device: string, part: string | null) =>
    `2026-12-03T10:00:00.000Z restore ${what} image=pc device=${device} mode=delta${what === 'done' ? ' chunks=1/1 written=0 compared=0 seconds=1.0' : ''}${part ? ` part=${part}` : ''}`;
  // Cut while the partition was /dev/sda3; next boot the same partition is /dev/sdb3.
  t.regex(unfinishedRestore(ev('start', '/dev/sda3', A), { device: '/dev/sdb3', partition: A }) ?? '', /did not finish/);
  // The other disk's partition, now /dev/sda3, restored to the end: it does not clear A's cut restore.
  t.truthy(unfinishedRestore([ev('start', '/dev/sda3', A), ev('start', '/dev/sda3', B), ev('done', '/dev/sda3', B)].join('\n'), { device: '/dev/sdb3', partition: A }));
  t.is(unfinishedRestore([ev('start', '/dev/sda3', A), ev('done', '/dev/sdb3', A)].join('\n'), { device: '/dev/sdb3', partition: A }), null, 'finished later under its new name');
  // Lines of older versions (no part=) match by device path.
  t.truthy(unfinishedRestore(ev('start', '/dev/sda3', null), { device: '/dev/sda3', partition: A }));
  t.is(unfinishedRestore(ev('start', '/dev/sda3', null), { device: '/dev/sdb3', partition: A }), null);
  // The done line with part= still parses as a rate for restore_mode=auto.
  t.deepEqual(pastRestores(`2026-12-03T10:00:00.000Z restore done image=pc device=/dev/sda3 mode=full chunks=9/9 written=4000000000 compared=0 trusted=0 trustedBytes=0 seconds=2.0 part=${A}`), [{ mode: 'full', bytesPerSecond: 2e9 }]);
});
