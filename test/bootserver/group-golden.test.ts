// Group restore from a golden image (issue 14): through the admin API of a real in-process server.
// A room restores golden/<name> without any image in common; action set refuses a server_image the
// depot does not hold (nothing changed); server_image_multicast starts the room's seeding session,
// which only that room's restore jobs can read (GET /agent/v1/seed) and which clearing the action
// stops; a PC of the room receives the image from the stream (over lo here), a PC that asks after
// the stream is over gets it over HTTP Range from the depot with its job token.
import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCall, parseNetbootConfig, readBootConfig, startTestServer, type TestServer } from '../helpers/server.ts';
import { writeGoldenFiles } from '../helpers/golden-files.ts';
import { fetchGoldenImage, parseSeedSession } from '../../imaging/golden.ts';
import { listImages } from '../../imaging/store/store.ts';

const RESTORE = 'opsi-local-image-restore';
const PCS = { r1: '52:54:00:00:41:01', r2: '52:54:00:00:41:02', r3: '52:54:00:00:41:03' };

let server: Promise<TestServer> | null = null;
test.after.always(async () => (await server)?.stop());
const ts = () =>
  (server ??= (async () => {
    const s = await startTestServer({ overrides: { 'seeding.joinWindowSeconds': 1, 'seeding.rateMbit': 50, 'seeding.pieceKib': 256 } });
    await s.api('POST', '/api/v1/groups', { id: 'room9' });
    const lists: Record<string, string[]> = { r1: ['win10'], r2: ['win11'], r3: [] };
    for (const [id, mac] of Object.entries(PCS)) {
      await s.api('POST', '/api/v1/clients', { id, mac, group: 'room9' });
      await s.api('PUT', `/api/v1/clients/${id}/products/${RESTORE}/properties`, { values: { imagefiles_list: lists[id]! } });
    }
    await s.api('POST', '/api/v1/clients', { id: 'outsider', mac: '52:54:00:00:41:09' });
    return s;
  })());

async function addGolden(s: TestServer, name: string, bytes: number) {
  const files = await writeGoldenFiles(join(s.dataDir, `src-${name}`), name, bytes);
  const { cp } = await import('node:fs/promises');
  await s.server.osImages.depot.create('golden', name, { image: name, fsType: 'ext4' }, async (dir) => {
    for (const f of ['image.pcl.zst', 'chunks.json', 'metadata.json']) await cp(join(s.dataDir, `src-${name}`, f), join(dir, f));
  });
  return files;
}

const states = async (s: TestServer) => ((await s.api('GET', `/api/v1/product-states?group=room9&product=${RESTORE}`)).body as { actionRequest: string }[]).map((x) => x.actionRequest);

test.serial('a group restore of a server_image the depot does not hold is refused with the reason, nothing changed; a bad name is a 400', async (t) => {
  const s = await ts();
  const missing = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'nosuch' }, confirm: 3 });
  t.is(missing.status, 409, missing.text);
  t.regex(missing.body.message, /the depot has no golden image golden\/nosuch .*nothing was changed/);
  const bad = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: '../etc' }, confirm: 3 });
  t.is(bad.status, 400, bad.text);
  t.true((await states(s)).every((a) => a === 'none'), 'no action set');
  for (const id of Object.keys(PCS)) t.is((await s.api('GET', `/api/v1/clients/${id}/products/${RESTORE}/properties`)).body.server_image, '', 'no property stored');
  // A single PC too: refused at action set, not when the PC boots.
  const one = await s.api('PUT', `/api/v1/clients/r1/products/${RESTORE}/action`, { actionRequest: 'setup', properties: { server_image: 'nosuch' } });
  t.is(one.status, 409, one.text);
});

test.serial('a group restores a golden image without any image in common; without server_image it still needs a common image', async (t) => {
  const s = await ts();
  await addGolden(s, 'room-base', 300_000);
  const noCommon = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', confirm: 3 });
  t.is(noCommon.status, 409);
  // Worded for any caller of the API: its property, no CLI flag (the CLI and the UI add their own way).
  t.is(noCommon.body.message, "no image is present on every client of the group: back them up first (opsi-local-image-backup), or restore a golden image from the server's depot instead (server_image=<name>)");
  const ok = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-base' }, confirm: 3 });
  t.is(ok.status, 200, ok.text);
  t.deepEqual(ok.body, { clients: ['r1', 'r2', 'r3'], imagefile: null });
  t.deepEqual(await states(s), ['setup', 'setup', 'setup']);
  t.is((await s.api('GET', `/api/v1/clients/r3/products/${RESTORE}/properties`)).body.server_image, 'room-base');
  t.deepEqual(s.server.osImages.seeding.list(), [], 'unicast: no seeding session');
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
});

