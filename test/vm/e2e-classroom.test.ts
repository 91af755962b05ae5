// Scenario 8: a classroom. Several UEFI PCs in one group boot at once against our server (proxy mode
// beside a site DHCP server): prepare and backup in parallel (files written from the host stand in
// for the OS install), every system partition damaged, then ONE group restore; all finish and
// verify. Three PCs by default (NETIMAGE_VM_CLASSROOM_PCS=2..8 changes it): on the test machine's
// 2 cores each extra TCG guest adds about a minute to each of the three phases, and three already
// show parallel boots, one group action over several PCs and the server's load. The server process's peak CPU and RSS over the whole run are sampled from /proc.
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
  propertyValues,
  registerClient,
  sampleProcess,
  SYSTEM_PARTITION_LABEL,
  waitForJobResult,
} from '../../vm-harness/classroom.ts';
import { damagePartition, verifyManifestOnDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

const GROUP = 'room-101';
const IMAGE = 'room-image';
const RESTORE = 'opsi-local-image-restore';
const PC_COUNT = Math.min(8, Math.max(2, Number(process.env.NETIMAGE_VM_CLASSROOM_PCS ?? 3) || 3));
const PCS = Array.from({ length: PC_COUNT }, (_, i) => i + 1).map((n) => ({ id: `room101-pc${n}`, mac: randomMac(), disk: '', manifest: undefined as Manifest | undefined }));

let lab: Lab | undefined;
let server: LabServer | undefined;
let sampler: ReturnType<typeof sampleProcess> | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'e2e8', subnet: '10.77.48.0/24' });
  await startSiteDhcp(lab);
  server = await startLabServer(lab, { dhcpMode: 'proxy' });
  sampler = sampleProcess(server.pid);
  await server.call('POST', '/groups', { id: GROUP, description: 'e2e classroom' });
  for (const pc of PCS) {
    await registerClient(server, { id: pc.id, mac: pc.mac, group: GROUP });
    pc.disk = await createRawDisk(lab, '8G');
  }
});

test.after.always(async () => {
  sampler?.stop();
  await lab?.destroy();
});

test.serial(`${PC_COUNT} PCs prepare and back up in parallel`, async (t) => {
  t.timeout(25 * 60_000);
  const results = await Promise.all(
    PCS.map((pc, i) =>
      prepareInstallBackup(lab!, server!, { name: `e2e8-${i + 1}`, clientId: pc.id, mac: pc.mac, disk: pc.disk, imagefile: IMAGE, timeoutMs: 15 * 60_000, log: (s) => t.log(s) }),
    ),
  );
  PCS.forEach((pc, i) => (pc.manifest = results[i]!.manifest));
  // The boot image's own helpers did the work: the image cut into chunks by chunkcut, the record
  // table written for later delta restores (from Session 10 to 12 the boot image lacked
  // both, and every VM scenario still passed on Node's slower path).
  for (const [i, r] of results.entries()) {
    const log = String((await server!.api('GET', `/jobs/${r.backupJobId}/log`)).text);
    t.regex(log, /cut by chunkcut\)/, `${PCS[i]!.id}: backup log\n${log.slice(-2000)}`);
    // The file system's record table for delta restores (the harness formats the system partition NTFS).
    t.regex(log, /(MFT record table: \d+ files|inode table: \d+ inodes) recorded/, `${PCS[i]!.id}: backup log\n${log.slice(-2000)}`);
  }
  for (const pc of PCS) {
    await damagePartition(pc.disk, SYSTEM_PARTITION_LABEL);
    t.true((await verifyManifestOnDisk(pc.disk, SYSTEM_PARTITION_LABEL, pc.manifest!)).length > 0);
  }
});

test.serial(`one group restore: all ${PC_COUNT} finish and verify; server peak CPU/RSS`, async (t) => {
  t.timeout(25 * 60_000);
  // No image named: the server picks the one common to every client of the group (the only one
  // each backed up), and sets the action for exactly the group's clients.
  const set = await server!.call('POST', `/groups/${GROUP}/action`, { productId: RESTORE, actionRequest: 'setup', properties: {}, confirm: PCS.length });
  t.log(`group action: ${JSON.stringify(set).slice(0, 300)}`);
  t.deepEqual({ clients: [...set.clients].sort(), imagefile: set.imagefile }, { clients: PCS.map((pc) => pc.id).sort(), imagefile: IMAGE });
  for (const pc of PCS) {
    t.like((await productStates(server!, pc.id))[RESTORE], { actionRequest: 'setup' }, pc.id);
    t.is((await propertyValues(server!, pc.id, RESTORE))['imagefile'], IMAGE, pc.id);
  }
  const before = new Map<string, Set<string>>();
  for (const pc of PCS) before.set(pc.id, new Set((await jobsOf(server!, pc.id, RESTORE)).map((j) => j.id)));
  const runs = await Promise.all(
    PCS.map(async (pc, i) => {
      const vm = await bootVm(lab!, { name: `e2e8-${i + 1}-restore`, mac: pc.mac, disk: pc.disk });
      try {
        return await waitForJobResult(server!, vm, { clientId: pc.id, productId: RESTORE, ignoreJobIds: before.get(pc.id)!, timeoutMs: 20 * 60_000 });
      } finally {
        await vm.stop();
      }
    }),
  );
  for (const [i, r] of runs.entries()) {
    t.log(`${PCS[i]!.id}: restore ${r.job.state} in ${r.seconds.toFixed(1)} s`);
    t.is(r.job.state, 'succeeded', r.vm.tail(30));
    const log = String((await server!.api('GET', `/jobs/${r.job.id}/log`)).text);
    t.regex(log, /restored to .* by chunkapply\)/, `${PCS[i]!.id}: restore log\n${log.slice(-2000)}`);
  }
  for (const pc of PCS) {
    t.deepEqual(await verifyManifestOnDisk(pc.disk, SYSTEM_PARTITION_LABEL, pc.manifest!), [], pc.id);
    t.like((await productStates(server!, pc.id))[RESTORE], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
  }
  const peak = sampler!.stop();
  const msg = `bootserver peak CPU ${peak.peakCpuPercent}% of one core, peak RSS ${peak.peakRssMiB} MiB (${peak.samples} samples, ${PC_COUNT} clients)`;
  t.log(msg);
  console.log(`[classroom] ${msg}`);
});
