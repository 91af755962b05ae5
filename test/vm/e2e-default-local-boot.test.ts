// Scenarios 5 and 6: clients that must NOT get a job. A registered client with nothing pending and
// an unknown MAC both get the local-boot config; with a blank disk grub finds no OS loader, says so
// and leaves to the firmware. No job is ever created; the unknown MAC is not registered
// (boot.bootUnknownClients is off by default). One lab, the two VMs one after the other.
import test from 'ava';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import { bootVm, createRawDisk, registerClient } from '../../vm-harness/classroom.ts';
import { randomMac } from '../../vm-harness/qemu.ts';

const NO_LOADER = /netimage: no OS loader found on the local disks; leaving to the firmware/;

test('nothing pending / unknown client: local-boot config, clean fallback, never a job', async (t) => {
  t.timeout(9 * 60_000);
  const lab = await createLab({ name: 'e2e5', subnet: '10.77.45.0/24' });
  t.teardown(() => lab.destroy());
  await startSiteDhcp(lab);
  const server = await startLabServer(lab, { dhcpMode: 'proxy' });
  const knownMac = randomMac();
  await registerClient(server, { id: 'pc-idle', mac: knownMac });

  // 5. Registered, nothing pending, blank disk.
  const idle = await bootVm(lab, { name: 'e2e5-idle', mac: knownMac, disk: await createRawDisk(lab, '1G') });
  const idleLine = await idle.waitFor(NO_LOADER, 4 * 60_000);
  t.log(`registered, nothing pending: fell back at ${(idleLine.atMs / 1000).toFixed(1)} s`);
  await idle.waitFor(/netimage: booting the local disk \(no pending netboot action\)/, 1);
  await idle.stop();
  t.false(idle.lines().some((l) => /netimage: loading the boot image/.test(l.text)), 'a client with nothing pending must not load the boot image');

  // 6. Unknown MAC.
  const unknownMac = randomMac();
  const unknown = await bootVm(lab, { name: 'e2e6-unknown', mac: unknownMac, disk: await createRawDisk(lab, '1G') });
  const unknownLine = await unknown.waitFor(NO_LOADER, 4 * 60_000);
  t.log(`unknown client: fell back at ${(unknownLine.atMs / 1000).toFixed(1)} s`);
  await unknown.waitFor(/netimage: booting the local disk \(unknown client\)/, 1);
  await unknown.stop();
  t.false(unknown.lines().some((l) => /netimage: loading the boot image/.test(l.text)));

  const jobs = await server.call('GET', '/jobs?limit=50');
  t.deepEqual(jobs, [], 'no job for either client');
  const clients = (await server.call('GET', '/clients')) as { id: string; mac: string | null }[];
  t.deepEqual(clients.map((c) => c.id), ['pc-idle'], 'the unknown MAC is not registered');
  // The server decided "local boot" for both (its log names the reason).
  const localBoots = server.log().filter((l) => l.includes('"local boot"'));
  t.true(localBoots.some((l) => l.includes('pc-idle')), localBoots.join('\n'));
  t.true(localBoots.some((l) => l.includes(unknownMac)), localBoots.join('\n'));
});
