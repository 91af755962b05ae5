// Scenario 4: legacy BIOS (SeaBIOS -> iPXE ROM -> grub i386-pc core.0) with our server in full DHCP
// mode: it hands out the address itself, no other DHCP server in the lab. A real OS install on an
// MBR disk: prepare (linux layout) -> opsi-local-image-debian (grub in the MBR) -> the PC boots its
// disk through the server's local-boot config (chainloads the disk's MBR) -> the installed system
// reports its first boot (BIOS, no Secure Boot). Backup and restore of an installed system are in
// scenario 1 (UEFI); the imaging path does not depend on the firmware.
// STAND-IN: the Debian mirror the action check asks (vm-harness/mirror-standin.ts).
import test from 'ava';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { bootVm, createRawDisk, productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { fileOnDisk, labDepot, serialLogin, serialRun, startMirrorStandin } from '../../vm-harness/os-install.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

const DEBIAN = 'opsi-local-image-debian';

test('legacy BIOS + full DHCP mode: prepare, Debian install with grub in the MBR, first boot from the disk reports', async (t) => {
  t.timeout(40 * 60_000);
  await ensureBootImage();
  const lab = await createLab({ name: 'osi4', subnet: '10.77.64.0/24' });
  t.teardown(() => lab.destroy());
  const proxy = await startMirrorStandin(lab);
  const server = await startLabServer(lab, { dhcpMode: 'full', pool: [150, 199], env: { NETIMAGE_DEPOT_DIR: await labDepot(lab) } });
  const mac = randomMac();
  await registerClient(server, { id: 'pc-bios', mac });
  const disk = await createRawDisk(lab, '8G');
  const base = { firmware: 'bios' as const, clientId: 'pc-bios', mac, disk };

  const prep = await runProduct(lab, server, { ...base, name: 'osi4-prepare', productId: 'opsi-local-image-prepare', timeoutMs: 7 * 60_000, properties: { os_family: 'linux', system_partition_size: '2G', winpe_partition_size: '256M', minimal_backup_partition_size: '40%' } });
  t.log(`prepare (BIOS): ${prep.job.state} in ${prep.seconds.toFixed(1)} s`);
  t.is(prep.job.state, 'succeeded', prep.vm.tail(40));
  // The address came from our pool.
  await prep.vm.waitFor(/netimage: network up 10\.77\.64\.(1[5-9]\d)\//, 1);

  const inst = await runProduct(lab, server, { ...base, name: 'osi4-install', productId: DEBIAN, timeoutMs: 24 * 60_000, properties: { askbeforeinst: false, proxy, root_password: 'netimage-vm-1', backup_after_install: false } });
  t.log(`install (BIOS): ${inst.job.state} in ${inst.seconds.toFixed(1)} s`);
  t.is(inst.job.state, 'succeeded', inst.vm.tail(60));
  await inst.vm.waitFor(/grub \(i386-pc\) installed into the MBR/, 1);
  t.regex((await fileOnDisk(disk, 'etc/fstab')) ?? '', /^UUID=\S+ \/ ext4 /m);

  const vm = await bootVm(lab, { ...base, name: 'osi4-firstboot' });
  try {
    await vm.waitFor(/netimage: chainloading the MBR of/, 4 * 60_000);
    const deadline = Date.now() + 10 * 60_000;
    let states = await productStates(server, 'pc-bios');
    while (states[DEBIAN]?.installationStatus !== 'installed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2000));
      states = await productStates(server, 'pc-bios');
    }
    t.like(states[DEBIAN], { installationStatus: 'installed', actionResult: 'successful' }, vm.tail(40));
    t.regex(states[DEBIAN]?.actionProgress ?? '', /BIOS/);
    await serialLogin(vm, 'netimage-vm-1', 4 * 60_000);
    t.deepEqual(await serialRun(vm, 'test -d /sys/firmware/efi && echo uefi || echo bios'), ['bios']);
    vm.sendSerial('systemctl poweroff\n');
    await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 120_000))]);
  } finally {
    await vm.stop();
  }
});
