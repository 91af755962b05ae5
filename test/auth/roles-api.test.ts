// Roles and the wipe confirmation over real HTTP: an operator acts on their room only and never
// with another destructive product; a group action that wipes disks needs the exact number of
// PCs; refusals write nothing and are audited. One server for the file.
import test from 'ava';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ProductId } from '../../lib/products.ts';

let ts: TestServer;
let olga: string;
const RESTORE = ProductId.restore;

test.before(async () => {
  ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  for (const g of ['room1', 'room2']) await ts.api('POST', '/api/v1/groups', { id: g });
  const pcs = [['pc01', 'room1'], ['pc02', 'room1'], ['pc03', 'room2']] as const;
  for (const [i, [id, group]] of pcs.entries()) {
    await ts.api('POST', '/api/v1/clients', { id, mac: `52:54:00:00:40:0${i + 1}`, group });
    await ts.api('PUT', `/api/v1/clients/${id}/products/${RESTORE}/properties`, { values: { imagefiles_list: ['win11'], imagefile: 'win11' } });
  }
  t_ok(await ts.api('POST', '/api/v1/users', { name: 'olga', role: 'operator', groups: ['room1'] }));
  olga = (await ts.api('POST', '/api/v1/users/olga/tokens', { name: 'laptop' })).body.token;
});
test.after.always(() => ts?.stop());

function t_ok(r: { status: number; text: string }) {
  if (r.status >= 300) throw new Error(`${r.status} ${r.text}`);
}

const asOlga = (method: string, path: string, body?: unknown) => ts.api(method, path, body, { authorization: `Bearer ${olga}` });
const requests = async (group: string, product: string) =>
  (await ts.api('GET', `/api/v1/product-states?group=${group}&product=${product}`)).body.map((s: { clientId: string; actionRequest: string }) => `${s.clientId}:${s.actionRequest}`);

test.serial('an operator preparing their own room or another is refused (403 with the reason), nothing written, audited', async (t) => {
  const own = await asOlga('POST', '/api/v1/groups/room1/action', { productId: ProductId.prepare, actionRequest: 'setup', confirm: 2 });
  t.is(own.status, 403);
  t.regex(own.body.message, /^refused, nothing changed: an operator may request only opsi-local-image-restore or opsi-local-image-backup \(not opsi-local-image-prepare\)/);
  const other = await asOlga('POST', '/api/v1/groups/room2/action', { productId: RESTORE, actionRequest: 'setup', confirm: 1 });
  t.is(other.status, 403);
  t.regex(other.body.message, /group room2 is not one of your groups \(room1\)/);
  const otherPrepare = await asOlga('POST', '/api/v1/groups/room2/action', { productId: ProductId.prepare, actionRequest: 'setup', confirm: 1 });
  t.is(otherPrepare.status, 403, 'a prepare outside their room');
  t.regex(otherPrepare.body.message, /^refused, nothing changed: group room2 is not one of your groups \(room1\)/);
  t.deepEqual(await requests('room2', ProductId.prepare), []);
  const client = await asOlga('PUT', `/api/v1/clients/pc03/products/${RESTORE}/action`, { actionRequest: 'setup' });
  t.is(client.status, 403);
  t.regex(client.body.message, /client pc03 is in room2/);
  t.deepEqual(await requests('room1', ProductId.prepare), []);
  t.deepEqual(await requests('room2', RESTORE), []);
  const audit = (await ts.api('GET', '/api/v1/audit?actor=olga&limit=4')).body;
  t.like(audit[3], { actor: 'olga', role: 'operator', via: 'cli', route: '/api/v1/groups/:id/action', clients: ['pc01', 'pc02'], status: 403, detail: { params: { id: 'room1' }, body: { productId: ProductId.prepare } } });
  t.like(audit[0], { clients: ['pc03'], status: 403 });
});

test.serial('an operator: no user management, no registry or settings changes (403 before any validation), no audit log; own tokens only', async (t) => {
  for (const [method, path] of [['GET', '/api/v1/users'], ['POST', '/api/v1/users'], ['GET', '/api/v1/audit'], ['POST', '/api/v1/clients'], ['DELETE', '/api/v1/groups/room1'], ['PUT', `/api/v1/clients/pc01/products/${RESTORE}/properties`], ['POST', '/api/v1/users/admin2/tokens']] as const) {
    t.is((await asOlga(method, path)).status, 403, `${method} ${path}`);
  }
  t.is((await ts.api('GET', '/api/v1/groups')).body.length, 2, 'room1 still there');
  const mine = await asOlga('POST', '/api/v1/users/olga/tokens', { name: 'desk' });
  t.is(mine.status, 201);
  t.regex(mine.body.token, /^nu_/);
  t.deepEqual((await asOlga('GET', '/api/v1/users/olga/tokens')).body.map((x: { name: string }) => x.name), ['desk', 'laptop']);
  t.is((await asOlga('GET', '/api/v1/clients')).status, 200, 'reads are open');
});

test.serial('a group restore needs "confirm": the exact number of PCs (400 without, 409 when wrong), nothing set until then', async (t) => {
  const missing = await asOlga('POST', '/api/v1/groups/room1/action', { productId: RESTORE, actionRequest: 'setup' });
  t.is(missing.status, 400);
  t.regex(missing.body.message, /wipes the disks of 2 PCs in group room1 \(pc01, pc02\): send "confirm": 2/);
  const wrong = await asOlga('POST', '/api/v1/groups/room1/action', { productId: RESTORE, actionRequest: 'setup', confirm: 3 });
  t.is(wrong.status, 409);
  t.regex(wrong.body.message, /confirm is 3, but .* would wipe 2 PCs in group room1/);
  t.deepEqual(await requests('room1', RESTORE), [], 'nothing set');
  const ok = await asOlga('POST', '/api/v1/groups/room1/action', { productId: RESTORE, actionRequest: 'setup', confirm: 2 });
  t.is(ok.status, 200, ok.text);
  t.deepEqual(await requests('room1', RESTORE), [`pc01:setup`, `pc02:setup`]);
  t.is((await asOlga('POST', '/api/v1/groups/room1/action', { productId: RESTORE, actionRequest: 'none' })).status, 200, 'clearing needs no confirmation');
  t.is((await ts.api('POST', '/api/v1/groups/room2/action', { productId: 'hwinvent', actionRequest: 'setup' })).status, 200, 'a product that wipes nothing needs none');
  const audit = (await ts.api('GET', '/api/v1/audit?limit=4')).body;
  t.like(audit[2], { actor: 'olga', status: 200, clients: ['pc01', 'pc02'], detail: { body: { confirm: 2 } } });
  t.like(audit[0], { actor: 'admin-token', via: 'cli', clients: ['pc03'] });
});

test.serial('a role change applies at once; a removed user\'s tokens stop working', async (t) => {
  t.is((await ts.api('PATCH', '/api/v1/users/olga', { groups: ['room1', 'room2'] })).status, 200);
  t.is((await asOlga('PUT', `/api/v1/clients/pc03/products/${RESTORE}/action`, { actionRequest: 'setup' })).status, 200);
  t.is((await ts.api('PATCH', '/api/v1/users/olga', { groups: ['room9'] })).status, 400, 'an unknown group');
  t.is((await ts.api('DELETE', '/api/v1/users/olga')).status, 204);
  const gone = await asOlga('GET', '/api/v1/clients');
  t.is(gone.status, 401);
});
