// Resumable, checksummed, atomic WIM uploads through a real server on loopback, with the job
// token of a real opsi-local-image-wim-capture job. The WIM is a real one made by wimlib.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTestServer, readBootConfig, parseNetbootConfig, type TestServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tempdir.ts';
import { Uploads } from '../../bootserver/depot/upload.ts';
import type { UploadView } from '../../lib/upload-protocol.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const TARGET = 'opsi-local-image-win11-x64';

/** A real two-image WIM (wimlib), padded by a random file so chunks matter. */
async function makeWim(t: import('ava').ExecutionContext): Promise<Buffer> {
  const dir = await tempDir(t, 'wim');
  await mkdir(join(dir, 'tree', 'Windows'), { recursive: true });
  await writeFile(join(dir, 'tree', 'Windows', 'noise.bin'), (await import('node:crypto')).randomBytes(600_000));
  await execa('wimlib-imagex', ['capture', join(dir, 'tree'), join(dir, 'x.wim'), 'Windows 11 Pro', '--compress=none']);
  await execa('wimlib-imagex', ['append', join(dir, 'tree'), join(dir, 'x.wim'), 'Windows 11 Education']);
  return readFile(join(dir, 'x.wim'));
}

/** One server for the file, a pending wim-capture for pc01 and a hwinvent for pc02; their job tokens. */
let shared: Promise<{ ts: TestServer; token: string; other: string }> | null = null;
test.after.always(async () => (await shared)?.ts.stop());
const setup = (_t: import('ava').ExecutionContext) => (shared ??= start());
async function start(): Promise<{ ts: TestServer; token: string; other: string }> {
  const ts = await startTestServer();
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:71:01' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:00:71:02' });
  const pending = { actionRequest: 'setup', installationStatus: 'not_installed', actionResult: 'none', actionProgress: '', lastAction: 'none', productVersion: null, modified: new Date().toISOString() } as const;
  await ts.server.store.setPropertyValues('pc01', 'opsi-local-image-wim-capture', { target_product: TARGET });
  await ts.server.store.putProductOnClient({ clientId: 'pc01', productId: 'opsi-local-image-wim-capture', ...pending });
  await ts.server.store.putProductOnClient({ clientId: 'pc02', productId: 'hwinvent', ...pending });
  const token = parseNetbootConfig(await readBootConfig(ts, '52:54:00:00:71:01', null))!.token;
  const other = parseNetbootConfig(await readBootConfig(ts, '52:54:00:00:71:02', null))!.token;
  return { ts, token, other };
}

const call = async (ts: TestServer, token: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${ts.url}/agent/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null });
  return { status: res.status, json: (await res.json()) as UploadView & { message: string; entry: string; meta: { editions: unknown } } };
};

