import test from 'ava';
import { startTestServer, issueJob, agentCall } from '../helpers/server.ts';

test('a job goes from boot config to a successful result over real HTTP', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const job = await issueJob(ts, { clientId: 'pc01', mac: '52:54:00:12:34:56', productId: 'hwinvent' });
  t.regex(job.grubConfig, /linux \(tftp,\$netimage_server\)\/netimage\/kernel/);
  const fetched = await agentCall(ts.url, job.token, 'GET', '/job');
  t.is(fetched.status, 200);
  t.is(fetched.body.productId, 'hwinvent');
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  const states = await ts.api('GET', '/api/v1/clients/pc01/products');
  const hw = states.body.find((s: { productId: string }) => s.productId === 'hwinvent');
  t.like(hw, { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup' });
});
