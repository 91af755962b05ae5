import test from 'ava';
import { startTestServer, issueJob, agentCall, parseNetbootConfig, readBootConfig, type TestServer } from '../helpers/server.ts';
import { ruleOf } from '../../bootserver/auth/policy.ts';

const MAC1 = '52:54:00:00:20:01';

async function snapshot(ts: TestServer) {
  const clients = (await ts.api('GET', '/api/v1/clients')).body;
  const groups = (await ts.api('GET', '/api/v1/groups')).body;
  const states = (await ts.api('GET', '/api/v1/product-states')).body;
  return JSON.stringify({ clients, groups, states });
}

/** Every registered route as [method, path], read from fastify's own route tree. */
function registeredRoutes(tree: string): [string, string][] {
  const out: [string, string][] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) out.push([method, stack.join('')]);
  }
  return out;
}

/** Routes anyone may call: health, the login, and the OpenAPI docs (outside /api/v1). */
const PUBLIC_ROUTES = new Set(['GET /api/v1/health', 'HEAD /api/v1/health', 'POST /api/v1/session']);

test('every /agent/v1 route needs a job token (or the first-boot token): 401 without one, before its body is read; a wrong one is never accepted', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  // The server's clock (the boot image sets its own before TLS-free calls): no secret, no effect.
  const open = new Set(['GET /agent/v1/time', 'HEAD /agent/v1/time']);
  const routes = registeredRoutes(ts.server.http.printRoutes({ commonPrefix: false })).filter(([method, path]) => path.startsWith('/agent/v1/') && !open.has(`${method} ${path}`));
  for (const known of ['GET /agent/v1/job', 'POST /agent/v1/job/result', 'GET /agent/v1/seed']) {
    t.true(routes.some(([m, p]) => `${m} ${p}` === known), `route list has ${known}`);
  }
  for (const [method, pattern] of routes) {
    const path = pattern.replace(/:[a-zA-Z]+/g, 'x1');
    const label = `${method} ${pattern}`;
    const none = await fetch(ts.url + path, { method });
    t.is(none.status, 401, `${label} without token`);
    await none.body?.cancel();
    // A wrong token: refused (401), or the body found invalid first (400); never accepted.
    const wrong = await fetch(ts.url + path, { method, headers: { authorization: `Bearer ${'0'.repeat(32)}` } });
    t.true(wrong.status === 401 || wrong.status === 400, `${label} with a wrong token: ${wrong.status}`);
    await wrong.body?.cancel();
  }
  t.is((await fetch(`${ts.url}/agent/v1/time`)).status, 200, 'the time needs no token');
});

test('every /api/v1 route needs a token in a header (or the session cookie): 401 without, with a wrong one, with the right one as ?access_token=, and with an event ticket; 403 for an operator where admins only', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const routes = registeredRoutes(ts.server.http.printRoutes({ commonPrefix: false })).filter(([method, path]) => path.startsWith('/api/v1/') && !PUBLIC_ROUTES.has(`${method} ${path}`));
  // The sweep must see the routes it is about (guards against a parser that finds nothing).
  for (const known of ['POST /api/v1/clients/import', 'DELETE /api/v1/groups/:id', 'GET /api/v1/jobs/:id/log', 'GET /api/v1/events', 'PUT /api/v1/clients/:id/products/:productId/properties']) {
    t.true(routes.some(([m, p]) => `${m} ${p}` === known), `route list has ${known}`);
  }
  t.true(routes.length >= 25, `${routes.length} routes found`);
  const ticket = (await ts.api('POST', '/api/v1/events/tickets')).body.ticket as string;
  for (const [method, pattern] of routes) {
    const path = pattern.replace(':productId', 'hwinvent').replace(':id', 'pc01');
    const label = `${method} ${pattern}`;
    const none = await fetch(ts.url + path, { method });
    t.is(none.status, 401, `${label} without token`);
    const wrong = await fetch(ts.url + path, { method, headers: { authorization: 'Bearer ni_wrong' } });
    t.is(wrong.status, 401, `${label} with a wrong token`);
    if (method !== 'HEAD') t.regex(((await wrong.json()) as { message: string }).message, /invalid API token/, label);
    const query = await fetch(`${ts.url}${path}?access_token=${encodeURIComponent(ts.adminToken)}`, { method });
    t.is(query.status, 401, `${label} with the admin token as ?access_token=`);
    await query.body?.cancel();
    if (pattern !== '/api/v1/events') {
      const ticketed = await fetch(`${ts.url}${path}?ticket=${ticket}`, { method });
      t.is(ticketed.status, 401, `${label} with an event ticket (valid for GET /api/v1/events only)`);
    }
  }
  t.is((await fetch(ts.url + '/api/v1/health')).status, 200, 'health needs no token');
  t.is((await fetch(ts.url + '/api/docs/json')).status, 200, 'the API docs need no token');

  // An operator's token: every route the role table keeps for admins answers 403 (before any
  // validation of the body), whichever module registered it.
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  t.is((await ts.api('POST', '/api/v1/users', { name: 'olga', role: 'operator', groups: ['room1'] })).status, 201);
  const operatorToken = (await ts.api('POST', '/api/v1/users/olga/tokens', { name: 'sweep' })).body.token as string;
  const adminOnly = routes.filter(([method, pattern]) => method !== 'HEAD' && ruleOf(method, pattern).kind === 'admin');
  t.true(adminOnly.length >= 20, `${adminOnly.length} admin-only routes`);
  for (const [method, pattern] of adminOnly) {
    const path = pattern.replace(':productId', 'hwinvent').replace(':id', 'pc01');
    const res = await fetch(ts.url + path, { method, headers: { authorization: `Bearer ${operatorToken}` } });
    t.is(res.status, 403, `${method} ${pattern} with an operator token`);
    await res.body?.cancel();
  }
});