const put = (ts: TestServer, token: string, id: string, data: Buffer, start: number, total: number) =>
  fetch(`${ts.url}/agent/v1/uploads/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-range': `bytes ${start}-${start + data.length - 1}/${total}` }, body: new Uint8Array(data) });

/** Send `head` bytes of a chunk announced as the whole rest, then cut the connection (a dropped link). */
function putAndDrop(ts: TestServer, token: string, id: string, data: Buffer, cutAfter: number): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(`${ts.url}/agent/v1/uploads/${id}`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(data.length), 'content-range': `bytes 0-${data.length - 1}/${data.length}` } });
    req.on('error', () => resolve());
    req.write(data.subarray(0, cutAfter), () => setImmediate(() => {
      req.destroy();
      resolve();
    }));
  });
}

async function waitForOffset(ts: TestServer, token: string, id: string, want: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { json } = await call(ts, token, 'GET', `/uploads/${id}`);
    if (json.offset >= want || Date.now() > deadline) return json.offset;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.serial('a WIM upload cut mid-way resumes at the offset, is checked and lands atomically as wim/<target>/install.wim with its editions', async (t) => {
  const wim = await makeWim(t);
  const { ts, token, other } = await setup(t);
  const depot = ts.server.osImages.depot;

  // Only the wim-capture job may upload, and only into its target.
  t.is((await call(ts, other, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) })).status, 403);
  t.is((await call(ts, 'not-a-token', 'POST', '/uploads', { size: wim.length, sha256: sha(wim) })).status, 401);

  const started = await call(ts, token, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) });
  t.is(started.status, 201);
  t.is(started.json.target, `wim/${TARGET}/install.wim`);
  const id = started.json.id;

  // The connection drops after 300 kB of the first chunk: what arrived counts.
  await putAndDrop(ts, token, id, wim, 300_000);
  const offset = await waitForOffset(ts, token, id, 300_000);
  t.true(offset > 0 && offset <= 300_000, `offset ${offset}`);
  t.is(await depot.get('wim', TARGET), null, 'nothing in the depot before the commit');
  // Starting again with the same bytes resumes the same upload.
  const again = await call(ts, token, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) });
  t.is(again.status, 200);
  t.is(again.json.id, id);
  t.is(again.json.offset, offset);
  // A chunk that does not start at the offset is refused, naming it; commit before the end too.
  const wrong = await put(ts, token, id, wim.subarray(0, 10), 0, wim.length);
  t.is(wrong.status, 409);
  t.regex(((await wrong.json()) as { message: string }).message, new RegExp(`stands at offset ${offset}`));
  t.is((await call(ts, token, 'POST', `/uploads/${id}/commit`)).status, 409);

  t.is((await put(ts, token, id, wim.subarray(offset), offset, wim.length)).status, 200);
  const done = await call(ts, token, 'POST', `/uploads/${id}/commit`);
  t.is(done.status, 200, done.json.message);
  t.is(done.json.entry, `wim/${TARGET}`);
  t.deepEqual(done.json.meta.editions, [
    { index: 1, name: 'Windows 11 Pro' },
    { index: 2, name: 'Windows 11 Education' },
  ]);
  const entry = await depot.require('wim', TARGET);
  t.deepEqual(entry.manifest.files, [{ path: 'install.wim', size: wim.length, sha256: sha(wim) }]);
  t.true((await readFile(join(entry.dir, 'install.wim'))).equals(wim));
  t.true((await depot.verify('wim', TARGET)).ok);
  t.deepEqual(await readdir(join(depot.dir, '.uploads')), [], 'the upload is gone once committed');

  // A second capture replaces the entry by a new version; the name never disappears.
  const wim2 = Buffer.concat([wim.subarray(0, 100), Buffer.from('x')]);
  const s2 = await call(ts, token, 'POST', '/uploads', { size: wim2.length, sha256: sha(wim2) });
  t.is((await put(ts, token, s2.json.id, wim2, 0, wim2.length)).status, 200);
  const bad = await call(ts, token, 'POST', `/uploads/${s2.json.id}/commit`);
  t.is(bad.status, 400, 'not a WIM: wiminfo refuses it, nothing changes');
  t.true((await readFile(join((await depot.require('wim', TARGET)).dir, 'install.wim'))).equals(wim));
});

test.serial('a corrupt upload (bytes differ from the announced sha256) is refused and nothing reaches the depot', async (t) => {
  const wim = await makeWim(t);
  const { ts, token } = await setup(t);
  const s = await call(ts, token, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) });
  const corrupt = Buffer.from(wim);
  corrupt[1000] = corrupt[1000]! ^ 0xff;
  t.is((await put(ts, token, s.json.id, corrupt, 0, wim.length)).status, 200);
  const before = await ts.server.osImages.depot.get('wim', TARGET);
  const r = await call(ts, token, 'POST', `/uploads/${s.json.id}/commit`);
  t.is(r.status, 400);
  t.regex(r.json.message, new RegExp(`sha256 is ${sha(corrupt)}, the uploader announced ${sha(wim)}; nothing was stored`));
  t.deepEqual(await ts.server.osImages.depot.get('wim', TARGET), before, 'the depot is unchanged');
  t.deepEqual(await readdir(join(ts.server.osImages.depot.dir, '.uploads')), []);
  // More bytes than the range announces, or a total other than the upload's: refused.
  const s2 = await call(ts, token, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) });
  t.is((await put(ts, token, s2.json.id, wim.subarray(0, 10), 0, wim.length + 1)).status, 400);
});

test.serial('an upload larger than the free space is refused before a byte is written; abandoned uploads expire', async (t) => {
  const { ts, token } = await setup(t);
  const r = await call(ts, token, 'POST', '/uploads', { size: 2 ** 50, sha256: 'a'.repeat(64) });
  t.is(r.status, 503);
  t.regex(r.json.message, /not enough space in the depot .* it needs 1048576\.00 GiB \(1125899906842624 bytes\), .* are free/);
  t.deepEqual(await readdir(join(ts.server.osImages.depot.dir, '.uploads')), []);

  const s = await call(ts, token, 'POST', '/uploads', { size: 10, sha256: 'b'.repeat(64) });
  t.is(s.status, 201);
  const later = new Uploads(ts.server.osImages.depot, { expiryMs: 60_000, now: () => new Date(Date.now() + 120_000) });
  t.deepEqual(await later.expire(), [s.json.id]);
  t.is((await call(ts, token, 'GET', `/uploads/${s.json.id}`)).status, 404);
  t.false(Boolean(await stat(join(ts.server.osImages.depot.dir, '.uploads', s.json.id)).catch(() => null)));
});

/** A loopback TCP proxy to the server that cuts the connection once, after `cutAfter` bytes from the client. */
async function cuttingProxy(t: import('ava').ExecutionContext, target: URL, cutAfter: number): Promise<{ url: string; cuts: () => number }> {
  const { createServer, connect } = await import('node:net');
  let sent = 0;
  let cuts = 0;
  const sockets = new Set<import('node:net').Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (b: Buffer) => {
      sent += b.length;
      if (cuts === 0 && sent > cutAfter) {
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(b);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => proxy.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(proxy.address() as import('node:net').AddressInfo).port}`, cuts: () => cuts };
}

