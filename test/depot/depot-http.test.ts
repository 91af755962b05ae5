import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, readBootConfig, parseNetbootConfig, type TestServer } from '../helpers/server.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DATA = randomBytes(1_000_000);

async function withEntry(t: import('ava').ExecutionContext, name = 'debian-12-test'): Promise<{ ts: TestServer; url: string }> {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.server.osImages.depot.create('rootfs', name, {}, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), DATA));
  return { ts, url: `${ts.url}/depot/v1/rootfs/${name}/rootfs.tar.zst` };
}

const admin = (ts: TestServer, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${ts.adminToken}`, ...extra } });

test('GET and HEAD send the file with ETag, sha256 and length; Range gives 206 with the right bytes', async (t) => {
  const { ts, url } = await withEntry(t);
  const full = await fetch(url, admin(ts));
  t.is(full.status, 200);
  t.is(full.headers.get('etag'), `"${sha(DATA)}"`);
  t.is(full.headers.get('x-netimage-sha256'), sha(DATA));
  t.is(full.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(DATA).digest('base64')}:`);
  t.is(full.headers.get('content-length'), String(DATA.length));
  t.is(full.headers.get('accept-ranges'), 'bytes');
  t.true(Buffer.from(await full.arrayBuffer()).equals(DATA));

  const head = await fetch(url, { method: 'HEAD', ...admin(ts) });
  t.is(head.status, 200);
  t.is(head.headers.get('content-length'), String(DATA.length));
  t.is(head.headers.get('x-netimage-sha256'), sha(DATA));
  t.is((await head.arrayBuffer()).byteLength, 0);

  const part = await fetch(url, admin(ts, { range: 'bytes=1000-1999' }));
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 1000-1999/${DATA.length}`);
  t.true(Buffer.from(await part.arrayBuffer()).equals(DATA.subarray(1000, 2000)));

  const open = await fetch(url, admin(ts, { range: `bytes=${DATA.length - 10}-` }));
  t.is(open.status, 206);
  t.true(Buffer.from(await open.arrayBuffer()).equals(DATA.subarray(DATA.length - 10)));

  const suffix = await fetch(url, admin(ts, { range: 'bytes=-100' }));
  t.true(Buffer.from(await suffix.arrayBuffer()).equals(DATA.subarray(DATA.length - 100)));

  const beyond = await fetch(url, admin(ts, { range: `bytes=${DATA.length}-` }));
  t.is(beyond.status, 416);
  t.is(beyond.headers.get('content-range'), `bytes */${DATA.length}`);

  // An empty file (Windows media have some): a suffix range has no bytes to name, so the whole
  // (empty) file comes as 200, never a 206 with an impossible Content-Range.
  await ts.server.osImages.depot.create('rootfs', 'empty-file', {}, async (dir) => {
    await writeFile(join(dir, 'empty'), '');
    await writeFile(join(dir, '100% #1 ?$OEM$.txt'), 'odd name');
  });
  // Windows media keep their names: "%", "#" and "?" arrive when each segment is percent-encoded.
  const odd = await fetch(`${ts.url}/depot/v1/rootfs/empty-file/${encodeURIComponent('100% #1 ?$OEM$.txt')}`, admin(ts));
  t.is(odd.status, 200);
  t.is(await odd.text(), 'odd name');
  const empty = await fetch(`${ts.url}/depot/v1/rootfs/empty-file/empty`, admin(ts, { range: 'bytes=-100' }));
  t.is(empty.status, 200);
  t.is(empty.headers.get('content-range'), null);
  t.is(empty.headers.get('content-length'), '0');
  t.is((await empty.arrayBuffer()).byteLength, 0);

  const same = await fetch(url, admin(ts, { 'if-none-match': `"${sha(DATA)}"` }));
  t.is(same.status, 304);
  // A resume against a changed file (other ETag) must get the whole new file, not a piece.
  const stale = await fetch(url, admin(ts, { range: 'bytes=0-9', 'if-range': '"0000"' }));
  t.is(stale.status, 200);
  t.is((await stale.arrayBuffer()).byteLength, DATA.length);

  const manifest = await fetch(`${ts.url}/depot/v1/rootfs/debian-12-test/manifest.json`, admin(ts));
  t.is(manifest.status, 200);
  const m = (await manifest.json()) as { files: { path: string; sha256: string; size: number }[] };
  t.deepEqual(m.files, [{ path: 'rootfs.tar.zst', size: DATA.length, sha256: sha(DATA) }]);
});

test('the depot is not world-readable: no token 401, a wrong token 401, unknown files 404', async (t) => {
  const { ts, url } = await withEntry(t);
  const none = await fetch(url);
  t.is(none.status, 401);
  t.is(none.headers.get('www-authenticate'), 'Bearer realm="netimage depot"');
  t.like(await none.json(), { statusCode: 401, error: 'Unauthorized', message: 'the depot needs "Authorization: Bearer <admin token or job token>"' }, 'the shape of every error answer');
  t.is((await fetch(url, { headers: { authorization: 'Bearer ni_wrong' } })).status, 401);
  t.is((await fetch(`${ts.url}/depot/v1/rootfs/debian-12-test/nosuch`, admin(ts))).status, 404);
  t.is((await fetch(`${ts.url}/depot/v1/rootfs/nosuch/rootfs.tar.zst`, admin(ts))).status, 404);
  t.is((await fetch(`${ts.url}/depot/v1/rootfs/debian-12-test/..%2f..%2fnetimage.sqlite`, admin(ts))).status, 404);
  t.is((await fetch(`${ts.url}/depot/v1/secrets/x/y`, admin(ts))).status, 404);
});

test('a job token reads only the root filesystem its install job was granted, and only while the job runs; that entry is not removed meanwhile', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const { depot, policy } = ts.server.osImages;
  // The entry the debian product's default properties name (built from this server's apt mirror).
  const product = await ts.server.service.requireProduct('opsi-local-image-debian');
  const defaults = Object.fromEntries(product.properties.map((p) => [p.name, p.default]));
  const granted = policy.resolveProduct('opsi-local-image-debian', defaults).entryId.split('/')[1]!;
  await depot.create('rootfs', granted, {}, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), DATA));
  await depot.create('rootfs', 'debian-12-other', {}, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), DATA));

  // The admin API refuses the install this session (no installer in the boot image), so the
  // pending action is put in the store directly, as an accepted request would be.
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:70:01' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:00:70:02' });
  const pending = { actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: new Date().toISOString() } as const;
  await ts.server.store.putProductOnClient({ clientId: 'pc01', productId: 'opsi-local-image-debian', ...pending });
  await ts.server.store.putProductOnClient({ clientId: 'pc02', productId: 'hwinvent', ...pending });
  const install = parseNetbootConfig(await readBootConfig(ts, '52:54:00:00:70:01', null))!;
  const inventory = parseNetbootConfig(await readBootConfig(ts, '52:54:00:00:70:02', null))!;
  const read = (token: string, name: string) => fetch(`${ts.url}/depot/v1/rootfs/${name}/rootfs.tar.zst`, { headers: { authorization: `Bearer ${token}`, range: 'bytes=0-99' } });

  const ok = await read(install.token, granted);
  t.is(ok.status, 206);
  t.true(Buffer.from(await ok.arrayBuffer()).equals(DATA.subarray(0, 100)));
  const other = await read(install.token, 'debian-12-other');
  t.is(other.status, 403);
  t.regex(((await other.json()) as { message: string }).message, /may not read rootfs\/debian-12-other/);
  t.is((await read(inventory.token, granted)).status, 403, 'a hwinvent job reads no root filesystem');

  // The entry a job under way reads is not removed (the install would fail half way); another is.
  const inUse = await ts.api('DELETE', `/api/v1/depot/rootfs/${granted}`);
  t.is(inUse.status, 409);
  t.is(
    inUse.body.message,
    `rootfs/${granted} is being read by the job under way on pc01 (opsi-local-image-debian, job ${install.jobId.slice(0, 8)}): removing it would fail that job half way; clear its action first (netimage action set pc01 opsi-local-image-debian --request none) or wait for it; nothing was removed`,
  );
  t.is((await read(install.token, granted)).status, 206, 'still there');
  t.is((await ts.api('DELETE', '/api/v1/depot/rootfs/debian-12-other')).status, 204);

  // However many jobs started since (a room of 100 PCs booting hwinvent: the job list's default page).
  for (let i = 0; i < 100; i++) {
    const mac = `52:54:00:00:72:${i.toString(16).padStart(2, '0')}`;
    await ts.api('POST', '/api/v1/clients', { id: `pc-r${i}`, mac });
    await ts.server.store.putProductOnClient({ clientId: `pc-r${i}`, productId: 'hwinvent', ...pending });
    t.truthy(parseNetbootConfig(await readBootConfig(ts, mac, null)));
  }
  const stillInUse = await ts.api('DELETE', `/api/v1/depot/rootfs/${granted}`);
  t.is(stillInUse.status, 409);
  t.regex(stillInUse.body.message, new RegExp(`is being read by the job under way on pc01 \\(opsi-local-image-debian, job ${install.jobId.slice(0, 8)}\\)`));

  // Once the admin clears the request the job is cancelled and its token reads nothing.
  await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-debian/action', { actionRequest: 'none' });
  const after = await read(install.token, granted);
  t.is(after.status, 403);
  t.regex(((await after.json()) as { message: string }).message, /is cancelled/);
  t.is((await ts.api('DELETE', `/api/v1/depot/rootfs/${granted}`)).status, 204, 'no job reads it now');
});

test('a root filesystem a pending Linux install or a schedule of one needs is not removed (409 naming them, nothing removed); one no install builds is', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const DEBIAN = 'opsi-local-image-debian';
  const { depot, policy } = ts.server.osImages;
  // The entry the debian product's default properties name, and one with an extra package (another build).
  const product = await ts.server.service.requireProduct(DEBIAN);
  const defaults = Object.fromEntries(product.properties.map((p) => [p.name, p.default]));
  const needed = policy.resolveProduct(DEBIAN, defaults).entryId.split('/')[1]!;
  const other = policy.resolveProduct(DEBIAN, { ...defaults, additional_packages: 'htop' }).entryId.split('/')[1]!;
  t.not(needed, other);
  for (const name of [needed, other]) await depot.create('rootfs', name, {}, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), DATA));
  await ts.api('POST', '/api/v1/groups', { id: 'lab' });
  for (const [i, id] of ['pc01', 'pc02'].entries()) await ts.api('POST', '/api/v1/clients', { id, mac: `52:54:00:00:71:0${i + 1}`, group: 'lab' });

  // Pending, not booted yet (no job reads it): put in the store as an accepted request would be
  // (the admin API checks the mirror, which this machine does not reach).
  const pending = { actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: new Date().toISOString() } as const;
  await ts.server.store.putProductOnClient({ clientId: 'pc01', productId: DEBIAN, ...pending });
  const refused = await ts.api('DELETE', `/api/v1/depot/rootfs/${needed}`);
  t.is(refused.status, 409, refused.text);
  t.is(
    refused.body.message,
    `rootfs/${needed} is still needed: the pending ${DEBIAN} of pc01 fetches it; clear that first (netimage action set <hostname> ${DEBIAN} --request none) or let it run; nothing was removed`,
  );
  t.is((await ts.api('GET', `/api/v1/depot/rootfs/${needed}`)).status, 200, 'still there');
  t.deepEqual((await ts.api('GET', `/api/v1/depot/rootfs/${needed}`)).body.usedBy, { clients: ['pc01'], schedules: [] });
  t.is((await ts.api('DELETE', `/api/v1/depot/rootfs/${other}`)).status, 204, 'an entry no install builds goes');
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/action`, { actionRequest: 'none' })).status, 200);

  // A schedule of the install for the room: its run would boot both PCs into that root filesystem.
  const schedule = await ts.api('POST', '/api/v1/schedules', { name: 'reinstall', every: 'daily 03:00', target: { kind: 'group', id: 'lab' }, productId: DEBIAN, properties: {}, confirm: 2 });
  t.is(schedule.status, 201, schedule.text);
  const scheduled = await ts.api('DELETE', `/api/v1/depot/rootfs/${needed}`);
  t.is(scheduled.status, 409, scheduled.text);
  t.is(scheduled.body.message, `rootfs/${needed} is still needed: schedule(s) reinstall will fetch it; clear that first (netimage schedule rm reinstall); nothing was removed`);
  t.is((await ts.api('DELETE', '/api/v1/schedules/reinstall')).status, 204);
  t.is((await ts.api('DELETE', `/api/v1/depot/rootfs/${needed}`)).status, 204);
});

