// Scenario 1, the classroom flow as a school PC lives it, with a real OS install: UEFI PXE with
// Secure Boot enforced, beside the site's DHCP server. A plain dnsmasq hands out addresses only;
// our real bootserver (child process in the lab) runs in proxyDHCP mode and serves shim -> grub ->
// per-client config -> boot image. A freshly registered PC: prepare (linux layout) ->
// opsi-local-image-debian lays the real cached Debian 12 root filesystem down -> the PC boots its
// disk (the server's local-boot config chainloads the installed shim), the installed kernel runs
// with Secure Boot on, the installed system reports its first boot -> the automatic backup ->
// a change made inside the running OS (root on the serial console) -> restore -> the PC boots its
// disk again: the change is gone, the installation's files verify.
//
// Each step boots a fresh QEMU (-no-reboot, fresh OVMF vars: no boot entries, so the netboot
// chain decides) on the same raw disk; the host reads the disk between boots.
// STAND-IN: the Debian mirror the action check asks (the lab has no way out): vm-harness/mirror-standin.ts.
import test from 'ava';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import { bootVm, createRawDisk, productStates, propertyValues, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { verifyManifestOnDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { awaitFirstBootReport, fileOnDisk, installedManifest, labDepot, powerOff, serialLogin, serialRun, startMirrorStandin, withInstalledSystem } from '../../vm-harness/os-install.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';
import { runQueued, step } from './os-install-steps.ts';

const CLIENT = 'pc-uefi-01';
const MAC = randomMac();
const FIRMWARE = 'uefi-secureboot' as const;
const DEBIAN = 'opsi-local-image-debian';
const BACKUP = 'opsi-local-image-backup';
const RESTORE = 'opsi-local-image-restore';
const ROOT_PASSWORD = 'netimage-vm-1';
const CHANGE = 'root/changed-inside-the-os';
const PREPARE = { os_family: 'linux', system_partition_size: '2G', winpe_partition_size: '256M', data_partition_size: '0G', minimal_backup_partition_size: '40%' };

let lab: Lab | undefined;
let server: LabServer | undefined;
let disk = '';
let proxy = '';
let installed: Manifest | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'osi1', subnet: '10.77.61.0/24' });
  await startSiteDhcp(lab);
  proxy = await startMirrorStandin(lab);
  // Kernel and initrd over TFTP: grub's http module is unsigned (Secure Boot).
  server = await startLabServer(lab, { dhcpMode: 'proxy', env: { NETIMAGE_BOOT_KERNEL_TRANSPORT: 'tftp', NETIMAGE_DEPOT_DIR: await labDepot(lab) } });
  await registerClient(server, { id: CLIENT, mac: MAC });
  disk = await createRawDisk(lab, '8G');
});

test.after.always(async () => {
  await lab?.destroy();
});

/** Boot the PC with nothing pending (the server's local-boot config starts the installed system), run `fn` as root. */
const inInstalled = <T>(name: string, fn: (vm: Awaited<ReturnType<typeof bootVm>>) => Promise<T>) => withInstalledSystem(lab!, { name, firmware: FIRMWARE, mac: MAC, disk }, ROOT_PASSWORD, fn);

step('1. prepare (linux layout): PXE (proxyDHCP) -> shim -> grub -> per-client config -> agent partitions the disk', 8, async (t) => {
  const r = await runProduct(lab!, server!, { name: 'osi1-prepare', firmware: FIRMWARE, clientId: CLIENT, productId: 'opsi-local-image-prepare', properties: PREPARE, mac: MAC, disk, timeoutMs: 7 * 60_000 });
  t.log(`prepare: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  await r.vm.waitFor(/netimage: asking for the config of mac/, 1);
  await r.vm.waitFor(/secureboot: Secure boot enabled/, 1);
});

step('2. opsi-local-image-debian lays the real root filesystem down and sets the bootloader up', 25, async (t) => {
  const r = await runProduct(lab!, server!, {
    name: 'osi1-install', firmware: FIRMWARE, clientId: CLIENT, productId: DEBIAN, mac: MAC, disk, timeoutMs: 24 * 60_000,
    properties: { askbeforeinst: false, proxy, root_password: ROOT_PASSWORD, user_password: 'netimage-vm-2', backup_after_install: true },
  });
  t.log(`install: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(60));
  await r.vm.waitFor(/root filesystem written to \S+: .* each checked before it was written/, 1);
  const state = (await productStates(server!, CLIENT))[DEBIAN];
  t.regex(state?.actionProgress ?? '', /laid down; waiting for the first boot/, JSON.stringify(state));
  installed = await installedManifest(disk);
  t.true(installed.files.some((f) => /^boot\/vmlinuz-/.test(f.path)), 'the kernel is on the disk');
  t.is(await fileOnDisk(disk, 'etc/hostname'), `${CLIENT}\n`);
});