test.serial("the agent's uploader resumes after the connection is cut mid-chunk, logs bytes and sha256, and the depot gets the exact file", async (t) => {
  const wim = await makeWim(t);
  const { ts, token } = await setup(t);
  const { AgentApiClient } = await import('../../bootimage/agent/api-client.ts');
  const { uploadToDepot } = await import('../../imaging/depot-upload.ts');
  const dir = await tempDir(t, 'agent-upload');
  const file = join(dir, 'install.wim');
  await writeFile(file, wim);
  const proxy = await cuttingProxy(t, new URL(ts.url), 450_000);
  const log: string[] = [];
  const client = new AgentApiClient({ baseUrl: proxy.url, token, log: (l) => log.push(l) });
  const progress: number[] = [];
  const r = await uploadToDepot({ server: client, file, log: (l) => log.push(l), chunkBytes: 256 * 1024, retryMs: 10, onProgress: (sent) => progress.push(sent) });
  t.is(proxy.cuts(), 1);
  t.true(r.uploaded, log.join('\n'));
  if (!r.uploaded) return;
  t.is(r.resumes, 1, log.join('\n'));
  t.true(log.some((l) => /^upload: resuming at \d+ of \d+ bytes$/.test(l)), log.join('\n'));
  t.true(log.includes(`uploaded ${wim.length} bytes (sha256 ${sha(wim)}) into wim/${TARGET} after 1 resume(s)`), log.join('\n'));
  t.is(progress.at(-1), wim.length);
  const entry = await ts.server.osImages.depot.require('wim', TARGET);
  t.true((await readFile(join(entry.dir, 'install.wim'))).equals(wim));

  // A job whose product grants no upload: the file stays on the PC, with the reason.
  const { other } = await setup(t);
  const refused = await uploadToDepot({ server: new AgentApiClient({ baseUrl: ts.url, token: other, log: () => undefined }), file, log: () => undefined });
  t.false(refused.uploaded);
  if (!refused.uploaded) t.regex(refused.reason, /HTTP 403: .*may not upload into the depot/);
});

