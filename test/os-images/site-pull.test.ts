// A site server (config depot.upstream) builds no root filesystems: setting an install action
// there checks that the main server has the entry (else 409, nothing changed) and pulls it from
// there, so PCs read it at their own site. Two real servers on loopback and a loopback mini mirror.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startMiniMirror } from './helpers/mini-mirror.ts';

const DEBIAN = 'opsi-local-image-debian';

async function snapshot(ts: TestServer) {
  const props = (await ts.api('GET', `/api/v1/clients/pc01/products/${DEBIAN}/properties`)).body;
  const states = (await ts.api('GET', '/api/v1/product-states')).body;
  const jobs = (await ts.api('GET', '/api/v1/jobs')).body;
  return JSON.stringify({ props, states, jobs });
}

test('an install action set at a site server is refused while the main server lacks the root filesystem, then pulls it from there', async (t) => {
  const mirror = await startMiniMirror(t);
  const main = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => main.stop());
  const site = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir, 'depot.upstream.url': main.url, 'depot.upstream.token': main.adminToken } });
  t.teardown(() => site.stop());
  await site.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:71:31' });
  const setAction = () => site.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/action`, { actionRequest: 'setup', properties: {} });

  const before = await snapshot(site);
  const refused = await setAction();
  t.is(refused.status, 409, refused.text);
  t.regex(refused.body.message, /the main server \(http:\/\/127\.0\.0\.1:\d+\) has no root filesystem rootfs\/debian-12-[0-9a-f]+: build it there first \(netimage os build debian-12\)/);
  t.is(await snapshot(site), before, 'the refused request changed nothing');
  t.deepEqual((await site.api('GET', '/api/v1/os/builds')).body, [], 'the site server started no build of its own');

  // The main server has it now (standing in for `netimage os build` there).
  const name = /rootfs\/(debian-12-[0-9a-f]+)/.exec(refused.body.message)![1]!;
  await main.server.osImages.depot.create('rootfs', name, { built: 'on the main server' }, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), 'stand-in root filesystem bytes\n'));
  const accepted = await setAction();
  t.is(accepted.status, 200, accepted.text);
  const deadline = Date.now() + 20_000;
  let entry = await site.server.osImages.depot.get('rootfs', name);
  while (!entry && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    entry = await site.server.osImages.depot.get('rootfs', name);
  }
  t.truthy(entry, 'the site depot has the entry, pulled from the main server');
  t.like(entry!.manifest.meta, { built: 'on the main server', pulledFrom: main.url });
});
