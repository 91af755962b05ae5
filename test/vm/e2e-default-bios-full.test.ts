// Scenario 4: legacy BIOS (SeaBIOS -> iPXE ROM -> grub i386-pc core.0) with our server in full DHCP
// mode: it hands out the address itself, no other DHCP server in the lab. The job is hwinvent.
import test from 'ava';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('legacy BIOS + full DHCP mode: hwinvent completes', async (t) => {
  t.timeout(9 * 60_000);
  await ensureBootImage();
  const lab = await createLab({ name: 'e2e4', subnet: '10.77.44.0/24' });
  t.teardown(() => lab.destroy());
  const server = await startLabServer(lab, { dhcpMode: 'full', pool: [150, 199] });
  const mac = randomMac();
  await registerClient(server, { id: 'pc-bios', mac });
  const r = await runProduct(lab, server, { name: 'e2e4-bios', firmware: 'bios', clientId: 'pc-bios', productId: 'hwinvent', mac, timeoutMs: 5 * 60_000 });
  t.log(`hwinvent (BIOS): ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  // The address came from our pool.
  await r.vm.waitFor(/netimage: network up 10\.77\.44\.(1[5-9]\d)\//, 1);
  const states = await productStates(server, 'pc-bios');
  t.like(states['hwinvent'], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
});