test('a damaged file is never served (500 naming verify); admin API lists, verifies and removes entries', async (t) => {
  const { ts, url } = await withEntry(t);
  const list = await ts.api('GET', '/api/v1/depot');
  t.is(list.status, 200);
  t.deepEqual(list.body.map((e: { id: string; bytes: number }) => [e.id, e.bytes]), [['rootfs/debian-12-test', DATA.length]]);
  t.deepEqual((await ts.api('POST', '/api/v1/depot/rootfs/debian-12-test/verify')).body, { id: 'rootfs/debian-12-test', ok: true, problems: [], bytes: DATA.length });

  await truncate(join(ts.server.osImages.depot.dir, 'rootfs', 'debian-12-test', 'rootfs.tar.zst'), 10);
  const damaged = await fetch(url, admin(ts));
  t.is(damaged.status, 500);
  t.regex(((await damaged.json()) as { message: string }).message, /damaged .*netimage depot verify/);
  const verify = await ts.api('POST', '/api/v1/depot/rootfs/debian-12-test/verify');
  t.false(verify.body.ok);
  t.deepEqual(verify.body.problems, [`rootfs.tar.zst: size 10, manifest says ${DATA.length}`]);

  t.is((await ts.api('DELETE', '/api/v1/depot/rootfs/debian-12-test')).status, 204);
  t.deepEqual((await ts.api('GET', '/api/v1/depot')).body, []);
  const again = await ts.api('DELETE', '/api/v1/depot/rootfs/debian-12-test');
  t.is(again.status, 404);
  t.is(again.body.message, 'depot entry rootfs/debian-12-test not found');
  t.is((await fetch(`${ts.url}/api/v1/depot`)).status, 401);
});

