// Kernel and initrd over HTTP (boot.kernelTransport=http, Secure Boot off: grub's http module is
// unsigned). Two boots in a row of the same VM: grub uses the same TCP source ports (21550, ...)
// and gets the same IP each boot, so a server socket left in TIME-WAIT/LAST-ACK from boot 1 would
// stall boot 2 (shared/notes/pxe-chain.md). Both boots must finish their job.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('UEFI loads the boot image over HTTP twice in a row from the same ports', async (t) => {
  t.timeout(12 * 60_000);
  await ensureBootImage();
  const lab = await createLab({ name: 'http', subnet: '10.77.46.0/24' });
  t.teardown(() => lab.destroy());
  const server = await startLabServer(lab, { dhcpMode: 'full', env: { NETIMAGE_BOOT_KERNEL_TRANSPORT: 'http' } });
  const mac = randomMac();
  const uuid = randomUUID();
  await registerClient(server, { id: 'pc-http', mac });
  for (const round of [1, 2]) {
    const r = await runProduct(lab, server, { name: `http-${round}`, clientId: 'pc-http', productId: 'hwinvent', mac, uuid, timeoutMs: 5 * 60_000 });
    t.log(`boot ${round}: ${r.job.state} in ${r.seconds.toFixed(1)} s`);
    t.is(r.job.state, 'succeeded', r.vm.tail(40));
    t.true(r.vm.lines().some((l) => /loading the boot image kernel/.test(l.text)), 'the netboot config ran');
  }
  // The boot files came over HTTP, not TFTP: the server logged no TFTP transfer of the kernel or
  // an initrd (stage 1 by default, the whole image with boot.initrd=single).
  const log = server.log().join('\n');
  t.notRegex(log, /"file":"netimage\/(kernel|initrd|stage1)"/);
});
