// The server goes away while the agent is reporting (its process is stopped, the port closed) and
// comes back on the same port and data dir: the agent retries with backoff and the result and
// inventory arrive afterwards. OVMF, so the UEFI path (efivarfs, firmware=uefi) is covered too.
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directBoot } from '../../vm-harness/direct-boot.ts';
import { issueJob, startTestServer, type TestServer } from '../helpers/server.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('server cut while the agent reports (OVMF): the result arrives after it comes back', async (t) => {
  const imageDir = await ensureBootImage();
  const dataDir = await mkdtemp(join(tmpdir(), 'netimage-outage-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  let ts: TestServer = await startTestServer({ dataDir });
  t.teardown(() => ts.stop());
  const port = ts.server.httpPort;
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:0f:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const uuid = randomUUID();
  const clientId = `pc-cut-${tag}`;
  const job = await issueJob(ts, { clientId, mac, uuid, productId: 'hwinvent' });

  const { vm } = await directBoot({
    imageDir,
    name: `cut-${tag}`,
    firmware: 'uefi',
    serverPort: port,
    job: { id: job.jobId, token: job.token },
    mac,
    uuid,
    serial: `CUT${tag}`,
    disks: [{ size: '2G' }],
  });
  t.teardown(() => vm.stop());

  // The job is fetched: freeze the guest so the cut lands before it reports anything more.
  await vm.waitFor(new RegExp(`netimage: job ${job.jobId}: hwinvent`), 240_000);
  process.kill(vm.pid, 'SIGSTOP');
  let resumed = false;
  t.teardown(() => {
    if (!resumed) process.kill(vm.pid, 'SIGCONT');
  });
  await ts.stop();
  process.kill(vm.pid, 'SIGCONT');
  resumed = true;

  // The agent notices (inventory PUT or progress fails) and keeps retrying.
  await vm.waitFor(/netimage: (PUT \/client\/inventory failed|progress not delivered)/, 60_000);
  await new Promise((r) => setTimeout(r, 8000));
  const stillOut = vm.lines().some((l) => /agent finished/.test(l.text));
  t.false(stillOut, 'nothing can finish while the server is away');

  ts = await startTestServer({ dataDir, httpPort: port });
  const done = await vm.waitFor(/netimage: agent finished (\w+)/, 180_000);
  t.is(done.match[1], 'successful', vm.tail());

  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'succeeded', j.text);
  const inv = await ts.api('GET', `/api/v1/clients/${clientId}/inventory`);
  t.is(inv.status, 200, inv.text);
  t.is(inv.body.system.uuid, uuid);
  t.is(inv.body.bios.firmware, 'uefi');
  const log = vm.serialLog();
  t.regex(log, /retry \d+ in/);
  t.log(vm.lines().filter((l) => /failed|not delivered|acknowledged|finished/.test(l.text)).map((l) => l.text).join('\n'));
});