test('invalid bodies and params get 400 with a message naming the field, and nothing is written', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC1, group: 'room1' });
  const before = await snapshot(ts);
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/api/v1/clients', { id: 'pc02', mac: 'not-a-mac' }, /body\.mac: .*MAC address/],
    ['POST', '/api/v1/clients', { id: 'bad host!', mac: '52:54:00:00:20:09' }, /body\.id: .*host name/],
    ['POST', '/api/v1/clients', { id: 'pc02' }, /MAC or an SMBIOS UUID/],
    ['POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:00:20:09', extra: 1 }, /extra/],
    ['POST', '/api/v1/clients', { id: 'pc02', uuid: '1234' }, /body\.uuid: .*SMBIOS UUID/],
    ['PATCH', '/api/v1/clients/pc01', { mac: 'zz' }, /body\.mac/],
    ['PUT', '/api/v1/clients/pc01/products/hwinvent/action', { actionRequest: 'explode' }, /body\.actionRequest/],
    ['PUT', '/api/v1/clients/pc01/products/opsi-local-image-prepare/action', { actionRequest: 'setup', properties: { multi_disk_mode: '7' } }, /multi_disk_mode must be one of/],
    ['PUT', '/api/v1/clients/pc01/products/opsi-local-image-prepare/action', { actionRequest: 'setup', properties: { nosuch: '1' } }, /has no property nosuch/],
    ['PUT', '/api/v1/clients/pc01/products/opsi-local-image-prepare/action', { actionRequest: 'setup', properties: { backup_partition_on_same_disk: 'maybe' } }, /boolean/],
    ['GET', '/api/v1/jobs?limit=abc', undefined, /querystring\.limit/],
    ['GET', '/api/v1/jobs/not-a-uuid', undefined, /params\.id/],
    ['POST', '/api/v1/groups', { id: '../etc' }, /body\.id/],
  ];
  for (const [method, path, body, message] of cases) {
    const r = await ts.api(method, path, body);
    t.is(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
    t.regex(r.body.message, message, `${method} ${path}`);
  }
  const notJson = await fetch(ts.url + '/api/v1/clients', { method: 'POST', headers: { authorization: `Bearer ${ts.adminToken}`, 'content-type': 'application/json' }, body: '{"id": ' });
  t.is(notJson.status, 400);
  t.is(await snapshot(ts), before, 'nothing was written by any refused request');
  const missing = await ts.api('PUT', '/api/v1/clients/nosuch/products/hwinvent/action', { actionRequest: 'setup' });
  t.is(missing.status, 404);
  t.regex(missing.body.message, /client nosuch not found/);
});

test('duplicate MAC over the API is a 409 naming the other client', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC1 });
  const r = await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: MAC1.toUpperCase() });
  t.is(r.status, 409);
  t.is(r.body.message, `MAC ${MAC1} already belongs to client pc01`);
});