test.serial('server_image_multicast: the group action starts the room\'s session; only its restore jobs read it; a PC receives it from the stream, one booted after the stream gets it over HTTP; clearing stops it', async (t) => {
  const s = await ts();
  const files = await addGolden(s, 'room-seed', 2 * 1024 * 1024 + 777);
  const set = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-seed', server_image_multicast: true, restore_after_fetch: false }, confirm: 3 });
  t.is(set.status, 200, set.text);
  const [session] = s.server.osImages.seeding.list();
  t.like(session, { groupId: 'room9', entry: 'room-seed', port: 9042, state: 'waiting', clients: ['r1', 'r2', 'r3'] });
  t.regex(session!.group, /^239\.255\.42\.\d+$/);

  // r1 boots: its job token gets the session (manifest of the three depot files, catch-up path, its own address).
  const job = parseNetbootConfig(await readBootConfig(s, PCS.r1, null))!;
  const got = await agentCall(s.url, job.token, 'GET', '/seed');
  t.is(got.status, 200, JSON.stringify(got.body));
  const wire = parseSeedSession(got.body);
  t.like(wire, { entry: 'room-seed', group: session!.group, port: 9042, base: '/depot/v1/golden/room-seed', localAddress: '127.0.0.1' });
  t.deepEqual((wire.manifest as { files: { name: string }[] }).files.map((f) => f.name), ['image.pcl.zst', 'chunks.json', 'metadata.json']);
  t.deepEqual(s.server.osImages.seeding.list()[0]!.asked, ['r1']);

  // A PC outside the room, with its own restore of the same image: no session for it (it fetches by unicast).
  await s.api('PUT', `/api/v1/clients/outsider/products/${RESTORE}/action`, { actionRequest: 'setup', properties: { server_image: 'room-seed', server_image_multicast: true } });
  const outsider = parseNetbootConfig(await readBootConfig(s, '52:54:00:00:41:09', null))!;
  const no = await agentCall(s.url, outsider.token, 'GET', '/seed');
  t.is(no.status, 404);
  t.regex(no.body.message, /no room seeding of golden\/room-seed for outsider \(in no group\)/);
  t.is((await agentCall(s.url, 'not-a-token', 'GET', '/seed')).status, 401);

  // r1 receives through the session: the stream goes out on the interface r1 reached the server
  // at (here lo), once the join window (1 s) has passed without r2 and r3.
  const root = await mkdtemp(join(tmpdir(), 'ni-seed-root-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const log: string[] = [];
  const fetchFor = (token: string) => (path: string, headers: Record<string, string> = {}, signal?: AbortSignal) => fetch(`${s.url}${path}`, { headers: { ...headers, authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
  const r = await fetchGoldenImage({ fetchFile: fetchFor(job.token), root, name: 'room-seed', log: (l) => log.push(l), seed: { session: wire } });
  t.is(r.meta.name, 'room-seed');
  t.true(log.some((l) => /room seeding of room-seed: joining multicast 239\.255\.42\.\d+:9042 on 127\.0\.0\.1/.test(l)), log.join('\n'));
  const summary = log.find((l) => /room seeding of room-seed: 11 pieces verified/.test(l)) ?? '';
  t.regex(summary, /\(0 already here, [1-9]\d* by multicast/, log.join('\n'));
  t.true((await readFile(join(root, 'room-seed', 'image.pcl.zst'))).equals(files.image));
  t.deepEqual((await listImages(root)).map((m) => m.name), ['room-seed']);
  for (let i = 0; i < 50 && s.server.osImages.seeding.list()[0]!.state !== 'over'; i++) await new Promise((res) => setTimeout(res, 100));
  t.is(s.server.osImages.seeding.list()[0]!.state, 'over');

  // r2 boots after the stream: told it is over, it fetches everything over HTTP at once.
  const late = parseNetbootConfig(await readBootConfig(s, PCS.r2, null))!;
  const lateWire = parseSeedSession((await agentCall(s.url, late.token, 'GET', '/seed')).body);
  t.is(lateWire.state, 'over');
  const root2 = await mkdtemp(join(tmpdir(), 'ni-seed-root-'));
  t.teardown(() => rm(root2, { recursive: true, force: true }));
  const log2: string[] = [];
  await fetchGoldenImage({ fetchFile: fetchFor(late.token), root: root2, name: 'room-seed', log: (l) => log2.push(l), seed: { session: lateWire } });
  t.true(log2.some((l) => /the room's stream is over; everything this PC lacks comes over HTTP/.test(l)), log2.join('\n'));
  t.true(log2.some((l) => /11 pieces verified \(0 already here, 0 by multicast, 11 by HTTP/.test(l)), log2.join('\n'));
  t.true((await readFile(join(root2, 'room-seed', 'image.pcl.zst'))).equals(files.image));

  // Clearing the group's restore stops the session.
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
  t.deepEqual(s.server.osImages.seeding.list(), []);
});

test.serial("a group restore that replaces a seeding one without multicast (each PC over HTTP) stops the room's stream", async (t) => {
  const s = await ts();
  await addGolden(s, 'room-swap', 100_000);
  const multicast = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-swap', server_image_multicast: true }, confirm: 3 });
  t.is(multicast.status, 200, multicast.text);
  t.like(s.server.osImages.seeding.list()[0], { groupId: 'room9', entry: 'room-swap' });
  const unicast = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-swap', server_image_multicast: false }, confirm: 3 });
  t.is(unicast.status, 200, unicast.text);
  t.deepEqual(s.server.osImages.seeding.list(), [], 'no stream goes on for PCs that now fetch over HTTP');
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
});

test.serial('a seeding session that cannot start after the commit: the action stays set and the answer says the PCs fetch by unicast (200 with a warning, not an error)', async (t) => {
  const s = await ts();
  await addGolden(s, 'room-race', 100_000);
  // Stands in for the depot entry vanishing between the action-set check and the commit (a race
  // no request can time): the session's start fails once.
  const seeding = s.server.osImages.seeding;
  const start = seeding.start.bind(seeding);
  seeding.start = async () => {
    throw new Error('golden/room-race is gone from the depot');
  };
  t.teardown(() => (seeding.start = start));
  const set = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-race', server_image_multicast: true }, confirm: 3 });
  t.is(set.status, 200, set.text);
  t.deepEqual(set.body.clients, ['r1', 'r2', 'r3']);
  t.is(set.body.warnings.length, 1);
  t.regex(set.body.warnings[0], /no multicast session for golden\/room-race \(golden\/room-race is gone from the depot\): the restore is set for 3 PC\(s\), each will fetch the image by unicast HTTP/);
  t.deepEqual(await states(s), ['setup', 'setup', 'setup'], 'the action is set, as the answer says');
  t.deepEqual(seeding.list(), []);
  // A PC of the room finds no session: its restore fetches by unicast.
  const job = parseNetbootConfig(await readBootConfig(s, PCS.r1, null))!;
  t.is((await agentCall(s.url, job.token, 'GET', '/seed')).status, 404);
  seeding.start = start;
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
});

test.serial('a group restore of the common image clears a server_image still stored from an earlier golden restore (else the PCs would fetch that instead)', async (t) => {
  const s = await ts();
  await addGolden(s, 'room-old', 100_000);
  for (const id of Object.keys(PCS)) await s.api('PUT', `/api/v1/clients/${id}/products/${RESTORE}/properties`, { values: { imagefiles_list: ['common'] } });
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'room-old' }, confirm: 3 })).status, 200);
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
  for (const id of Object.keys(PCS)) t.is((await s.api('GET', `/api/v1/clients/${id}/products/${RESTORE}/properties`)).body.server_image, 'room-old', 'stored from the golden restore');
  const set = await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'setup', confirm: 3 });
  t.is(set.status, 200, set.text);
  t.deepEqual(set.body, { clients: ['r1', 'r2', 'r3'], imagefile: 'common' });
  for (const id of Object.keys(PCS)) t.like((await s.api('GET', `/api/v1/clients/${id}/products/${RESTORE}/properties`)).body, { server_image: '', imagefile: 'common' }, id);
  // The PC's job carries the image it has, not the old golden one.
  const job = parseNetbootConfig(await readBootConfig(s, PCS.r3, null))!;
  const got = await agentCall(s.url, job.token, 'GET', '/job');
  t.like(got.body.properties, { imagefile: 'common', server_image: '' });
  t.is((await s.api('POST', '/api/v1/groups/room9/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
});
