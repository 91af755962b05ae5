// Scenario 7: power loss in the middle of a restore. After prepare + files (standing in for the OS
// install) + backup, the system partition is damaged and a restore starts; once the server reports
// restore progress the VM is killed (SIGKILL: power cut). The next boot of the same disk gets the
// same job again (attempt 2: reading the boot config does not consume the action request), the
// restore completes and the manifest verifies.
import test from 'ava';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import {
  bootVm,
  createRawDisk,
  jobsOf,
  prepareInstallBackup,
  productStates,
  registerClient,
  setAction,
  SYSTEM_PARTITION_LABEL,
  waitForJobResult,
} from '../../vm-harness/classroom.ts';
import { damagePartition, verifyManifestOnDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

const CLIENT = 'pc-power';
const MAC = randomMac();
const IMAGE = 'e2e-power';
const RESTORE = 'opsi-local-image-restore';

let lab: Lab | undefined;
let server: LabServer | undefined;
let disk = '';
let manifest: Manifest | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'e2e7', subnet: '10.77.47.0/24' });
  await startSiteDhcp(lab);
  server = await startLabServer(lab, { dhcpMode: 'proxy' });
  await registerClient(server, { id: CLIENT, mac: MAC });
  disk = await createRawDisk(lab, '8G');
});

test.after.always(async () => {
  await lab?.destroy();
});

test.serial('prepare, files, backup, damage', async (t) => {
  t.timeout(9 * 60_000);
  const r = await prepareInstallBackup(lab!, server!, { name: 'e2e7', clientId: CLIENT, mac: MAC, disk, imagefile: IMAGE, log: (s) => t.log(s) });
  manifest = r.manifest;
  await damagePartition(disk, SYSTEM_PARTITION_LABEL);
  t.true((await verifyManifestOnDisk(disk, SYSTEM_PARTITION_LABEL, manifest)).length > 0);
});

test.serial('power cut during the restore: the next boot restores again (attempt 2) and the files verify', async (t) => {
  t.timeout(9 * 60_000);
  await setAction(server!, CLIENT, RESTORE, { imagefile: IMAGE });
  const first = await bootVm(lab!, { name: 'e2e7-cut', mac: MAC, disk });
  // The partition write itself takes a few seconds here, between progress posts: polling the
  // server can miss it, so the cut follows the console (the agent prints each progress step).
  let killedAt = -1;
  try {
    const progress = await first.waitFor(/netimage: \[\s*([1-8]\d)%\] restore/, 6 * 60_000);
    // The agent's own line for the job it got: attempt 1 of the restore job.
    await first.waitFor(/job [0-9a-f-]{36}: opsi-local-image-restore \S+ \(setup\), attempt 1\b/, 1);
    await first.stop({ signal: 'SIGKILL', graceMs: 0 });
    killedAt = Number(progress.match[1]);
  } finally {
    await first.stop({ signal: 'SIGKILL', graceMs: 0 });
  }
  t.log(`power cut at ${killedAt}% of the restore`);
  const cutJob = (await jobsOf(server!, CLIENT, RESTORE))[0]!;
  t.is(cutJob.state, 'running');

  const second = await bootVm(lab!, { name: 'e2e7-again', mac: MAC, disk });
  const r = await waitForJobResult(server!, second, { clientId: CLIENT, productId: RESTORE, timeoutMs: 7 * 60_000 });
  await second.stop();
  t.log(`restore after power cut: ${r.job.state}, attempt ${r.job.attempt}, ${r.seconds.toFixed(1)} s`);
  t.is(r.job.id, cutJob.id, 'the same job continues');
  t.is(r.job.state, 'succeeded', second.tail(40));
  t.is(r.job.attempt, 2);
  // What the agent in the second boot says it got: the same job, attempt 2 (throws if not seen).
  await second.waitFor(new RegExp(`job ${cutJob.id}: ${RESTORE} \\S+ \\(setup\\), attempt 2\\b`), 1);
  t.deepEqual(await verifyManifestOnDisk(disk, SYSTEM_PARTITION_LABEL, manifest!), []);
  t.like((await productStates(server!, CLIENT))[RESTORE], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
});