test('CSV import is all or nothing and names every bad line', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc09', mac: '52:54:00:00:20:09' });
  const bad = 'hostname,mac,uuid,group\npc01,52:54:00:00:20:01,,room1\npc02,xx,,room1\npc03,52:54:00:00:20:01,,room1\n';
  const r1 = await ts.api('POST', '/api/v1/clients/import', bad);
  t.is(r1.status, 400);
  t.regex(r1.body.message, /line 3: mac/);
  t.regex(r1.body.message, /line 4: mac 52:54:00:00:20:01 repeats line 2/);
  // A wrong file (here 40 lines that are no clients) names its first bad lines and counts the rest.
  const junk = Array.from({ length: 40 }, (_, i) => `root:x:${i}:0:root:/root:/bin/bash`).join('\n');
  const r0 = await ts.api('POST', '/api/v1/clients/import', junk);
  t.is(r0.status, 400);
  t.regex(r0.body.message, /^CSV refused, nothing imported: line 1: expected hostname,mac,uuid,group\[,description\], got 1 field\(s\); .*line 5: .*; and 35 more bad line\(s\)$/);
  t.notRegex(r0.body.message, /line 6:/);
  const clash = 'pc01,52:54:00:00:20:01,,room1\npc02,52:54:00:00:20:09,,room1\n';
  const r2 = await ts.api('POST', '/api/v1/clients/import', clash);
  t.is(r2.status, 409);
  t.regex(r2.body.message, /line 2: MAC 52:54:00:00:20:09 already belongs to client pc09; nothing imported/);
  t.deepEqual((await ts.api('GET', '/api/v1/clients')).body.map((c: any) => c.id), ['pc09']);
  t.deepEqual((await ts.api('GET', '/api/v1/groups')).body, [], 'the group of the failed import was not created');
  const good = 'hostname,mac,uuid,group\npc01,52:54:00:00:20:01,,room1\n"pc02","52-54-00-00-20-02","8A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D",room1\n';
  const r3 = await ts.api('POST', '/api/v1/clients/import', good);
  t.is(r3.status, 201);
  t.is(r3.body.imported, 2);
  // A room the file names that did not exist is made, and the answer says so (a typo made a new room unnoticed).
  t.deepEqual(r3.body.createdGroups, ['room1']);
  t.like((await ts.api('GET', '/api/v1/clients/pc02')).body, { mac: '52:54:00:00:20:02', uuid: '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d', group: 'room1' });
  // A spreadsheet's export: semicolons, its own header words (columns still by position).
  const sheet = 'Name;MAC-Adresse;UUID;Raum\r\npc03;52:54:00:00:20:03;;room1\r\n';
  const r4 = await ts.api('POST', '/api/v1/clients/import', sheet);
  t.is(r4.status, 201, r4.text);
  t.is(r4.body.imported, 1);
  t.deepEqual(r4.body.createdGroups, []);
  t.like((await ts.api('GET', '/api/v1/clients/pc03')).body, { mac: '52:54:00:00:20:03', group: 'room1' });
});

test('group restore takes the image common to all clients, or refuses and writes nothing', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  const lists: Record<string, string[]> = { pc01: ['win10', 'win11'], pc02: ['win11', 'win10', 'ubuntu'], pc03: ['win11'] };
  let i = 1;
  for (const [id, list] of Object.entries(lists)) {
    await ts.api('POST', '/api/v1/clients', { id, mac: `52:54:00:00:30:0${i++}`, group: 'room1' });
    await ts.api('PUT', `/api/v1/clients/${id}/products/opsi-local-image-restore/properties`, { values: { imagefiles_list: list } });
  }
  const refused = await ts.api('POST', '/api/v1/groups/room1/action', { productId: 'opsi-local-image-restore', actionRequest: 'setup', properties: { imagefile: 'win10' }, confirm: 3 });
  t.is(refused.status, 409);
  t.is(refused.body.message, 'image win10 is not on every client of the group (missing on: pc03; the images every client has: win11)');
  const states = (await ts.api('GET', '/api/v1/product-states?group=room1&product=opsi-local-image-restore')).body;
  t.true(states.every((s: any) => s.actionRequest === 'none'), 'nothing set by the refused request');
  const ok = await ts.api('POST', '/api/v1/groups/room1/action', { productId: 'opsi-local-image-restore', actionRequest: 'setup', confirm: 3 });
  t.is(ok.status, 200);
  t.deepEqual(ok.body, { clients: ['pc01', 'pc02', 'pc03'], imagefile: 'win11' });
  for (const id of Object.keys(lists)) {
    t.is((await ts.api('GET', `/api/v1/clients/${id}/products/opsi-local-image-restore/properties`)).body.imagefile, 'win11');
  }
  const after = (await ts.api('GET', '/api/v1/product-states?group=room1&product=opsi-local-image-restore')).body;
  t.deepEqual(after.map((s: any) => s.actionRequest), ['setup', 'setup', 'setup']);
});

