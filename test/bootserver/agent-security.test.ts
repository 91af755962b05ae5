// What a job token cannot do, tried the way an attacker on the boot network would: a real server
// on loopback, unauthenticated config reads as grub makes them, then agent API calls with the
// token that read handed out. Each attack is checked through the admin API: nothing written.
import test from 'ava';
import { agentCall, issueJob, parseNetbootConfig, readBootConfig, startTestServer, type TestServer } from '../helpers/server.ts';

const MAC = '52:54:00:00:20:01';
const PREPARE = 'opsi-local-image-prepare';
const RESTORE = 'opsi-local-image-restore';
const BACKUP = 'opsi-local-image-backup';

async function productState(ts: TestServer, clientId: string, productId: string): Promise<any> {
  const states = (await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body as any[];
  return states.find((s) => s.productId === productId) ?? null;
}

async function properties(ts: TestServer, clientId: string, productId: string): Promise<Record<string, unknown>> {
  return (await ts.api('GET', `/api/v1/clients/${clientId}/products/${productId}/properties`)).body;
}

test('an unknown MAC gets a hwinvent token by reading its config; that token cannot queue prepare or touch image properties', async (t) => {
  const ts = await startTestServer({ overrides: { 'boot.bootUnknownClients': true } });
  t.teardown(() => ts.stop());
  // No credentials: any host on the boot network can ask for any MAC's config.
  const job = parseNetbootConfig(await readBootConfig(ts, MAC, null))!;
  t.truthy(job, 'an unknown client is registered and gets a hwinvent job');
  const clientId = 'pc-525400002001';

  const queue = await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: PREPARE, actionRequest: 'setup' }] });
  t.is(queue.status, 403);
  t.regex(queue.body.message, /hwinvent job may not queue opsi-local-image-prepare/);
  t.is((await productState(ts, clientId, PREPARE))?.actionRequest ?? 'none', 'none', 'nothing queued');

  const props = await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: RESTORE, values: { imagefile: 'evil', imagefiles_list: ['evil'] } });
  t.is(props.status, 403);
  t.regex(props.body.message, /may not set opsi-local-image-restore\.imagefile/);
  t.like(await properties(ts, clientId, RESTORE), { imagefile: '', imagefiles_list: [] });

  const states = await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [{ productId: PREPARE, installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '1' }] });
  t.is(states.status, 403);
  t.is((await productState(ts, clientId, PREPARE))?.installationStatus ?? 'not_installed', 'not_installed');

  // The next boot still runs hwinvent, not prepare.
  t.regex(await readBootConfig(ts, MAC, null), /hwinvent/);
});

test('a product queues only what an admin named in its own job properties, and only setup', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: PREPARE, properties: { start_os_installation: 'opsi-local-image-ubuntu' } });
  const call = (requests: unknown) => agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests });

  const restore = await call([{ productId: RESTORE, actionRequest: 'setup' }]);
  t.is(restore.status, 403, 'restore is destructive and not named in start_os_installation');
  t.regex(restore.body.message, /may not queue opsi-local-image-restore: its start_os_installation property names opsi-local-image-ubuntu/);
  t.is((await call([{ productId: 'opsi-local-image-ubuntu', actionRequest: 'uninstall' }])).status, 403, 'only setup');
  t.is((await call([{ productId: PREPARE, actionRequest: 'setup' }])).status, 403, 'not itself');
  // All or nothing: a named product next to an unnamed one is not queued either.
  t.is((await call([{ productId: 'opsi-local-image-ubuntu', actionRequest: 'setup' }, { productId: 'opsi-local-image-delimage', actionRequest: 'setup' }])).status, 403);
  t.is((await productState(ts, 'pc01', 'opsi-local-image-ubuntu'))?.actionRequest ?? 'none', 'none');
  t.is((await productState(ts, 'pc01', 'opsi-local-image-delimage'))?.actionRequest ?? 'none', 'none');

  t.is((await call([{ productId: 'opsi-local-image-ubuntu', actionRequest: 'setup' }])).status, 200, 'what the admin named');
  t.is((await productState(ts, 'pc01', 'opsi-local-image-ubuntu')).actionRequest, 'setup');
});

test('a product cannot widen its own scope by writing the property that names what it may queue', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: BACKUP });
  const write = await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: BACKUP, values: { setup_after_install: [PREPARE] } });
  t.is(write.status, 403);
  t.regex(write.body.message, /may not set opsi-local-image-backup\.setup_after_install \(only .*free_on_backup/);
  t.deepEqual((await properties(ts, 'pc01', BACKUP))['setup_after_install'], []);
  const queue = await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: PREPARE, actionRequest: 'setup' }] });
  t.is(queue.status, 403);
  t.is((await productState(ts, 'pc01', PREPARE))?.actionRequest ?? 'none', 'none');
  // Nor restore's: setup_after_restore is the admin's.
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: RESTORE, values: { setup_after_restore: [PREPARE] } })).status, 403);
  // What backup really writes still works.
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: RESTORE, values: { imagefile: 'win10', imagefiles_list: ['win10'] } })).status, 200);
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: BACKUP, values: { free_on_backup: '40 GB free' } })).status, 200);
  t.like(await properties(ts, 'pc01', RESTORE), { imagefile: 'win10', imagefiles_list: ['win10'] });
});