test('a golden image a pending restore fetches is not removed (409 naming the PCs and schedules, nothing removed); once they are cleared it is', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.server.osImages.depot.create('golden', 'win11', {}, async (dir) => writeFile(join(dir, 'image.pcl.zst'), DATA));
  await ts.api('POST', '/api/v1/groups', { id: 'room' });
  for (const [i, id] of ['pc01', 'pc02'].entries()) await ts.api('POST', '/api/v1/clients', { id, mac: `52:54:00:00:61:0${i + 1}`, group: 'room' });
  const set = await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-restore/action', { actionRequest: 'setup', properties: { server_image: 'Win11' } });
  t.is(set.status, 200, set.text);
  // Another PC whose stored server_image names it, but with no pending restore: not a user.
  await ts.api('PUT', '/api/v1/clients/pc02/products/opsi-local-image-restore/properties', { values: { server_image: 'win11' } });

  const refused = await ts.api('DELETE', '/api/v1/depot/golden/win11');
  t.is(refused.status, 409);
  t.is(
    refused.body.message,
    'golden/win11 is still needed: the pending restore of pc01 fetches it; clear that first (netimage action set <hostname> opsi-local-image-restore --request none) or let it run; nothing was removed',
  );
  t.is((await ts.api('GET', '/api/v1/depot/golden/win11')).status, 200, 'still there');

  t.is((await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-restore/action', { actionRequest: 'none' })).status, 200);
  const schedule = await ts.api('POST', '/api/v1/schedules', { name: 'nightly', every: 'daily 03:00', target: { kind: 'group', id: 'room' }, productId: 'opsi-local-image-restore', properties: { server_image: 'win11' }, confirm: 2 });
  t.is(schedule.status, 201, schedule.text);
  const scheduled = await ts.api('DELETE', '/api/v1/depot/golden/win11');
  t.is(scheduled.status, 409);
  t.is(scheduled.body.message, 'golden/win11 is still needed: schedule(s) nightly will fetch it; clear that first (netimage schedule rm nightly); nothing was removed');
  t.is((await ts.api('DELETE', '/api/v1/schedules/nightly')).status, 204);
  // A schedule that sets no server_image: its run restores pc02 from pc02's own value, win11.
  t.is((await ts.api('POST', '/api/v1/schedules', { name: 'weekly', every: 'daily 04:00', target: { kind: 'group', id: 'room' }, productId: 'opsi-local-image-restore', properties: {}, confirm: 2 })).status, 201);
  const byOwnValue = await ts.api('DELETE', '/api/v1/depot/golden/win11');
  t.is(byOwnValue.status, 409, byOwnValue.text);
  t.is(byOwnValue.body.message, 'golden/win11 is still needed: schedule(s) weekly will fetch it; clear that first (netimage schedule rm weekly); nothing was removed');
  t.is((await ts.api('DELETE', '/api/v1/schedules/weekly')).status, 204);
  t.is((await ts.api('DELETE', '/api/v1/depot/golden/win11')).status, 204);
  t.is((await ts.api('GET', '/api/v1/depot/golden/win11')).status, 404);
});
