// Schedules on a real server (real clock, real store file): fire once, survive a restart, and
// follow the missed-run policy after downtime. The action is an hwinvent request on a client:
// its product state shows whether the schedule ran.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tempdir.ts';

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok` holds, or fails naming `what` after the deadline. */
async function until(ok: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

async function seed(ts: TestServer): Promise<void> {
  await ts.api('POST', '/api/v1/groups', { id: 'room101' });
  for (const [id, mac] of [['pc01', '52:54:00:66:00:01'], ['pc02', '52:54:00:66:00:02'], ['pc03', '52:54:00:66:00:03']] as const) {
    const r = await ts.api('POST', '/api/v1/clients', { id, mac, group: 'room101' });
    if (r.status !== 201) throw new Error(r.text);
  }
}

async function hwinventRequest(ts: TestServer, client: string): Promise<string> {
  const states = (await ts.api('GET', `/api/v1/clients/${client}/products`)).body as { productId: string; actionRequest: string }[];
  return states.find((s) => s.productId === 'hwinvent')!.actionRequest;
}

async function addSchedule(ts: TestServer, body: Record<string, unknown>) {
  const r = await ts.api('POST', '/api/v1/schedules', { productId: 'hwinvent', ...body });
  if (r.status !== 201) throw new Error(`${r.status} ${r.text}`);
  return r.body as { name: string; nextRun: string };
}

const runsOf = async (ts: TestServer, name: string) => (await ts.api('GET', `/api/v1/schedules/${name}`)).body.runs as { outcome: string; message: string }[];

test('a schedule set 2 s ahead fires once', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  await addSchedule(ts, { name: 'soon', at: inSeconds(2), target: { kind: 'client', id: 'pc01' } });
  t.is(await hwinventRequest(ts, 'pc01'), 'none', 'not before it is due');
  const added = Date.now();
  await until(async () => (await hwinventRequest(ts, 'pc01')) === 'setup', 'the schedule to fire');
  t.true(Date.now() - added >= 1000, 'not long before it was due');
  t.is(await hwinventRequest(ts, 'pc02'), 'none', 'only its target');
  const runs = await runsOf(ts, 'soon');
  t.is(runs.length, 1, 'once');
  t.like(runs[0], { outcome: 'ran', message: 'setup of hwinvent set for pc01' });
  t.is((await ts.api('GET', '/api/v1/schedules/soon')).body.nextRun, null);
});

test('schedules survive a restart, and runs missed while down follow the policy (skip, run-once)', async (t) => {
  const dataDir = await tempDir(t, 'sched-restart');
  let ts = await startTestServer({ dataDir });
  t.teardown(() => ts.stop());
  await seed(ts);
  await addSchedule(ts, { name: 'missed-skip', at: inSeconds(600), target: { kind: 'client', id: 'pc01' } });
  await addSchedule(ts, { name: 'missed-run-once', at: inSeconds(600), target: { kind: 'client', id: 'pc02' }, missedPolicy: 'run-once', lateWindowSeconds: 600 });
  // Due after the restart (run-once: on a slow machine the restart may take longer than planned).
  const due = Date.now() + 8000;
  await addSchedule(ts, { name: 'after-restart', at: new Date(due).toISOString(), target: { kind: 'client', id: 'pc03' }, missedPolicy: 'run-once' });
  await ts.stop();
  // While the server is down, the first two come due: moved into the past in the stored file
  // (waiting for real would make the test depend on how fast this machine stops a server).
  const { SqliteStore } = await import('../../bootserver/store/sqlite.ts');
  const { join } = await import('node:path');
  const store = SqliteStore.open({ path: join(dataDir, 'netimage.sqlite') });
  const past = new Date(Date.now() - 2000).toISOString();
  for (const name of ['missed-skip', 'missed-run-once']) await store.updateSchedule({ ...(await store.getSchedule(name))!, at: past, nextRun: past });
  await store.close();
  ts = await startTestServer({ dataDir });

  t.is(await hwinventRequest(ts, 'pc01'), 'none', 'skip: the missed run did not act');
  t.like((await runsOf(ts, 'missed-skip'))[0], { outcome: 'skipped' });
  t.regex((await runsOf(ts, 'missed-skip'))[0]!.message, /missed while the server was down .*policy skip/);
  t.is(await hwinventRequest(ts, 'pc02'), 'setup', 'run-once: ran late at start');
  t.regex((await runsOf(ts, 'missed-run-once'))[0]!.message, /late run/);
  if (Date.now() < due - 1000) t.is(await hwinventRequest(ts, 'pc03'), 'none', 'not before it is due');

  await until(async () => (await hwinventRequest(ts, 'pc03')) === 'setup', 'the schedule made before the restart to fire after it');
  t.is((await runsOf(ts, 'after-restart')).length, 1);
  for (const name of ['missed-skip', 'missed-run-once']) t.is((await runsOf(ts, name)).length, 1, `${name} handled once`);
});

test('bad schedules are refused with a reason and nothing is stored', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ name: 'a', at: inSeconds(60), every: 'daily 07:00', target: { kind: 'group', id: 'room101' } }, 400, /exactly one of at, every, cron/],
    [{ name: 'a', target: { kind: 'group', id: 'room101' } }, 400, /exactly one of at, every, cron/],
    [{ name: 'a', every: 'sometimes 07:00', target: { kind: 'group', id: 'room101' } }, 400, /unknown days/],
    [{ name: 'a', cron: '0 25 * * *', target: { kind: 'group', id: 'room101' } }, 400, /invalid cron expression/],
    [{ name: 'a', every: 'daily 07:00', timezone: 'Nowhere/Land', target: { kind: 'group', id: 'room101' } }, 400, /unknown time zone/],
    [{ name: 'a', at: '2020-01-01T00:00:00Z', target: { kind: 'group', id: 'room101' } }, 400, /in the past/],
    [{ name: 'a', at: '2030-01-01 7h', target: { kind: 'group', id: 'room101' } }, 400, /body\.at/],
    [{ name: 'a', at: '2030-02-30T07:00', target: { kind: 'group', id: 'room101' } }, 400, /body\.at/],
    [{ name: 'a', at: '2030-01-01T07:00', timezone: 'Mars/Olympus', target: { kind: 'group', id: 'room101' } }, 400, /unknown time zone "Mars\/Olympus" \(an IANA name like Europe\/Berlin\)/],
    [{ name: 'a', at: '2020-01-01T07:00', timezone: 'Europe/Berlin', target: { kind: 'group', id: 'room101' } }, 400, /at 2020-01-01T07:00 \(Europe\/Berlin: 2020-01-01 07:00:00 \+01:00\) is in the past/],
    [{ name: 'a', every: 'daily 07:00', target: { kind: 'group', id: 'room999' } }, 404, /group room999 not found/],
    [{ name: 'a', every: 'daily 07:00', target: { kind: 'group', id: 'room101' }, productId: 'opsi-local-image-prepare', properties: { nosuch: '1' } }, 400, /has no property nosuch/],
    [{ name: 'a', every: 'daily 07:00', target: { kind: 'group', id: 'room101' }, productId: null }, 400, /needs a product, wake, or both/],
    [{ name: 'a b', every: 'daily 07:00', target: { kind: 'group', id: 'room101' } }, 400, /body\.name/],
  ];
  for (const [body, status, message] of cases) {
    const r = await ts.api('POST', '/api/v1/schedules', { productId: 'hwinvent', ...body });
    t.is(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
    t.regex(r.body.message, message);
  }
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body, []);
  await addSchedule(ts, { name: 'dup', every: 'daily 07:00', target: { kind: 'group', id: 'room101' } });
  t.is((await ts.api('POST', '/api/v1/schedules', { name: 'dup', every: 'daily 08:00', productId: 'hwinvent', target: { kind: 'group', id: 'room101' } })).status, 409);
  t.is((await fetch(`${ts.url}/api/v1/schedules`)).status, 401, 'admin token needed');
});

test('a one-shot is stored as the wall time and zone the admin gave; the server works out the instant, summer time included', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const target = { kind: 'group', id: 'room101' };
  // 2027-03-28 is the day Berlin moves to summer time: 07:00 that day is 05:00Z, the day before 06:00Z.
  const summer = await ts.api('POST', '/api/v1/schedules', { name: 'dst-day', at: '2027-03-28 07:00', timezone: 'Europe/Berlin', target, wake: true, productId: null });
  t.is(summer.status, 201, summer.text);
  t.like(summer.body, { kind: 'once', atLocal: '2027-03-28T07:00:00', timezone: 'Europe/Berlin', at: '2027-03-28T05:00:00.000Z', nextRun: '2027-03-28T05:00:00.000Z' });
  t.like((await ts.api('POST', '/api/v1/schedules', { name: 'day-before', at: '2027-03-27T07:00', timezone: 'Europe/Berlin', target, wake: true, productId: null })).body, { nextRun: '2027-03-27T06:00:00.000Z' });
  // An offset in the time names the instant: nothing to keep as wall time.
  t.like((await ts.api('POST', '/api/v1/schedules', { name: 'offset', at: '2027-03-28T07:00:00+02:00', timezone: 'Europe/Berlin', target, wake: true, productId: null })).body, { atLocal: null, at: '2027-03-28T05:00:00.000Z' });
  t.like((await ts.api('GET', '/api/v1/schedules/dst-day')).body, { atLocal: '2027-03-28T07:00:00', timezone: 'Europe/Berlin' });
});

test('CLI: schedule add (every / at), ls, show, rm', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const cli = (...args: string[]) => exec(process.execPath, ['bootserver/cli/main.ts', ...args, '--url', ts.url, '--token', ts.adminToken]);
  const added = await cli('schedule', 'add', 'morning', '--every', 'weekdays 07:00', '--tz', 'Europe/Berlin', '--group', 'room101', 'hwinvent', '--wake', '--missed', 'run-once');
  t.regex(added.stdout, /added schedule morning: setup hwinvent \+ wake for group room101, 0 7 \* \* 1-5 \(Europe\/Berlin\); next run 20\d\d-/);
  await cli('schedule', 'add', 'tonight', '--at', '2099-01-01 18:00', 'pc01', '--wake');
  const ls = (await cli('schedule', 'ls')).stdout;
  t.regex(ls, /morning\s+0 7 \* \* 1-5 \(Europe\/Berlin\)\s+group room101\s+setup hwinvent \+ wake\s+run-once/);
  t.regex(ls, /tonight\s+once 2099-01-01 18:00 \(server zone\)\s+client pc01\s+wake\s+skip\s+2099-01-01 18:00:00 [+-]\d\d:\d\d\s+-$/m);
  const shown = (await cli('schedule', 'show', 'morning')).stdout;
  t.regex(shown, /^schedule morning\n/);
  t.regex(shown, /no runs yet/);
  t.deepEqual(JSON.parse((await cli('schedule', 'show', 'morning', '--json')).stdout).runs, []);
  t.regex((await cli('schedule', 'rm', 'tonight')).stdout, /removed schedule tonight/);
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body.map((s: { name: string }) => s.name), ['morning']);
  const bad = await cli('schedule', 'add', 'x', '--group', 'room101', 'hwinvent').catch((e: { code: number; stderr: string }) => e);
  t.is((bad as { code: number }).code, 2);
  t.regex((bad as { stderr: string }).stderr, /usage: netimage schedule add/);
});

test('a group schedule with wake sets the action for every PC and wakes them; PATCH disables and re-enables', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const { createSocket } = await import('node:dgram');
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (d) => received.push(d));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => socket.close());
  await ts.api('PUT', '/api/v1/groups/room101/wake-target', { broadcast: '127.0.0.1', port: socket.address().port });

  await addSchedule(ts, { name: 'paused', every: 'daily 07:00', target: { kind: 'group', id: 'room101' }, enabled: false });
  t.is((await ts.api('GET', '/api/v1/schedules/paused')).body.enabled, false);
  const enabled = await ts.api('PATCH', '/api/v1/schedules/paused', { enabled: true, missedPolicy: 'run-once' });
  t.like(enabled.body, { enabled: true, missedPolicy: 'run-once' });
  t.true(Date.parse(enabled.body.nextRun) > Date.now(), 're-enabled: next run from now on');
  t.is((await ts.api('PATCH', '/api/v1/schedules/paused', { cron: '* * * * *' })).status, 400, 'the time is not editable: remove and add');

  await addSchedule(ts, { name: 'room-now', at: inSeconds(1.5), target: { kind: 'group', id: 'room101' }, wake: true });
  await until(async () => (await runsOf(ts, 'room-now')).length > 0 && received.length >= 3, 'the group schedule to run and wake');
  for (const pc of ['pc01', 'pc02', 'pc03']) t.is(await hwinventRequest(ts, pc), 'setup', pc);
  t.is(received.length, 3, 'one magic packet per PC');
  t.like((await runsOf(ts, 'room-now'))[0], { outcome: 'ran', message: 'setup of hwinvent set for 3 client(s) of room101; woke 3 client(s)' });
  t.is((await ts.api('GET', '/api/v1/clients/pc02')).body.wake.source, 'schedule room-now');
});

test('a group schedule of a product that wipes disks needs the group\'s PC count as confirm, like a group action; nothing stored until it matches', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const restore = { name: 'nightly', every: 'daily 03:00', target: { kind: 'group', id: 'room101' }, productId: 'opsi-local-image-restore' };
  const missing = await ts.api('POST', '/api/v1/schedules', restore);
  t.is(missing.status, 400, missing.text);
  t.regex(missing.body.message, /opsi-local-image-restore wipes the disks of 3 PCs in group room101 \(pc01, pc02, pc03\): send "confirm": 3 to go ahead; no schedule added/);
  const wrong = await ts.api('POST', '/api/v1/schedules', { ...restore, confirm: 2 });
  t.is(wrong.status, 409, wrong.text);
  t.regex(wrong.body.message, /confirm is 2, but .* would wipe 3 PCs in group room101 .*: no schedule added; check the group and send "confirm": 3/);
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body, [], 'nothing stored');
  t.is((await ts.api('POST', '/api/v1/schedules', { ...restore, confirm: 3 })).status, 201);
  // Nothing to confirm: a product that wipes nothing, a cleared request, one PC by name.
  await addSchedule(ts, { name: 'inventory', every: 'daily 04:00', target: { kind: 'group', id: 'room101' } });
  await addSchedule(ts, { name: 'clear', every: 'daily 05:00', target: { kind: 'group', id: 'room101' }, productId: 'opsi-local-image-restore', actionRequest: 'none' });
  await addSchedule(ts, { name: 'one-pc', every: 'daily 06:00', target: { kind: 'client', id: 'pc01' }, productId: 'opsi-local-image-restore' });
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body.map((s: { name: string }) => s.name).sort(), ['clear', 'inventory', 'nightly', 'one-pc']);
});

test('CLI: schedule add of a wiping group product asks for the PC count, refuses without a terminal or --yes, and says what it confirmed with --yes', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await seed(ts);
  const cli = (...args: string[]) => exec(process.execPath, ['bootserver/cli/main.ts', ...args, '--url', ts.url, '--token', ts.adminToken]);
  const args = ['schedule', 'add', 'nightly', '--every', 'daily 03:00', '--group', 'room101', 'opsi-local-image-restore'];
  const refused = await cli(...args).catch((e: { code: number; stderr: string }) => e);
  t.is((refused as { code: number }).code, 2);
  t.regex((refused as { stderr: string }).stderr, /opsi-local-image-restore wipes the disks of 3 PC\(s\) of room101 at each run of this schedule \(the group now\): pc01, pc02, pc03; no schedule added: add --yes to confirm/);
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body, []);
  const added = await cli(...args, '--yes');
  t.regex(added.stdout, /^opsi-local-image-restore wipes the disks of 3 PC\(s\) of room101 at each run of this schedule \(the group now\): pc01, pc02, pc03\nadded schedule nightly: setup opsi-local-image-restore for group room101/);
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body.map((s: { name: string }) => s.name), ['nightly']);
});
