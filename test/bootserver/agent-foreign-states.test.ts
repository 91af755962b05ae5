// States of products netimage does not run (opsi localboot products such as windomain), through
// the real server: a restore job puts them back and queues setup_after_restore with its token
// (the agent's calls), the admin sees them in the API and in `netimage states`, and nothing is
// written when the token may not (agent-scope.ts) or the input is bad.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, serveEnv } from '../helpers/cli.ts';
import { agentCall, issueJob, startTestServer, type TestServer } from '../helpers/server.ts';

const exec = promisify(execFile);
const MAC = '52:54:00:00:30:01';
const RESTORE = 'opsi-local-image-restore';
const BACKUP = 'opsi-local-image-backup';
const UBUNTU = 'opsi-local-image-ubuntu';
const IMAGE = { imagefile: 'win10', imagefiles_list: ['win10'] };

const windomain = { productId: 'windomain', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '4.3-1' };
const hwinvent = { productId: 'hwinvent', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '1.0' };

async function states(ts: TestServer, clientId = 'pc01'): Promise<any[]> {
  return (await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body as any[];
}

const stateOf = async (ts: TestServer, productId: string) => (await states(ts)).find((s) => s.productId === productId) ?? null;

function restoreJob(ts: TestServer, properties: Record<string, unknown> = {}) {
  return issueJob(ts, { clientId: 'pc01', mac: MAC, productId: RESTORE, properties: { ...IMAGE, ...properties } });
}

test('saved states of products netimage does not run are kept, shown to the admin (API and CLI) and handed to the next job', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts);
  t.is((await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [windomain, hwinvent] })).status, 200);

  t.like(await stateOf(ts, 'windomain'), { ...windomain, clientId: 'pc01', actionRequest: 'none', managedBy: 'os' });
  t.like(await stateOf(ts, 'hwinvent'), { ...hwinvent, managedBy: 'netimage' });
  const across = (await ts.api('GET', '/api/v1/product-states?product=windomain')).body as any[];
  t.deepEqual(across.map((s) => [s.clientId, s.productId, s.managedBy]), [['pc01', 'windomain', 'os']]);

  const cli = await exec(process.execPath, [CLI, 'states', 'pc01', '--url', ts.url, '--token', ts.adminToken], { env: serveEnv(ts.dataDir) });
  t.regex(cli.stdout, /RUN BY/);
  t.regex(cli.stdout, /windomain\s+none\s+installed\s+successful\s+setup\s+(-\s+)?os\b/);
  t.regex(cli.stdout, /hwinvent\s+none\s+installed\s+successful\s+setup\s+(-\s+)?netimage\b/);

  // The next job (a backup saving them with the next image) reads them back, as they were put.
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  const next = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: BACKUP });
  const saved = (await agentCall(ts.url, next.token, 'GET', '/client/product-states')).body.states as any[];
  t.deepEqual(saved.find((s) => s.productId === 'windomain'), windomain);
});

test('restore queues setup_after_restore=windomain: setup on its foreign state, what it had kept', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts, { setup_after_restore: ['windomain'] });
  t.is((await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [windomain] })).status, 200);
  const queue = await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: 'windomain', actionRequest: 'setup' }] });
  t.is(queue.status, 200, JSON.stringify(queue.body));
  t.like(await stateOf(ts, 'windomain'), { ...windomain, actionRequest: 'setup', managedBy: 'os' });
  // A later put of the saved states (an agent retrying) leaves the pending request alone.
  t.is((await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [windomain] })).status, 200);
  t.is((await stateOf(ts, 'windomain')).actionRequest, 'setup');
});

test('a foreign product never seen before gets a fresh state with setup', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts, { setup_after_restore: ['windomain', 'office'] });
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: 'office', actionRequest: 'setup' }] })).status, 200);
  t.like(await stateOf(ts, 'office'), { actionRequest: 'setup', installationStatus: 'not_installed', lastAction: 'none', managedBy: 'os' });
});

test('without setup_after_restore naming it, or from another product, windomain is refused and nothing is written', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts, { setup_after_restore: [] });
  t.is((await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [windomain] })).status, 200);
  const refused = await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: 'windomain', actionRequest: 'setup' }] });
  t.is(refused.status, 403);
  t.regex(refused.body.message, /may not queue windomain: its setup_after_restore property names nothing/);
  t.is((await stateOf(ts, 'windomain')).actionRequest, 'none');
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);

  // A backup whose admin-set setup_after_install names windomain may queue catalogue products
  // only: recording work for an in-OS agent is restore's.
  const backup = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: BACKUP, properties: { setup_after_install: ['windomain', 'hwinvent'] } });
  const other = await agentCall(ts.url, backup.token, 'POST', '/client/action-requests', { requests: [{ productId: 'hwinvent', actionRequest: 'setup' }, { productId: 'windomain', actionRequest: 'setup' }] });
  t.is(other.status, 403);
  t.regex(other.body.message, /backup job may not queue windomain: it is not a netimage product/);
  t.is((await stateOf(ts, 'windomain')).actionRequest, 'none');
  t.is((await stateOf(ts, 'hwinvent')).actionRequest, 'none', 'all or nothing');
  t.is((await agentCall(ts.url, backup.token, 'PUT', '/client/product-states', { states: [{ ...windomain, productId: 'evil' }] })).status, 403);
  t.is(await stateOf(ts, 'evil'), null);
});

test('a catalogue product the boot image cannot run is queued as a netimage state, never as a foreign one', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts, { setup_after_restore: [UBUNTU] });
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: UBUNTU, actionRequest: 'setup' }] })).status, 200);
  const rows = (await states(ts)).filter((s) => s.productId === UBUNTU);
  t.deepEqual(rows.map((s) => [s.actionRequest, s.managedBy]), [['setup', 'netimage']]);
});

test('a saved state whose product id is no product id is refused (400) and nothing of that put is written', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await restoreJob(ts);
  const bad = await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [hwinvent, windomain, { ...windomain, productId: 'Bad Id; rm -rf' }] });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /"Bad Id; rm -rf" is not a product id/);
  t.is(await stateOf(ts, 'windomain'), null);
  t.like(await stateOf(ts, 'hwinvent'), { installationStatus: 'not_installed', managedBy: 'netimage' });
});

test('deleting a client deletes its foreign states; other clients keep theirs', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  for (const [clientId, mac] of [['pc01', MAC], ['pc02', '52:54:00:00:30:02']] as const) {
    const job = await issueJob(ts, { clientId, mac, productId: RESTORE, properties: IMAGE });
    t.is((await agentCall(ts.url, job.token, 'PUT', '/client/product-states', { states: [windomain] })).status, 200);
  }
  // Its restore job is still under way: cancelled first (a client with a job under way is not removed).
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${RESTORE}/action`, { actionRequest: 'none' })).status, 200);
  t.is((await ts.api('DELETE', '/api/v1/clients/pc01')).status, 204);
  const across = (await ts.api('GET', '/api/v1/product-states?product=windomain')).body as any[];
  t.deepEqual(across.map((s) => s.clientId), ['pc02']);
  // A new PC with the old name starts clean.
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC })).status, 201);
  t.is(await stateOf(ts, 'windomain'), null);
});
