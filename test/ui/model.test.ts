// The UI's pure logic (ui/src/model.ts): what a PC tile shows, and what an action says it wipes.
import test from 'ava';
import { liveEventOf, withLiveEvents, tileOf, wipeOf, fetchOnlyOf, installProducts, pcs, formatInZone, setServerZone, when } from '../../ui/src/model.ts';
import { formatInZone as libFormatInZone } from '../../lib/zoned-time.ts';
import type { ClientView, Job, LiveJobEvent, ProductDefinition, ProductStateView } from '../../ui/src/types.ts';

const client = { id: 'pc01', group: 'room1' } as ClientView;
const job = (id: string, productId: string, state: Job['state'], updated: string, extra: Partial<Job> = {}) => ({ id, clientId: 'pc01', productId, state, updated, percent: null, error: null, finished: null, ...extra }) as Job;
const product = (id: string, destructive: boolean, name = id) => ({ id, destructive, name }) as ProductDefinition;

test('a tile: the running job with the live percent, the last finished job, pending requests of other products', (t) => {
  const jobs = [job('j2', 'opsi-local-image-restore', 'booting', '2026-12-01T10:00:00Z'), job('j1', 'opsi-local-image-backup', 'failed', '2026-12-01T09:00:00Z', { error: 'disk full' })];
  const states = [
    { clientId: 'pc01', productId: 'opsi-local-image-restore', actionRequest: 'setup', managedBy: 'netimage' },
    { clientId: 'pc01', productId: 'hwinvent', actionRequest: 'setup', managedBy: 'netimage' },
    { clientId: 'pc01', productId: 'windomain', actionRequest: 'setup', managedBy: 'os' },
  ] as ProductStateView[];
  const live = new Map<string, LiveJobEvent>([['j2', { id: 5, jobId: 'j2', clientId: 'pc01', productId: 'opsi-local-image-restore', state: 'running', kind: 'progress', percent: 42, message: 'restore', ts: '2026-12-01T10:00:05Z' }]]);
  const tile = tileOf(client, jobs, states, live);
  t.true(tile.online);
  t.deepEqual(tile.current, { productId: 'opsi-local-image-restore', state: 'running', percent: 42, message: 'restore', jobId: 'j2', seeding: null });
  t.deepEqual(tile.pending, ['hwinvent'], "the running product's own request and the OS's are not pending");
  t.like(tile.last, { productId: 'opsi-local-image-backup', state: 'failed', error: 'disk full' });
  t.is(tile.lastSeen, '2026-12-01T10:00:05Z');
  const done = tileOf(client, jobs, [], new Map([['j2', { ...live.get('j2')!, state: 'succeeded', percent: 100, ts: '2026-12-01T10:01:00Z' }]]));
  t.false(done.online);
  t.is(done.current, null);
  t.like(done.last, { jobId: 'j2', state: 'succeeded' });
  t.deepEqual(tileOf({ id: 'pc09' } as ClientView, jobs, states, live), { id: 'pc09', online: false, lastSeen: null, current: null, pending: [], last: null }, "other PCs' jobs are not this one's");
});

test('wipe wording: what each destructive product erases; nothing for the others', (t) => {
  t.is(wipeOf(product('opsi-local-image-backup', false), {}), null);
  t.regex(wipeOf(product('opsi-local-image-prepare', true), {})!, /whole system disk/);
  t.regex(wipeOf(product('opsi-local-image-restore', true), { imagefile: 'base' })!, /replaced by image base/);
  // A golden image: restored, it replaces the system partition; fetched only, nothing is wiped (fetchOnlyOf says what it replaces).
  const restore = product('opsi-local-image-restore', true);
  t.regex(wipeOf(restore, { server_image: 'lab-base', restore_after_fetch: true })!, /^the system partition: everything on it is replaced by golden image lab-base from the server/);
  t.is(wipeOf(restore, { server_image: 'lab-base', restore_after_fetch: false }), null);
  t.is(fetchOnlyOf(restore, { server_image: 'lab-base', restore_after_fetch: false }), 'lab-base');
  t.is(fetchOnlyOf(restore, { server_image: 'lab-base' }), null, 'restore_after_fetch defaults to true');
  t.is(fetchOnlyOf(restore, { server_image: '', restore_after_fetch: false }), null);
  t.is(wipeOf(product('opsi-local-image-delimage', true), { imagefile: 'all_images' }), 'every image on the backup partition');
  t.is(wipeOf(product('opsi-local-image-delimage', true), { imagefile: 'old' }), 'image old on the backup partition');
  t.regex(wipeOf(product('opsi-local-image-debian', true, 'Debian unattended install'), {})!, /Debian unattended install is installed afresh/);
  t.deepEqual(
    installProducts([product('opsi-local-image-debian', true), product('opsi-local-image-restore', true), product('hwinvent', false), product('opsi-local-image-wim-capture', true)]).map((p) => p.id),
    ['opsi-local-image-debian'],
  );
  t.is(pcs(1), '1 PC');
  t.is(pcs(30), '30 PCs');
});

