// Scenario 4, the classroom cycle on a legacy BIOS PC with a real OS install: SeaBIOS -> iPXE ROM ->
// grub i386-pc core.0, our server in full DHCP mode (it hands out the address itself, no other DHCP
// server in the lab). A freshly registered PC: prepare (linux layout, MBR) -> opsi-local-image-debian
// (grub in the MBR) -> the PC boots its disk through the server's local-boot config (chainloads the
// disk's MBR) -> the installed system reports its first boot -> the automatic backup -> hwinvent,
// which the install's setup_after_install named (queued by the backup when it is done; this is
// also the hwinvent run that the former e2e-default-bios-full scenario had) -> a change made inside the running OS ->
// restore -> the PC boots its disk again: the change is gone, the installation's files verify.
// Each step boots a fresh QEMU on the same raw disk; the host reads the disk between boots.
// STAND-IN: the Debian mirror the action check asks (vm-harness/mirror-standin.ts).
import test from 'ava';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { bootVm, createRawDisk, productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { verifyManifestOnDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { awaitFirstBootReport, fileOnDisk, installedManifest, labDepot, powerOff, serialLogin, serialRun, startMirrorStandin, withInstalledSystem } from '../../vm-harness/os-install.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';
import { runQueued, step } from './os-install-steps.ts';

const CLIENT = 'pc-bios';
const MAC = randomMac();
const DEBIAN = 'opsi-local-image-debian';
const BACKUP = 'opsi-local-image-backup';
const RESTORE = 'opsi-local-image-restore';
const ROOT_PASSWORD = 'netimage-vm-1';
const CHANGE = 'root/changed-inside-the-os';
const POOL = /netimage: network up 10\.77\.64\.(1[5-9]\d)\//;

let lab: Lab | undefined;
let server: LabServer | undefined;
let disk = '';
let proxy = '';
let installed: Manifest | undefined;
const base = () => ({ firmware: 'bios' as const, clientId: CLIENT, mac: MAC, disk });

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'osi4', subnet: '10.77.64.0/24' });
  proxy = await startMirrorStandin(lab);
  server = await startLabServer(lab, { dhcpMode: 'full', pool: [150, 199], env: { NETIMAGE_DEPOT_DIR: await labDepot(lab) } });
  await registerClient(server, { id: CLIENT, mac: MAC });
  disk = await createRawDisk(lab, '8G');
});

test.after.always(async () => {
  await lab?.destroy();
});

const inInstalled = <T>(name: string, fn: (vm: Awaited<ReturnType<typeof bootVm>>) => Promise<T>) => withInstalledSystem(lab!, { ...base(), name }, ROOT_PASSWORD, fn);

const queuedRun = (t: import('ava').ExecutionContext, name: string, productId: string, minutes: number) => runQueued(t, lab!, server!, { ...base(), name }, { clientId: CLIENT, productId, minutes });

step('1. prepare (linux layout, MBR): full DHCP mode, the address from our pool', 8, async (t) => {
  const r = await runProduct(lab!, server!, { ...base(), name: 'osi4-prepare', productId: 'opsi-local-image-prepare', timeoutMs: 7 * 60_000, properties: { os_family: 'linux', system_partition_size: '2G', winpe_partition_size: '256M', minimal_backup_partition_size: '40%' } });
  t.log(`prepare (BIOS): ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  await r.vm.waitFor(POOL, 1);
});

step('2. opsi-local-image-debian: root filesystem, grub in the MBR, fstab by UUID', 25, async (t) => {
  const r = await runProduct(lab!, server!, {
    ...base(), name: 'osi4-install', productId: DEBIAN, timeoutMs: 24 * 60_000,
    properties: { askbeforeinst: false, proxy, root_password: ROOT_PASSWORD, backup_after_install: true, setup_after_install: 'hwinvent' },
  });
  t.log(`install (BIOS): ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(60));
  await r.vm.waitFor(/grub \(i386-pc\) installed into the MBR/, 1);
  t.regex((await fileOnDisk(disk, 'etc/fstab')) ?? '', /^UUID=\S+ \/ ext4 /m);
  installed = await installedManifest(disk);
  t.is(await fileOnDisk(disk, 'etc/hostname'), `${CLIENT}\n`);
});

step('3. the PC boots its disk (MBR chainload): first-boot report -> installed (BIOS), backup queued', 20, async (t) => {
  const vm = await bootVm(lab!, { ...base(), name: 'osi4-firstboot' });
  try {
    await vm.waitFor(/netimage: chainloading the MBR of/, 6 * 60_000);
    const states = await awaitFirstBootReport(server!, CLIENT, DEBIAN, 10 * 60_000);
    t.like(states[DEBIAN], { installationStatus: 'installed', actionResult: 'successful' }, vm.tail(40));
    t.regex(states[DEBIAN]?.actionProgress ?? '', /BIOS/);
    t.is(states[BACKUP]?.actionRequest, 'setup', 'backup_after_install queued the backup');
    await serialLogin(vm, ROOT_PASSWORD, 6 * 60_000);
    t.deepEqual(await serialRun(vm, 'test -d /sys/firmware/efi && echo uefi || echo bios'), ['bios']);
    await powerOff(vm);
  } finally {
    await vm.stop();
  }
});

step('4. the queued backup runs, then queues hwinvent (setup_after_install)', 10, async (t) => {
  await queuedRun(t, 'osi4-backup', BACKUP, 9);
  t.is((await productStates(server!, CLIENT))['hwinvent']?.actionRequest, 'setup');
});

step('5. hwinvent runs (legacy BIOS + full DHCP mode)', 7, async (t) => {
  await queuedRun(t, 'osi4-hwinvent', 'hwinvent', 6);
  t.like((await productStates(server!, CLIENT))['hwinvent'], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
});

step('6. a change made inside the running OS', 10, async (t) => {
  await inInstalled('osi4-change', (vm) => serialRun(vm, `echo made-inside > /${CHANGE} && sync`));
  t.is(await fileOnDisk(disk, CHANGE), 'made-inside\n');
});

step('7. restore; the PC boots its disk again: the change is gone, the installation verifies', 20, async (t) => {
  const r = await runProduct(lab!, server!, { ...base(), name: 'osi4-restore', productId: RESTORE, properties: { imagefile: DEBIAN }, timeoutMs: 9 * 60_000 });
  t.log(`restore (BIOS): ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  t.is(await fileOnDisk(disk, CHANGE), null, 'the change is gone');
  t.deepEqual(await verifyManifestOnDisk(disk, 'system', installed!), [], 'the installed files verify');
  await inInstalled('osi4-after-restore', async (vm) => {
    t.deepEqual(await serialRun(vm, `test -e /${CHANGE} && echo still-there || echo gone`), ['gone']);
  });
  const states = await productStates(server!, CLIENT);
  for (const p of ['opsi-local-image-prepare', DEBIAN, BACKUP, RESTORE]) t.like(states[p], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' }, p);
});
