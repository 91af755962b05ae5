import test from 'ava';
import { startTestServer, readBootConfig, parseNetbootConfig, issueJob, agentCall } from '../helpers/server.ts';

const MAC = '52:54:00:00:10:01';

test('a boot without a result is retried with a new token; after maxAttempts the job gives up and the client boots locally', async (t) => {
  const ts = await startTestServer({ overrides: { 'boot.maxAttempts': 3 } });
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC });
  await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-prepare/action', { actionRequest: 'setup' });
  const first = parseNetbootConfig(await readBootConfig(ts, MAC, null))!;
  t.is((await agentCall(ts.url, first.token, 'GET', '/job')).status, 200);
  // power loss: the client boots again, the request is still pending (opsi would have lost it)
  const second = parseNetbootConfig(await readBootConfig(ts, MAC, null))!;
  t.is(second.jobId, first.jobId);
  t.is(second.attempt, 2);
  t.not(second.token, first.token);
  t.is((await agentCall(ts.url, first.token, 'GET', '/job')).status, 401, 'the old attempt token is dead');
  const state = (await ts.api('GET', '/api/v1/clients/pc01/products')).body.find((s: any) => s.productId === 'opsi-local-image-prepare');
  t.like(state, { actionRequest: 'setup', actionProgress: 'boot configuration read (attempt 2)' });
  // Only a boot whose agent had started counts as a lost attempt (agent-security.test.ts).
  t.is((await agentCall(ts.url, second.token, 'GET', '/job')).status, 200);
  const third = parseNetbootConfig(await readBootConfig(ts, MAC, null))!;
  t.is(third.attempt, 3);
  t.is((await agentCall(ts.url, third.token, 'GET', '/job')).status, 200);
  const fourth = await readBootConfig(ts, MAC, null);
  t.regex(fourth, /local boot/);
  const job = (await ts.api('GET', `/api/v1/jobs/${first.jobId}`)).body;
  t.like(job, { state: 'exhausted', error: 'no result after 3 boot attempts' });
  const after = (await ts.api('GET', '/api/v1/clients/pc01/products')).body.find((s: any) => s.productId === 'opsi-local-image-prepare');
  t.like(after, { actionRequest: 'none', actionResult: 'failed' });
});

test('failure keeps the error; resending the same result is acknowledged, a different one conflicts', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: 'hwinvent' });
  const r1 = await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'failed', error: 'no disk found' });
  t.is(r1.status, 200);
  t.false(r1.body.alreadyRecorded);
  const r2 = await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'failed', error: 'no disk found' });
  t.is(r2.status, 200);
  t.true(r2.body.alreadyRecorded);
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 409);
  const state = (await ts.api('GET', '/api/v1/clients/pc01/products')).body.find((s: any) => s.productId === 'hwinvent');
  t.like(state, { actionResult: 'failed', actionRequest: 'none', actionProgress: 'failed: no disk found' });
  t.regex(await readBootConfig(ts, MAC, null), /local boot/, 'a failed destructive action is not retried by itself');
});

test('the agent API refuses missing, malformed and unknown tokens', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  t.is((await fetch(`${ts.url}/agent/v1/job`)).status, 401);
  t.is((await agentCall(ts.url, 'nothex', 'GET', '/job')).status, 401);
  t.is((await agentCall(ts.url, '0'.repeat(32), 'GET', '/job')).status, 401);
  t.is((await agentCall(ts.url, ts.adminToken, 'GET', '/job')).status, 401, 'an admin token is not a job token');
});

test('the agent sets properties (also read-only ones) and queues other products, but not itself', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: 'opsi-local-image-backup', properties: { setup_after_install: ['hwinvent'] } });
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-restore', values: { imagefile: 'win10', imagefiles_list: ['win10'] } })).status, 200);
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-backup', values: { free_on_backup: '40 GB free' } })).status, 200);
  const bad = await agentCall(ts.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-restore', values: { nosuch: 'x' } });
  t.is(bad.status, 403, 'only what backup really writes (agent-scope.ts)');
  t.regex(bad.body.message, /may not set opsi-local-image-restore\.nosuch/);
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: 'opsi-local-image-backup', actionRequest: 'setup' }] })).status, 403);
  t.is((await agentCall(ts.url, job.token, 'POST', '/client/action-requests', { requests: [{ productId: 'hwinvent', actionRequest: 'setup' }] })).status, 200);
  const props = (await ts.api('GET', '/api/v1/clients/pc01/products/opsi-local-image-restore/properties')).body;
  t.deepEqual(props.imagefiles_list, ['win10']);
  const states = (await ts.api('GET', '/api/v1/clients/pc01/products')).body;
  t.is(states.find((s: any) => s.productId === 'hwinvent').actionRequest, 'setup');
  // the admin cannot set the read-only property
  const admin = await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-backup/properties', { values: { free_on_backup: 'x' } });
  t.is(admin.status, 400);
  t.regex(admin.body.message, /read-only/);
});

test('clearing the action request cancels the running job', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: MAC, productId: 'opsi-local-image-prepare' });
  await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-prepare/action', { actionRequest: 'none' });
  t.like((await ts.api('GET', `/api/v1/jobs/${job.jobId}`)).body, { state: 'cancelled' });
  t.is((await agentCall(ts.url, job.token, 'GET', '/job')).status, 409);
});
