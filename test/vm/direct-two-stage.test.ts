// Two-stage boot (boot.initrd=two-stage, docs/bootimage.md "Two stages"): QEMU boots the kernel
// with stage 1 only; init brings the network up, fetches stage 2 from the real bootserver over
// HTTP (a squashfs image), checks it against the sha256 pinned in stage 1, mounts it as the root
// (overlay, switch_root) and runs the agent (hwinvent).
// The same VM carries the hardware matrix (vm-harness/hardware-matrix.ts: QEMU's NIC models and
// disk controllers), so one boot also shows that the modules load by modalias and hwinvent
// reports every NIC and disk.
// A stage 2 that fails its checksum: the console says why, the job is marked failed with that
// reason, and no agent starts.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directBoot } from '../../vm-harness/direct-boot.ts';
import { hardwareMatrix } from '../../vm-harness/hardware-matrix.ts';
import { issueJob, startTestServer } from '../helpers/server.ts';
import { ensureBootImage } from './direct-helpers.ts';

test.serial('stage 1 fetches and verifies stage 2 over HTTP, then hwinvent reports every NIC model and disk controller of the matrix', async (t) => {
  const imageDir = await ensureBootImage();
  const diskDir = await mkdtemp(join(tmpdir(), 'netimage-matrix-'));
  t.teardown(() => rm(diskDir, { recursive: true, force: true }));
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:2e:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const clientId = `pc-2s-${tag}`;
  const job = await issueJob(ts, { clientId, mac, productId: 'hwinvent' });
  const matrix = hardwareMatrix(diskDir, `52:54:00:3e:${tag.slice(0, 2)}`);

  const { vm } = await directBoot({
    imageDir,
    initrd: 'stage1',
    qemuArgs: matrix.args,
    name: `2s-${tag}`,
    serverPort: ts.server.httpPort,
    job: { id: job.jobId, token: job.token },
    mac,
    disks: [{ size: '1G', serial: `TS${tag}` }],
  });
  t.teardown(() => vm.stop());
  // Stage 1 alone: only NIC drivers, loaded by modalias with busybox's modprobe, then the network.
  const network = await vm.waitFor(/netimage: network up/, 240_000);
  const verified = await vm.waitFor(/netimage: stage 2 verified/, 240_000);
  const mounted = await vm.waitFor(/netimage: stage 2 mounted/, 120_000);
  // The second pass with the full index loads the storage drivers the disks below need; it starts
  // once the agent runs (node's start first) and runs beside it; the product starts only once the
  // pass says modules ready.
  const running = await vm.waitFor(/netimage: agent running/, 120_000, { after: mounted });
  const pass = await vm.waitFor(/netimage: loading modules with the full index/, 60_000, { after: mounted });
  t.true(pass.index > running.index, `the second module pass started before the agent ran:\n${vm.tail()}`);
  await vm.waitFor(/netimage: modules loaded/, 60_000, { after: pass });
  const ready = await vm.waitFor(/netimage: modules ready/, 60_000, { after: mounted });
  // Stage 1 starts the kernel's CRNG seeding at init (the VM's qemu64 CPU has no RDRAND), so node
  // does not wait for it at start: the wait ran and ended (docs/performance.md "Session 13").
  const seeded = await vm.waitFor(/netimage: random pool seeded/, 60_000);
  const product = await vm.waitFor(/netimage: \[ *\d+%\]/, 120_000, { after: mounted });
  t.true(product.index > ready.index, `the product started before modules-ready:\n${vm.tail()}`);
  const done = await vm.waitFor(/netimage: agent finished (\w+)/, 240_000);
  t.is(done.match[1], 'successful', vm.tail());
  const at = (m: { atMs: number }): string => `${(m.atMs / 1000).toFixed(1)} s`;
  t.log(`network up at ${at(network)}, stage 2 verified at ${at(verified)}, mounted at ${at(mounted)}, agent running at ${at(running)}, random pool seeded at ${at(seeded)}, modules ready at ${at(ready)} after QEMU start`);

  const inv = await ts.api('GET', `/api/v1/clients/${clientId}/inventory`);
  t.is(inv.status, 200, inv.text);
  const nics: { mac: string; driver: string }[] = inv.body.nics;
  t.true(nics.some((n) => n.mac === mac), JSON.stringify(nics));
  for (const want of matrix.nics) {
    const nic = nics.find((n) => n.mac === want.mac);
    t.true(nic !== undefined && want.drivers.includes(nic.driver), `${want.model}: ${JSON.stringify(nic ?? nics)}`);
  }
  const disks: { serial: string; sizeBytes: number }[] = inv.body.disks;
  t.true(disks.some((d) => d.serial === `TS${tag}`), JSON.stringify(disks));
  for (const want of matrix.disks) t.true(disks.some((d) => d.sizeBytes === want.sizeBytes), `${want.controller}: ${JSON.stringify(disks)}`);
  t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}`)).body.state, 'succeeded');
});

test.serial('a stage 2 that fails its checksum: the console says why, the job fails with that reason, no agent starts', async (t) => {
  const imageDir = await ensureBootImage();
  // A boot root whose stage 2 is not the one stage 1 pins.
  const bootRoot = await mkdtemp(join(tmpdir(), 'netimage-2s-'));
  t.teardown(() => rm(bootRoot, { recursive: true, force: true }));
  await mkdir(join(bootRoot, 'netimage'));
  await writeFile(join(bootRoot, 'netimage/stage2'), randomBytes(256 * 1024));
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': bootRoot } });
  t.teardown(() => ts.stop());
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:2f:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const job = await issueJob(ts, { clientId: `pc-2b-${tag}`, mac, productId: 'hwinvent' });

  const { vm } = await directBoot({
    imageDir,
    initrd: 'stage1',
    name: `2b-${tag}`,
    serverPort: ts.server.httpPort,
    job: { id: job.jobId, token: job.token },
    mac,
    rebootDelay: 1,
    append: 'netimage.stage2_attempts=2',
  });
  t.teardown(() => vm.stop());
  await vm.waitFor(/netimage: stage 2 checksum mismatch/, 240_000);
  await vm.waitFor(/netimage: job marked failed on the server/, 60_000);
  const error = await vm.waitFor(/netimage: error: (.*)/, 30_000);
  t.regex(error.match[1]!, /stage 2 from http:\/\/\S+\/boot\/netimage\/stage2: checksum mismatch/);
  await vm.waitFor(/netimage: rebooting/, 30_000);
  t.notRegex(vm.tail(), /agent running/);
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'failed', j.text);
  t.regex(JSON.stringify(j.body), /boot image: stage 2 from .* checksum mismatch/);
});

test.serial('a stage 2 that cannot be fetched (404): the console says why, the job fails with that reason, no agent starts', async (t) => {
  const imageDir = await ensureBootImage();
  // A boot root without a stage 2: the server answers 404.
  const bootRoot = await mkdtemp(join(tmpdir(), 'netimage-2s-'));
  t.teardown(() => rm(bootRoot, { recursive: true, force: true }));
  await mkdir(join(bootRoot, 'netimage'));
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': bootRoot } });
  t.teardown(() => ts.stop());
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:2d:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const job = await issueJob(ts, { clientId: `pc-2n-${tag}`, mac, productId: 'hwinvent' });

  const { vm } = await directBoot({
    imageDir,
    initrd: 'stage1',
    name: `2n-${tag}`,
    serverPort: ts.server.httpPort,
    job: { id: job.jobId, token: job.token },
    mac,
    rebootDelay: 1,
    append: 'netimage.stage2_attempts=1',
  });
  t.teardown(() => vm.stop());
  await vm.waitFor(/netimage: stage 2 download failed: .*404/, 240_000);
  await vm.waitFor(/netimage: job marked failed on the server/, 60_000);
  const error = await vm.waitFor(/netimage: error: (.*)/, 30_000);
  t.regex(error.match[1]!, /stage 2 from http:\/\/\S+\/boot\/netimage\/stage2: download failed: .*404/);
  await vm.waitFor(/netimage: rebooting/, 30_000);
  t.notRegex(vm.tail(), /agent running/);
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'failed', j.text);
  t.regex(JSON.stringify(j.body), /boot image: stage 2 from .* download failed: .*404/);
});
