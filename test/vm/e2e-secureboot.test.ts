// Scenario 3: Secure Boot enforced (OVMF .ms firmware with Microsoft keys, SMM). The same chain:
// Microsoft-signed shim -> Debian-signed grub -> Debian-signed kernel (kernel and initrd over TFTP:
// grub's http module is unsigned). The kernel must report Secure Boot on, and the job completes.
import test from 'ava';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../../vm-harness/site-dhcp.ts';
import { productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('Secure Boot enforced: the chain boots, the kernel reports Secure Boot, hwinvent completes', async (t) => {
  t.timeout(9 * 60_000);
  await ensureBootImage();
  const lab = await createLab({ name: 'e2e3', subnet: '10.77.43.0/24' });
  t.teardown(() => lab.destroy());
  await startSiteDhcp(lab);
  const server = await startLabServer(lab, { dhcpMode: 'proxy', env: { NETIMAGE_BOOT_KERNEL_TRANSPORT: 'tftp' } });
  const mac = randomMac();
  await registerClient(server, { id: 'pc-sb', mac });
  const r = await runProduct(lab, server, { name: 'e2e3-sb', firmware: 'uefi-secureboot', clientId: 'pc-sb', productId: 'hwinvent', mac, timeoutMs: 6 * 60_000 });
  t.log(`hwinvent (Secure Boot): ${r.job.state} in ${r.seconds.toFixed(1)} s`);
  t.is(r.job.state, 'succeeded', r.vm.tail(40));
  const sb = await r.vm.waitFor(/secureboot: Secure boot enabled/, 1);
  t.log(`kernel: "${sb.line.trim()}" at ${(sb.atMs / 1000).toFixed(1)} s`);
  const states = await productStates(server, 'pc-sb');
  t.like(states['hwinvent'], { actionRequest: 'none', installationStatus: 'installed', actionResult: 'successful' });
});
