// The hardware matrix of issue 15 as test cells: one VM per QEMU NIC model with ONLY that NIC,
// each paired with a different disk controller, so every model and every controller has a cell
// (vm-harness/hardware-matrix.ts; QEMU 7.2 has no igb). Direct kernel boot, small memory, empty
// disks. A cell passes when the agent reached the real server through that NIC (the job ran and
// the inventory lists that NIC's MAC with its driver: the VM has no other NIC) and hwinvent
// reported the disk behind the controller (its size is the cell's own).
// Five cells boot stage 1 alone (boot.initrd=two-stage): stage 1's busybox modprobe must find the
// NIC by modalias before anything else can happen, the strongest proof of the NIC driver. One
// cell boots the default single initrd.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directBoot } from '../../vm-harness/direct-boot.ts';
import { CELL_CONTROLLERS, CELL_NIC_MODELS, cellDisk } from '../../vm-harness/hardware-matrix.ts';
import { issueJob, startTestServer, type TestServer } from '../helpers/server.ts';
import { ensureBootImage } from './direct-helpers.ts';

interface Cell {
  nic: string;
  controller: string;
  initrd: 'stage1' | 'initrd';
}

const CELLS: Cell[] = [
  { nic: 'e1000', controller: 'ahci', initrd: 'stage1' },
  { nic: 'e1000e', controller: 'nvme', initrd: 'stage1' },
  { nic: 'rtl8139', controller: 'usb-storage', initrd: 'stage1' },
  { nic: 'vmxnet3', controller: 'virtio-scsi', initrd: 'stage1' },
  { nic: 'virtio-net-pci', controller: 'megasas', initrd: 'stage1' },
  { nic: 'virtio-net-pci', controller: 'virtio-blk', initrd: 'initrd' },
];

const MIB = 1024 * 1024;

// Two VMs at a time: one TCG vCPU each on the 2-core machine keeps the matrix at a few minutes
// (NETIMAGE_VM_CELLS_PARALLEL=1 for one at a time, e.g. holding one VM slot of a shared machine).
let free = Math.max(1, Number(process.env['NETIMAGE_VM_CELLS_PARALLEL'] ?? 2) || 2);
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  while (free === 0) await new Promise<void>((r) => waiting.push(r));
  free--;
  try {
    return await fn();
  } finally {
    free++;
    waiting.shift()?.();
  }
}

let server: Promise<TestServer> | undefined;
test.after.always(async () => {
  if (server) await (await server).stop();
});

test('the matrix covers every NIC model and every controller', (t) => {
  t.deepEqual([...new Set(CELLS.map((c) => c.nic))].sort(), CELL_NIC_MODELS.map((m) => m.model).sort());
  t.deepEqual(CELLS.map((c) => c.controller).sort(), CELL_CONTROLLERS.map((c) => c.controller).sort());
  t.true(CELLS.some((c) => c.initrd === 'initrd'), 'the default single initrd has a cell');
});

for (const [i, cell] of CELLS.entries()) {
  test(`${cell.nic} + ${cell.controller} (${cell.initrd === 'stage1' ? 'two-stage' : 'single initrd'}): the agent reaches the server through that NIC, hwinvent reports its driver and the disk`, async (t) => {
    const imageDir = await ensureBootImage();
    server ??= startTestServer();
    const ts = await server;
    const diskDir = await mkdtemp(join(tmpdir(), 'netimage-cell-'));
    t.teardown(() => rm(diskDir, { recursive: true, force: true }));
    const tag = randomBytes(2).toString('hex');
    const mac = `52:54:00:5c:${tag.slice(0, 2)}:${(0x10 + i).toString(16)}`;
    const clientId = `pc-cell-${i}-${tag}`;
    const job = await issueJob(ts, { clientId, mac, productId: 'hwinvent' });
    // A size of its own per cell: the inventory is matched by size whatever the disk's name.
    const sizeBytes = (80 + i) * MIB;
    const want = CELL_NIC_MODELS.find((m) => m.model === cell.nic)!;
    const controller = CELL_CONTROLLERS.find((c) => c.controller === cell.controller)!;

    await slot(async () => {
      const { vm } = await directBoot({
        imageDir,
        initrd: cell.initrd,
        nicModel: cell.nic,
        qemuArgs: cellDisk(diskDir, cell.controller, sizeBytes),
        name: `cell${i}-${tag}`,
        memory: 768,
        serverPort: ts.server.httpPort,
        job: { id: job.jobId, token: job.token },
        mac,
      });
      try {
        const network = await vm.waitFor(/netimage: network up \S+ on (\S+)/, 240_000);
        const running = await vm.waitFor(/netimage: agent running/, 240_000);
        const done = await vm.waitFor(/netimage: agent finished (\w+)/, 240_000);
        t.is(done.match[1], 'successful', vm.tail());
        t.log(`network up on ${network.match[1]} at ${(network.atMs / 1000).toFixed(1)} s, agent running at ${(running.atMs / 1000).toFixed(1)} s after QEMU start`);
      } finally {
        await vm.stop();
      }
    });

    const inv = await ts.api('GET', `/api/v1/clients/${clientId}/inventory`);
    t.is(inv.status, 200, inv.text);
    const nics: { mac: string; driver: string }[] = inv.body.nics;
    t.is(nics.length, 1, `only the cell's NIC: ${JSON.stringify(nics)}`);
    t.is(nics[0]?.mac, mac, JSON.stringify(nics));
    t.true(want.drivers.includes(nics[0]?.driver ?? ''), `${cell.nic} → ${JSON.stringify(nics)}`);
    const disks: { sizeBytes: number; transport: string | null }[] = inv.body.disks;
    t.is(disks.length, 1, `only the cell's disk: ${JSON.stringify(disks)}`);
    t.is(disks[0]?.sizeBytes, sizeBytes, `${cell.controller}: ${JSON.stringify(disks)}`);
    if (controller.transport) t.is(disks[0]?.transport, controller.transport, `${cell.controller}: ${JSON.stringify(disks)}`);
    t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}`)).body.state, 'succeeded');
  });
}
