// PXE with boot.initrd=two-stage once per firmware (UEFI, UEFI + Secure Boot, BIOS): the path
// bench/boot.ts measures. Our whole server (DHCP, TFTP, HTTP) in a lab; grub loads the kernel and
// stage 1 over TFTP, init fetches stage 2 (a squashfs image) over HTTP from the same server,
// verifies it, switches to it as the root and runs hwinvent, whose result the server stores.
import test from 'ava';
import { createLab } from '../../vm-harness/netns.ts';
import { startLabServer } from '../../vm-harness/lab-server.ts';
import { registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { randomMac, type VmFirmware } from '../../vm-harness/qemu.ts';
import { ensureBootImage } from './direct-helpers.ts';

const FIRMWARES: VmFirmware[] = ['uefi', 'uefi-secureboot', 'bios'];

for (const [i, firmware] of FIRMWARES.entries()) {
  test.serial(`${firmware}: PXE loads stage 1, init fetches and verifies stage 2 over HTTP, hwinvent succeeds`, async (t) => {
    t.timeout(9 * 60_000);
    await ensureBootImage();
    const lab = await createLab({ name: `p2s${i}`, subnet: `10.77.${70 + i}.0/24` });
    t.teardown(() => lab.destroy());
    const server = await startLabServer(lab, { dhcpMode: 'full', env: { NETIMAGE_BOOT_INITRD: 'two-stage' } });
    const clientId = `pc-p2s-${i}`;
    const mac = randomMac();
    await registerClient(server, { id: clientId, mac });
    const r = await runProduct(lab, server, { name: `p2s-${firmware}`, firmware, clientId, productId: 'hwinvent', mac, timeoutMs: 6 * 60_000 });
    t.log(`${firmware}: hwinvent ${r.job.state} in ${r.seconds.toFixed(1)} s`);
    t.is(r.job.state, 'succeeded', r.vm.tail(40));
    // The two-stage path, not the single initrd: stage 1 fetched stage 2 before the agent ran.
    const fetched = await r.vm.waitFor(/netimage: fetching stage 2 .* from http:\/\/\S+\/boot\/netimage\/stage2/, 1);
    const verified = await r.vm.waitFor(/netimage: stage 2 verified/, 1, { after: fetched });
    // The agent runs from the stage 2 root (switch_root), whose init runs the second module pass
    // beside it; the product (hwinvent's first progress line) starts only once the pass is done.
    const mounted = await r.vm.waitFor(/netimage: stage 2 mounted/, 1, { after: verified });
    await r.vm.waitFor(/netimage: agent running/, 1, { after: mounted });
    const pass2 = await r.vm.waitFor(/netimage: modules loaded/, 1, { after: mounted });
    const ready = await r.vm.waitFor(/netimage: modules ready/, 1, { after: pass2 });
    const product = await r.vm.waitFor(/netimage: \[ *\d+%\]/, 1, { after: mounted });
    t.true(product.index > ready.index, `the product started before modules-ready:\n${r.vm.tail(40)}`);
    const inv = await server.api('GET', `/clients/${clientId}/inventory`);
    t.is(inv.status, 200, inv.text);
    t.is(inv.body.bios.firmware, firmware === 'bios' ? 'bios' : 'uefi');
  });
}