test('times read as the CLI shows them: the zone\'s wall time with its offset, across DST changes', (t) => {
  t.is(formatInZone('2026-12-02T06:01:13Z', 'Europe/Berlin'), '2026-12-02 07:01:13 +01:00');
  t.is(formatInZone('2026-12-02T06:01:13Z', 'UTC'), '2026-12-02 06:01:13 +00:00');
  t.is(formatInZone('2026-03-29T00:59:59Z', 'Europe/Berlin'), '2026-03-29 01:59:59 +01:00');
  t.is(formatInZone('2026-03-29T01:00:00Z', 'Europe/Berlin'), '2026-03-29 03:00:00 +02:00');
  t.is(formatInZone('2026-10-25T00:30:00Z', 'Europe/Berlin'), '2026-10-25 02:30:00 +02:00');
  t.is(formatInZone('2026-10-25T01:30:00Z', 'Europe/Berlin'), '2026-10-25 02:30:00 +01:00');
  t.is(formatInZone('2026-07-01T12:00:00.999Z', 'Asia/Kolkata'), '2026-07-01 17:30:00 +05:30');
  t.is(formatInZone('2026-07-01T12:00:00Z', 'America/New_York'), '2026-07-01 08:00:00 -04:00');
  t.is(formatInZone('not a time', 'UTC'), 'not a time');
});

test("when() shows the server's zone once it is known; a zone the browser does not know falls back to its own, still with the offset", (t) => {
  t.teardown(() => setServerZone(null));
  setServerZone('Asia/Kolkata');
  t.is(when('2026-12-02T06:01:13Z'), '2026-12-02 11:31:13 +05:30');
  setServerZone('Mars/Olympus_Mons');
  t.is(when('2026-12-02T06:01:13Z'), libFormatInZone('2026-12-02T06:01:13Z', null));
  t.is(when(null), '–');
});

test("a live event tells a job's state only when the list was not read after it (a refetch after missed events wins)", (t) => {
  const e = { id: 9, jobId: 'j1', clientId: 'pc01', productId: 'hwinvent', state: 'running', kind: 'progress', percent: 40, message: 'x', ts: '2026-12-01T10:00:05Z' } as LiveJobEvent;
  const live = new Map([['j1', e]]);
  t.is(liveEventOf(job('j1', 'hwinvent', 'booting', '2026-12-01T10:00:00Z'), live), e);
  t.is(liveEventOf(job('j1', 'hwinvent', 'succeeded', '2026-12-01T10:00:09Z'), live), undefined);
  t.is(liveEventOf(job('j2', 'hwinvent', 'booting', '2026-12-01T10:00:00Z'), live), undefined);
});

test('live events taken in as a batch: the newest per job, the last percent and message kept through log lines, the seeding line remembered', (t) => {
  const e = (id: number, jobId: string, kind: LiveJobEvent['kind'], percent: number | null, message: string): LiveJobEvent => ({ id, jobId, clientId: 'pc01', productId: 'opsi-local-image-restore', state: 'running', kind, percent, message, ts: `2026-12-01T10:00:0${id}Z` });
  const before = new Map([['j1', { ...e(1, 'j1', 'progress', 10, 'restoring'), seeding: null }]]);
  const after = withLiveEvents(before, [
    e(2, 'j1', 'progress', 40, 'restoring /dev/sda2'),
    e(3, 'j2', 'state', null, 'agent started'),
    e(4, 'j1', 'log', null, 'room seeding of golden/win11: 80 % by multicast'),
    e(5, 'j1', 'log', null, 'partclone: 1 GiB written'),
  ]);
  t.like(after.get('j1'), { id: 5, percent: 40, message: 'restoring /dev/sda2', seeding: 'room seeding of golden/win11: 80 % by multicast' });
  t.like(after.get('j2'), { id: 3, percent: null, message: 'agent started', seeding: null });
  t.is(before.get('j1')!.id, 1, 'the map it was given is left as it was (a screen may still draw it)');
  t.deepEqual(withLiveEvents(after, []), after);
});
