// Scenario 1, the classroom flow as a school PC lives it: UEFI PXE beside the site's DHCP server.
// A plain dnsmasq hands out addresses only; our real bootserver (child process in the lab) runs in
// proxyDHCP mode and serves shim -> grub -> per-client config -> boot image over TFTP. The client is
// registered by MAC. Steps: prepare (partitions the 8G disk) -> host writes files with a sha256
// manifest to the system partition (THIS STANDS IN FOR THE OS INSTALL: no OS-install product exists
// yet) -> backup -> host damages the system partition -> restore -> the manifest verifies.
//
// Each step boots a fresh QEMU (-no-reboot, fresh OVMF vars) on the same raw disk: the boot image
// reboots after its job, QEMU exits, and the host can loop-mount the disk in between.
// The steps are serial tests sharing one lab (ava's timeout counts from the last finished test).
import test from 'ava';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import { createRawDisk, productStates, propertyValues, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { damagePartition, verifyManifestOnDisk, writeManifestToDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

const CLIENT = 'pc-uefi-01';
const MAC = randomMac();
const IMAGE = 'e2e-win';
// The Windows layout (prepare's default OS family): ESP, MSR, NTFS "system", ext4 backup.
const SYSTEM_LABEL = 'system';
const PREPARE = { system_partition_size: '2G', winpe_partition_size: '0G', data_partition_size: '0G', minimal_backup_partition_size: '40%' };

let lab: Lab | undefined;
let server: LabServer | undefined;
let disk = '';
let manifest: Manifest | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'e2e1', subnet: '10.77.41.0/24' });
  await startSiteDhcp(lab);
  server = await startLabServer(lab, { dhcpMode: 'proxy' });
  await registerClient(server, { id: CLIENT, mac: MAC });
  disk = await createRawDisk(lab, '8G');
});

test.after.always(async () => {
  await lab?.destroy();
});

const step = (name: string, fn: (t: import('ava').ExecutionContext) => Promise<void>) =>
  test.serial(name, async (t) => {
    t.timeout(9 * 60_000);
    await fn(t);
  });

step('1. prepare: PXE (proxyDHCP) -> shim -> grub -> per-client config -> agent partitions the disk', async (t) => {
  const r = await runProduct(lab!, server!, { name: 'e2e1-prepare', clientId: CLIENT, productId: 'opsi-local-image-prepare', properties: PREPARE, mac: MAC, disk, timeoutMs: 6 * 60_000 });
  t.log(`prepare: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  // The chain really went through grub and our per-client config, then the boot image.
  await r.vm.waitFor(/netimage: asking for the config of mac/, 1);
  await r.vm.waitFor(/netimage: agent running/, 1);
});

step('2. host writes files with a manifest to the system partition (stands in for the OS install)', async (t) => {
  manifest = await writeManifestToDisk(disk, SYSTEM_LABEL, { randomMiB: 48, textMiB: 16 });
  t.log(`wrote ${manifest.files.length} files, ${(manifest.totalBytes / 1048576).toFixed(1)} MiB`);
  t.deepEqual(await verifyManifestOnDisk(disk, SYSTEM_LABEL, manifest), []);
});

step('3. backup', async (t) => {
  const r = await runProduct(lab!, server!, { name: 'e2e1-backup', clientId: CLIENT, productId: 'opsi-local-image-backup', properties: { imagefile: IMAGE }, mac: MAC, disk, timeoutMs: 7 * 60_000 });
  t.log(`backup: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
});

step('4. damage the system partition from the host', async (t) => {
  await damagePartition(disk, SYSTEM_LABEL, 16);
  const problems = await verifyManifestOnDisk(disk, SYSTEM_LABEL, manifest!);
  t.true(problems.length > 0, 'the damage must be visible before the restore');
});

step('5. restore brings the files back; product states end as opsi shows them', async (t) => {
  const r = await runProduct(lab!, server!, { name: 'e2e1-restore', clientId: CLIENT, productId: 'opsi-local-image-restore', properties: { imagefile: IMAGE }, mac: MAC, disk, timeoutMs: 7 * 60_000 });
  t.log(`restore: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  t.deepEqual(await verifyManifestOnDisk(disk, SYSTEM_LABEL, manifest!), []);

  const states = await productStates(server!, CLIENT);
  for (const p of ['opsi-local-image-prepare', 'opsi-local-image-backup', 'opsi-local-image-restore']) {
    t.like(states[p], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' }, p);
  }
  const restoreProps = await propertyValues(server!, CLIENT, 'opsi-local-image-restore');
  t.true((restoreProps['imagefiles_list'] as string[]).includes(IMAGE), JSON.stringify(restoreProps));
});