step('3. the PC boots its disk: installed kernel with Secure Boot on, first-boot report -> installed, backup queued', 20, async (t) => {
  const vm = await bootVm(lab!, { name: 'osi1-firstboot', firmware: FIRMWARE, mac: MAC, disk });
  try {
    await vm.waitFor(/netimage: booting the local disk/, 6 * 60_000);
    const states = await awaitFirstBootReport(server!, CLIENT, DEBIAN, 10 * 60_000);
    t.like(states[DEBIAN], { installationStatus: 'installed', actionResult: 'successful' }, vm.tail(40));
    t.regex(states[DEBIAN]?.actionProgress ?? '', /UEFI, Secure Boot on/);
    t.is(states[BACKUP]?.actionRequest, 'setup', 'backup_after_install queued the backup');
    await serialLogin(vm, ROOT_PASSWORD, 6 * 60_000);
    // The installed kernel's own word (its command line has `quiet`, so it is not on the console).
    t.deepEqual(await serialRun(vm, 'dmesg | grep -c "secureboot: Secure boot enabled"'), ['1'], 'the installed kernel runs with Secure Boot');
    t.deepEqual(await serialRun(vm, 'test -e /etc/netimage/first-boot.json && echo token-left || echo token-gone'), ['token-gone']);
    t.regex((await serialRun(vm, 'cat /etc/machine-id')).join(''), /^[0-9a-f]{32}$/, 'systemd made a machine-id');
    await powerOff(vm);
  } finally {
    await vm.stop();
  }
});

step('4. the queued backup runs', 10, async (t) => {
  await runQueued(t, lab!, server!, { name: 'osi1-backup', firmware: FIRMWARE, mac: MAC, disk }, { clientId: CLIENT, productId: BACKUP, minutes: 9 });
  const restoreProps = await propertyValues(server!, CLIENT, RESTORE);
  t.true((restoreProps['imagefiles_list'] as string[]).includes(DEBIAN), JSON.stringify(restoreProps));
});

step('5. a change made inside the running OS', 10, async (t) => {
  await inInstalled('osi1-change', (vm) => serialRun(vm, `echo made-inside > /${CHANGE} && sync`));
  t.is(await fileOnDisk(disk, CHANGE), 'made-inside\n');
});

step('6. restore; the PC boots its disk again: the change is gone, the installation verifies', 20, async (t) => {
  const r = await runProduct(lab!, server!, { name: 'osi1-restore', firmware: FIRMWARE, clientId: CLIENT, productId: RESTORE, properties: { imagefile: DEBIAN }, mac: MAC, disk, timeoutMs: 9 * 60_000 });
  t.log(`restore: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  t.is(await fileOnDisk(disk, CHANGE), null, 'the change is gone');
  t.deepEqual(await verifyManifestOnDisk(disk, 'system', installed!), [], 'the installed files verify');
  await inInstalled('osi1-after-restore', async (vm) => {
    t.deepEqual(await serialRun(vm, 'dmesg | grep -c "secureboot: Secure boot enabled"'), ['1'], 'Secure Boot still on');
    t.deepEqual(await serialRun(vm, `test -e /${CHANGE} && echo still-there || echo gone`), ['gone']);
  });
  const states = await productStates(server!, CLIENT);
  for (const p of ['opsi-local-image-prepare', DEBIAN, BACKUP, RESTORE]) t.like(states[p], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' }, p);
});