test('the token of a finished job is spent: no log replacement, no state reads, no writes; the same result is still acknowledged', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: 'hwinvent' });
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  // The agent uploads its full log right after the acknowledged result (run-agent.ts): once.
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/log', 'the real log\n')).status, 200);
  const replace = await agentCall(ts.url, job.token, 'POST', '/job/log', 'forged log\n');
  t.is(replace.status, 409);
  t.regex(replace.body.message, /final log is already uploaded/);
  t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}/log`)).text, 'the real log\n');

  const read = await agentCall(ts.url, job.token, 'GET', '/client/product-states');
  t.is(read.status, 409);
  t.regex(read.body.message, /succeeded: its token no longer works/);
  t.is((await agentCall(ts.url, job.token, 'GET', '/job')).status, 409);
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/progress', { log: ['late'] })).status, 409);
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: BACKUP, values: {} })).status, 409);
  // The agent's outbox resends an unacknowledged result: still idempotent.
  const again = await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' });
  t.is(again.status, 200);
  t.true(again.body.alreadyRecorded);
});

test('a cancelled job takes no log at all', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: PREPARE });
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${PREPARE}/action`, { actionRequest: 'none' })).status, 200);
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/log', 'log\n')).status, 409);
  t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}/log`)).status, 404);
});

test('spoofed config reads before the agent starts do not use up attempts; a power loss mid-job still retries', async (t) => {
  // Any spacing of reads (the probe waited 21 s between them): only an agent start counts an attempt.
  const ts = await startTestServer({ overrides: { 'boot.maxAttempts': 2 } });
  t.teardown(() => ts.stop());
  const first = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: PREPARE });
  for (let i = 0; i < 4; i++) {
    const again = parseNetbootConfig(await readBootConfig(ts, MAC, null));
    t.deepEqual(again && { attempt: again.attempt, token: again.token }, { attempt: 1, token: first.token }, `read ${i + 2} serves the same attempt`);
  }
  t.like((await ts.api('GET', `/api/v1/jobs/${first.jobId}`)).body, { state: 'booting', attempt: 1 });
  t.is((await productState(ts, 'pc01', PREPARE)).actionRequest, 'setup');

  // The agent starts, then the power goes: the next read is attempt 2 with a new token.
  t.is((await agentCall(ts.url, first.token, 'GET', '/job')).status, 200);
  const second = parseNetbootConfig(await readBootConfig(ts, MAC, null))!;
  t.is(second.attempt, 2);
  t.not(second.token, first.token);
  t.is((await agentCall(ts.url, first.token, 'GET', '/job')).status, 401);
  t.is(parseNetbootConfig(await readBootConfig(ts, MAC, null))!.token, second.token, 'attempt 2 is also re-served until its agent starts');
  // Attempt 2 dies after its agent started: maxAttempts 2 reached, the job gives up.
  t.is((await agentCall(ts.url, second.token, 'GET', '/job')).status, 200);
  t.regex(await readBootConfig(ts, MAC, null), /local boot/);
  t.like((await ts.api('GET', `/api/v1/jobs/${first.jobId}`)).body, { state: 'exhausted', error: 'no result after 2 boot attempts' });
});

test('an inventory nested thousands deep is refused with 400 and nothing is stored', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: 'hwinvent' });
  const inventory = (extra: unknown) => ({
    collectedAt: new Date().toISOString(),
    system: { manufacturer: 'QEMU', model: 'q35', serial: null, uuid: null },
    bios: { vendor: null, version: null, firmware: 'uefi' },
    cpu: { model: null, cores: 2 },
    memoryBytes: 1024,
    disks: [],
    nics: [],
    extra,
  });
  // Built as text: JSON.stringify itself overflows the stack on it (that was the server's 500).
  const deep = '{"d":'.repeat(6000) + '"leaf"' + '}'.repeat(6000);
  const res = await fetch(`${ts.url}/agent/v1/client/inventory`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${job.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(inventory({ nested: 'DEEP' })).replace('"DEEP"', deep),
  });
  t.is(res.status, 400);
  t.regex(((await res.json()) as { message: string }).message, /extra is too large: nested deeper than 8 levels/);
  const wide = await agentCall(ts.url, job.token, 'PUT', '/client/inventory', inventory(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))));
  t.is(wide.status, 400);
  t.regex(wide.body.message, /more than 2000 values/);
  t.is((await ts.api('GET', '/api/v1/clients/pc01/inventory')).status, 404, 'nothing stored');
  // What hwinvent really sends is taken.
  t.is((await agentCall(ts.url, job.token, 'PUT', '/client/inventory', inventory({ boardVendor: 'QEMU', cpuSpeedGHz: 2.4, kernel: '6.8.0' }))).status, 200);
  t.like((await ts.api('GET', '/api/v1/clients/pc01/inventory')).body, { extra: { boardVendor: 'QEMU' } });
});