test('a restore for a PC without the image says the PC has no image of that name and lists the ones it has (or how to get one); nothing set', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:31:01' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:00:31:02' });
  await ts.api('PUT', '/api/v1/clients/pc02/products/opsi-local-image-restore/properties', { values: { imagefiles_list: ['base', 'exam'] } });
  const restore = (id: string, properties: Record<string, string>) => ts.api('PUT', `/api/v1/clients/${id}/products/opsi-local-image-restore/action`, { actionRequest: 'setup', properties });
  const none = "none: back it up first with opsi-local-image-backup, or fetch a golden image from the server's depot with server_image=<name>";
  for (const [id, properties, message] of [
    ['pc01', {}, `pc01 has no image to restore; its images: ${none}; nothing was changed`],
    ['pc01', { imagefile: 'base' }, `pc01 has no image base; its images: ${none}; nothing was changed`],
    ['pc02', { imagefile: 'nope' }, 'pc02 has no image nope; its images: base, exam; nothing was changed'],
    ['pc02', {}, 'no image named for the restore of pc02: name one of its images with imagefile=<name>; its images: base, exam; nothing was changed'],
  ] as const) {
    const r = await restore(id, properties);
    t.is(r.status, 409, `${id} ${JSON.stringify(properties)}`);
    t.is(r.body.message, message);
  }
  const states = (await ts.api('GET', '/api/v1/product-states?product=opsi-local-image-restore')).body;
  t.true(states.every((s: any) => s.actionRequest === 'none'), 'nothing set by the refused requests');
  t.is((await ts.api('GET', '/api/v1/clients/pc02/products/opsi-local-image-restore/properties')).body.imagefile, '', 'the refused name was not stored');
  t.is((await restore('pc02', { imagefile: 'exam' })).status, 200);
});

test('SSE stream delivers a simulated agent\'s progress over real HTTP, replaying what came before', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC1, productId: 'opsi-local-image-backup' });
  await agentCall(ts.url, job.token, 'GET', '/job');
  const res = await fetch(`${ts.url}/api/v1/events?job=${job.jobId}`, { headers: { authorization: `Bearer ${ts.adminToken}` } });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const received: any[] = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        const e = JSON.parse(data.slice(6));
        received.push(e);
        if (e.message === 'succeeded') return;
      }
    }
  })();
  for (const percent of [10, 50, 90]) {
    t.is((await agentCall(ts.url, job.token, 'POST', '/job/progress', { percent, message: `backing up ${percent}`, log: [`line ${percent}`] })).status, 200);
  }
  await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' });
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('SSE timeout')), 5000))]);
  const messages = received.map((e) => e.message);
  t.is(messages[0], 'boot configuration read (attempt 1 of 3)', 'history replayed first');
  t.true(messages.includes('agent started'));
  t.deepEqual(received.filter((e) => e.kind === 'progress').map((e) => e.percent), [10, 50, 90]);
  t.deepEqual(received.filter((e) => e.kind === 'log').map((e) => e.message), ['line 10', 'line 50', 'line 90']);
  t.is(messages.at(-1), 'succeeded');
  const ids = received.map((e) => e.id);
  t.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in order, no duplicates');
  t.is(new Set(ids).size, ids.length);
});

