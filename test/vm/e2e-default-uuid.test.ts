// Scenario 2: a client registered by SMBIOS UUID only. The VM has a MAC the server has never seen;
// grub sends the UUID (smbios --type 1 --get-uuid) in the config path and the server resolves the
// client by it. UEFI PXE beside a site DHCP server (proxy mode); the job is hwinvent (fast).
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import { productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('a client registered by SMBIOS UUID only gets its job (hwinvent)', async (t) => {
  t.timeout(9 * 60_000);
  await ensureBootImage();
  const lab = await createLab({ name: 'e2e2', subnet: '10.77.42.0/24' });
  t.teardown(() => lab.destroy());
  await startSiteDhcp(lab);
  const server = await startLabServer(lab, { dhcpMode: 'proxy' });
  const uuid = randomUUID();
  await registerClient(server, { id: 'pc-by-uuid', uuid });
  const mac = randomMac();
  const r = await runProduct(lab, server, { name: 'e2e2-uuid', clientId: 'pc-by-uuid', productId: 'hwinvent', mac, uuid, timeoutMs: 5 * 60_000 });
  t.log(`hwinvent: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  await r.vm.waitFor(new RegExp(`asking for the config of mac ${mac} uuid ${uuid}`), 1);
  const states = await productStates(server, 'pc-by-uuid');
  t.like(states['hwinvent'], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
  // Found by UUID alone: the server did not attach the VM's MAC to the client record.
  const client = await server.call('GET', '/clients/pc-by-uuid');
  t.like(client, { uuid, mac: null }, JSON.stringify(client));
  // The inventory the agent sent is this VM's: its UUID, UEFI, its NIC, 1 GiB, no disks.
  const inventory = await server.api('GET', '/clients/pc-by-uuid/inventory');
  t.is(inventory.status, 200, inventory.text);
  const inv = inventory.body;
  t.is(inv.system.uuid, uuid);
  t.is(inv.system.manufacturer, 'QEMU');
  t.is(inv.bios.firmware, 'uefi');
  t.true(inv.nics.some((n: { mac: string }) => n.mac === mac), JSON.stringify(inv.nics));
  t.true(inv.memoryBytes > 900 * 2 ** 20 && inv.memoryBytes <= 1024 * 2 ** 20, `memoryBytes ${inv.memoryBytes}`);
  t.deepEqual(inv.disks, [], 'the VM has no disk');
});
