// Boots the real boot image in QEMU (direct kernel boot, TCG) with hwinvent as the job against a
// real bootserver on 127.0.0.1, and checks the inventory the server stored against the VM's
// QEMU settings (disk sizes and serials, MAC, SMBIOS UUID and serial).
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { directBoot } from '../../vm-harness/direct-boot.ts';
import { issueJob, startTestServer } from '../helpers/server.ts';
import { ensureBootImage } from './direct-helpers.ts';

test('hwinvent in the boot image (SeaBIOS) stores the VM inventory on the real server', async (t) => {
  const imageDir = await ensureBootImage();
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:4e:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const uuid = randomUUID();
  const serial = `NI-SER-${tag.toUpperCase()}`;
  const clientId = `pc-hw-${tag}`;
  const job = await issueJob(ts, { clientId, mac, uuid, productId: 'hwinvent' });

  const { vm } = await directBoot({
    imageDir,
    name: `hw-${tag}`,
    firmware: 'bios',
    serverPort: ts.server.httpPort,
    job: { id: job.jobId, token: job.token },
    mac,
    uuid,
    serial,
    disks: [
      { size: '3G', serial: `VDISK${tag}` },
      { size: '1536M', bus: 'nvme', serial: `NDISK${tag}` },
    ],
  });
  t.teardown(() => vm.stop());
  const done = await vm.waitFor(/netimage: agent finished (\w+)/, 240_000);
  t.is(done.match[1], 'successful', vm.tail());
  await vm.waitFor(/netimage: (rebooting|powering off)/, 10_000);
  t.log(`agent finished at ${(done.atMs / 1000).toFixed(1)} s after QEMU start`);

  const inv = await ts.api('GET', `/api/v1/clients/${clientId}/inventory`);
  t.is(inv.status, 200, inv.text);
  const body = inv.body;
  t.is(body.system.uuid, uuid);
  t.is(body.system.serial, serial);
  t.is(body.system.manufacturer, 'QEMU');
  t.is(body.bios.firmware, 'bios');
  t.true(body.nics.some((n: { mac: string; driver: string }) => n.mac === mac && n.driver === 'virtio_net'), JSON.stringify(body.nics));
  const byName = new Map<string, any>(body.disks.map((d: { name: string }) => [d.name, d]));
  t.like(byName.get('vda'), { sizeBytes: 3 * 2 ** 30, serial: `VDISK${tag}`, transport: 'virtio', logicalSectorSize: 512 });
  t.like(byName.get('nvme0n1'), { sizeBytes: 1536 * 2 ** 20, serial: `NDISK${tag}`, transport: 'nvme', rotational: false });
  t.is(body.disks.length, 2, 'only the two disks (no loop/ram devices)');
  t.true(body.memoryBytes > 900 * 2 ** 20 && body.memoryBytes <= 1024 * 2 ** 20);

  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'succeeded', j.text);
  const log = await ts.api('GET', `/api/v1/jobs/${job.jobId}/log`);
  t.regex(log.text, /inventory stored/);
});