test('OpenAPI is served at /api/docs with the admin and agent routes', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const spec = (await (await fetch(`${ts.url}/api/docs/json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  t.regex(spec.openapi, /^3\./);
  for (const p of ['/api/v1/clients', '/api/v1/groups/{id}/action', '/api/v1/events', '/agent/v1/job/result']) t.truthy(spec.paths[p], p);
  t.is((await fetch(`${ts.url}/api/docs/`)).status, 200);
});

test('placeholder identities are refused at registration (API and CSV) and never match at boot: they would hand one PC\'s job to another', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  for (const [body, message] of [
    [{ id: 'pc01', uuid: '00000000-0000-0000-0000-000000000000' }, /^body\.uuid: 00000000-0000-0000-0000-000000000000 is the placeholder firmware reports when it has no UUID of its own/],
    [{ id: 'pc01', uuid: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF' }, /^body\.uuid: ffffffff-ffff-ffff-ffff-ffffffffffff is the placeholder/],
    [{ id: 'pc01', mac: '00:00:00:00:00:00' }, /^body\.mac: 00:00:00:00:00:00 is no network card's address/],
    [{ id: 'pc01', mac: 'ff:ff:ff:ff:ff:ff' }, /^body\.mac: ff:ff:ff:ff:ff:ff is no network card's address \(all zeros, broadcast or multicast\)/],
    [{ id: 'pc01', mac: '01:00:5e:00:00:01' }, /^body\.mac: 01:00:5e:00:00:01 is no network card's address/],
  ] as const) {
    const r = await ts.api('POST', '/api/v1/clients', body);
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.body.message, message);
  }
  const csv = await ts.api('POST', '/api/v1/clients/import', 'pc01,52:54:00:00:30:01,00000000-0000-0000-0000-000000000000,room1\n');
  t.is(csv.status, 400);
  t.regex(csv.body.message, /line 1: uuid: 00000000-0000-0000-0000-000000000000 is the placeholder/);
  t.deepEqual((await ts.api('GET', '/api/v1/clients')).body, [], 'nothing registered');
  const ok = await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:00:30:02' });
  t.is(ok.status, 201);
  t.is((await ts.api('PATCH', '/api/v1/clients/pc02', { uuid: '00000000-0000-0000-0000-000000000000' })).status, 400, 'nor by edit');
  // A client stored with a placeholder before it was refused: a PC booting with that placeholder
  // and an unknown MAC does not get its job (it boots locally).
  await ts.server.store.createClient({ id: 'pc03', mac: null, uuid: '00000000-0000-0000-0000-000000000000', group: null, description: '', notes: '' });
  t.is((await ts.api('PUT', '/api/v1/clients/pc03/products/opsi-local-image-backup/action', { actionRequest: 'setup' })).status, 200);
  const other = await readBootConfig(ts, '52:54:00:00:30:99', '00000000-0000-0000-0000-000000000000');
  t.is(parseNetbootConfig(other), null, other);
});

test('a MAC as inventory exports and switches write it (no separators, Cisco dots) is registered in the usual form', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '525400AABB01' })).body.mac, '52:54:00:aa:bb:01');
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '5254.00aa.bb02' })).body.mac, '52:54:00:aa:bb:02');
  t.is((await ts.api('PATCH', '/api/v1/clients/pc02', { mac: '525400aabb03' })).body.mac, '52:54:00:aa:bb:03');
  const csv = await ts.api('POST', '/api/v1/clients/import', 'pc04,525400aabb04,,room1\n');
  t.is(csv.status, 201);
  t.is((await ts.api('GET', '/api/v1/clients/pc04')).body.mac, '52:54:00:aa:bb:04');
  // Still refused: the wrong length, and a placeholder in any spelling.
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc05', mac: '525400aabb' })).status, 400);
  t.regex((await ts.api('POST', '/api/v1/clients', { id: 'pc05', mac: 'FFFFFFFFFFFF' })).body.message, /ff:ff:ff:ff:ff:ff is no network card's address/);
});

test('a client whose job is under way is not removed (409 naming the job and how to stop it, nothing removed); once it is cancelled it is', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:40:01' });
  await ts.api('PUT', '/api/v1/clients/pc01/products/hwinvent/action', { actionRequest: 'setup' });
  const job = parseNetbootConfig(await readBootConfig(ts, '52:54:00:00:40:01', null));
  t.truthy(job, 'the PC read its config: a job is booting');
  const refused = await ts.api('DELETE', '/api/v1/clients/pc01');
  t.is(refused.status, 409);
  t.is(
    refused.body.message,
    `client pc01 has a job under way (hwinvent, booting, job ${job!.jobId.slice(0, 8)}): its PC would go on without a registry entry; clear its action first (netimage action set pc01 hwinvent --request none) or wait for it; nothing was removed`,
  );
  t.is((await ts.api('GET', '/api/v1/clients/pc01')).status, 200);
  await ts.api('PUT', '/api/v1/clients/pc01/products/hwinvent/action', { actionRequest: 'none' });
  t.is((await ts.api('DELETE', '/api/v1/clients/pc01')).status, 204);
});

test("a job's events: oldest first; ?tail=N the newest N (a running job's latest lines); a bad tail is a 400", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC1, productId: 'hwinvent' });
  await agentCall(ts.url, job.token, 'GET', '/job');
  for (let i = 1; i <= 5; i++) t.is((await agentCall(ts.url, job.token, 'POST', '/job/progress', { percent: i * 10, message: `step ${i}` })).status, 200);
  const all = await ts.api('GET', `/api/v1/jobs/${job.jobId}/events`);
  t.is(all.status, 200);
  const messages = (all.body as { message: string }[]).map((e) => e.message);
  t.deepEqual(messages.slice(-5), ['step 1', 'step 2', 'step 3', 'step 4', 'step 5']);
  t.true(messages.length > 5, 'the boot config read and the agent start come first');
  const tail = await ts.api('GET', `/api/v1/jobs/${job.jobId}/events?tail=2`);
  t.deepEqual((tail.body as { message: string }[]).map((e) => e.message), ['step 4', 'step 5']);
  for (const bad of ['tail=0', 'tail=10001', 'tail=all', 'after=3']) t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}/events?${bad}`)).status, 400, bad);
});