test.serial('a commit the uploader repeats (its answer lost, or sent again while the first still hashes) gets the same answer, not a 404 that fails a stored capture', async (t) => {
  const wim = await makeWim(t);
  const { ts, token } = await setup(t);
  const s = await call(ts, token, 'POST', '/uploads', { size: wim.length, sha256: sha(wim) });
  t.is((await put(ts, token, s.json.id, wim, 0, wim.length)).status, 200);
  const commit = () => call(ts, token, 'POST', `/uploads/${s.json.id}/commit`);
  // Both at once: one commits; the other is told to wait (409, which the agent retries) or gets the same answer.
  const [first, second] = await Promise.all([commit(), commit()]);
  t.deepEqual([first.status, second.status].sort(), first.status === second.status ? [200, 200] : [200, 409], `${first.json.message} / ${second.json.message}`);
  const ok = first.status === 200 ? first : second;
  t.is(ok.json.entry, `wim/${TARGET}`);
  const repeated = await commit();
  t.is(repeated.status, 200, repeated.json.message);
  t.deepEqual(repeated.json, ok.json);
  const entry = await ts.server.osImages.depot.require('wim', TARGET);
  t.true((await readFile(join(entry.dir, 'install.wim'))).equals(wim));
  // Another job's token never sees it.
  const { other } = await setup(t);
  t.is((await call(ts, other, 'POST', `/uploads/${s.json.id}/commit`)).status, 403);
});

test.serial('an upload whose state file a crash cut short does not block every other upload; it is cleaned up at expiry', async (t) => {
  const { ts, token } = await setup(t);
  const depot = ts.server.osImages.depot;
  const broken = join(depot.dir, '.uploads', 'f'.repeat(32));
  await mkdir(broken, { mode: 0o700 });
  await writeFile(join(broken, 'state.json'), '{"id":"ffff', { mode: 0o600 });
  const s = await call(ts, token, 'POST', '/uploads', { size: 10, sha256: 'c'.repeat(64) });
  t.is(s.status, 201, s.json.message);
  t.is((await call(ts, token, 'GET', `/uploads/${'f'.repeat(32)}`)).status, 404);
  const later = new Uploads(depot, { expiryMs: 60_000, now: () => new Date(Date.now() + 120_000) });
  t.deepEqual((await later.expire()).sort(), [s.json.id, 'f'.repeat(32)].sort());
});

test.serial('while a chunk is still arriving its upload has no offset to resume at yet: status is 409 (ask again), then the settled offset', async (t) => {
  const { ts, token } = await setup(t);
  const data = Buffer.alloc(200_000, 7);
  const s = await call(ts, token, 'POST', '/uploads', { size: data.length, sha256: sha(data) });
  const u = new URL(`${ts.url}/agent/v1/uploads/${s.json.id}`);
  const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(data.length), 'content-range': `bytes 0-${data.length - 1}/${data.length}` } });
  const answered = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('error', reject);
  });
  req.write(data.subarray(0, 50_000));
  const file = join(ts.server.osImages.depot.dir, '.uploads', s.json.id, 'data');
  for (const deadline = Date.now() + 10_000; ((await stat(file)).size ?? 0) === 0; ) {
    if (Date.now() > deadline) throw new Error('the first bytes never arrived');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const during = await call(ts, token, 'GET', `/uploads/${s.json.id}`);
  t.is(during.status, 409, 'an offset read now would already be stale');
  req.end(data.subarray(50_000));
  t.is(await answered, 200);
  const after = await call(ts, token, 'GET', `/uploads/${s.json.id}`);
  t.is(after.status, 200);
  t.is(after.json.offset, data.length);
});
