// Room seeding with real PCs (issue 14): three UEFI VMs of one group receive a golden image in ONE
// multicast stream from the real server and restore it. The golden image is real and small: a
// backup of a 300 MiB ext4 system partition, taken on the host by the agent's own product code
// (test/imaging/helpers/product-run.ts, against the lab server with a job token) and uploaded to
// the depot (upload_to_server). The three PCs are prepared the same way on the host (a VM boot
// each would add minutes and shows nothing new); then the admin runs
// `netimage room restore <group> --server-image NAME --multicast --follow --yes`, the VMs PXE-boot
// at once, and the test checks: every job succeeded and its log says the pieces came by multicast
// (not MULTICAST BLOCKED / the HTTP fallback); each PC's images.json lists the image and its system
// partition holds the golden files (host-side, on the disk files); and what the server put on the
// lab bridge from the start of the data to the last job's end is about ONE image, not three.
// Three VMs at once: run it under `/work/wt/vmslot.sh --both`.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { bootVm, createRawDisk, jobsOf, waitForJobResult, type JobRun } from '../../vm-harness/classroom.ts';
import { partitionByLabel, verifyManifestOnDisk, withLoopDisk, withMounted, writeManifestToDisk, type Manifest } from '../../vm-harness/disk-access.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { repoRoot } from '../../vm-harness/paths.ts';
import { clientConfigPath, parseNetbootConfig } from '../helpers/server.ts';
import { ensureBootImage } from './direct-helpers.ts';
import { BACKUP_LABEL } from '../../imaging/planner.ts';

const GROUP = 'room-14';
const IMAGE = 'room14-golden';
const RESTORE = 'opsi-local-image-restore';
const SYSTEM = 'system';
// Small on purpose (3 TCG guests on 2 cores): a 1 GiB disk, 300 MiB ext4 system partition.
const PREPARE = { system_partition_size: '300M', winpe_partition_size: '0G', data_partition_size: '0G', minimal_backup_partition_size: '40%', start_os_installation: 'opsi-local-image-ubuntu', multi_disk_mode: '0', backup_partition_on_same_disk: true };
// A PC in a TCG guest takes each datagram through emulated virtio and JavaScript, three guests on
// 2 shared cores. Before the boot image raised net.core.rmem_max (init), the guests got the HELLOs
// but not one whole piece of the data, at 40 and at 8 Mbit/s (all by HTTP catch-up): the 208 KiB
// socket buffer overflowed in every pause. At 8 Mbit/s the test command's run (2026-12-02,
// rehearsal) still lost 2–7 of 15 pieces per guest to CPU starvation (1.98× the image on the
// bridge); 4 Mbit/s: ~28 s for the ~13 MiB image.
const RATE_MBIT = 4;
// Three TCG guests PXE-booting at once on a loaded machine reach the agent minutes apart; the
// default join window (120 s, for real PCs) would start the data without the last one (which
// then catches up by HTTP, correct but not what this scenario shows).
const JOIN_WINDOW_S = 900;
const PCS = [1, 2, 3].map((n) => ({ id: `room14-pc${n}`, mac: randomMac(), disk: '' }));
const SOURCE = { id: 'room14-master', mac: randomMac(), disk: '' };

let lab: Lab | undefined;
let server: LabServer | undefined;
let golden: { entry: string; manifest: Manifest; imageBytes: number } | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'seed14', subnet: '10.77.14.0/24' });
  server = await startLabServer(lab, { dhcpMode: 'full', env: { NETIMAGE_SEEDING_RATE_MBIT: String(RATE_MBIT), NETIMAGE_SEEDING_JOIN_WINDOW_SECONDS: String(JOIN_WINDOW_S) } });
  await server.call('POST', '/groups', { id: GROUP, description: 'room seeding e2e' });
  for (const pc of PCS) {
    await server.call('POST', '/clients', { id: pc.id, mac: pc.mac, uuid: null, group: GROUP });
    pc.disk = await createRawDisk(lab, '1G');
  }
  await server.call('POST', '/clients', { id: SOURCE.id, mac: SOURCE.mac, uuid: null });
  SOURCE.disk = await createRawDisk(lab, '1G');
});

test.after.always(async () => {
  await lab?.destroy();
});

/**
 * Run a product of the agent on the host against a disk file, as its PC would: the action is set,
 * the boot config read (which issues the job and its token), the product runs on a loop device of
 * the disk inside the lab (it reaches the server there) in a private mount namespace.
 */
async function runOnHost(pc: { id: string; mac: string; disk: string }, productId: string, properties: Record<string, unknown>): Promise<{ ok: boolean; error: string | null; log: string[] }> {
  await server!.call('PUT', `/clients/${pc.id}/products/${productId}/action`, { actionRequest: 'setup', properties });
  const config = String((await lab!.exec('curl', ['-sSf', `${server!.url}${clientConfigPath(pc.mac, null, 'efi')}`])).stdout);
  const job = parseNetbootConfig(config);
  if (!job) throw new Error(`${pc.id}: no netboot config for ${productId}:\n${config}`);
  return withLoopDisk(pc.disk, async (loop) => {
    const r = await lab!.exec('unshare', ['-m', '--propagation', 'private', process.execPath, join(repoRoot, 'test/imaging/helpers/product-run.ts'), productId, loop, server!.url, job.token, 'uefi', join(pc.disk, '..')], { reject: false });
    const last = String(r.stdout).trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(last) as { ok: boolean; error: string | null; log: string[] };
    } catch {
      throw new Error(`${pc.id}: ${productId} printed no result (exit ${r.exitCode}):\n${String(r.stderr).slice(-2000)}`);
    }
  });
}

async function prepareOnHost(pc: { id: string; mac: string; disk: string }): Promise<void> {
  const r = await runOnHost(pc, 'opsi-local-image-prepare', PREPARE);
  if (!r.ok) throw new Error(`${pc.id}: prepare failed: ${r.error}\n${r.log.join('\n')}`);
  // start_os_installation made the system partition ext4 and queued the OS install: taken back.
  await server!.call('PUT', `/clients/${pc.id}/products/opsi-local-image-ubuntu/action`, { actionRequest: 'none' });
}

test.serial('a golden image in the depot: a real backup of a small ext4 system partition, taken and uploaded by the agent code on the host', async (t) => {
  t.timeout(5 * 60_000);
  await prepareOnHost(SOURCE);
  const manifest = await writeManifestToDisk(SOURCE.disk, SYSTEM, { randomMiB: 12, textMiB: 4 });
  const bk = await runOnHost(SOURCE, 'opsi-local-image-backup', { imagefile: IMAGE, upload_to_server: true });
  t.true(bk.ok, `${bk.error}\n${bk.log.join('\n')}`);
  const entries = (await server!.call('GET', '/depot')) as { id: string; files: { path: string; size: number }[] }[];
  const entry = entries.find((e) => e.id.startsWith('golden/'));
  if (!entry) return t.fail(`no golden entry in the depot: ${JSON.stringify(entries)}`);
  const name = entry.id.slice('golden/'.length);
  const imageBytes = entry.files.find((f) => f.path === 'image.pcl.zst')?.size ?? 0;
  t.true(imageBytes > 8 * 2 ** 20, `image.pcl.zst is ${imageBytes} bytes`);
  golden = { entry: name, manifest, imageBytes };
  t.log(`golden/${name}: image ${(imageBytes / 2 ** 20).toFixed(1)} MiB, ${manifest.files.length} files`);
  // The PCs of the room: only prepared, no image of their own.
  for (const pc of PCS) await prepareOnHost(pc);
});

test.serial('netimage room restore --server-image --multicast: 3 PCs PXE-boot, receive ONE stream, verify, restore; the server sent about one image', async (t) => {
  t.timeout(25 * 60_000);
  if (!golden) return t.fail('no golden image (the first test failed)');
  const before = new Map<string, Set<string>>();
  for (const pc of PCS) before.set(pc.id, new Set((await jobsOf(server!, pc.id, RESTORE)).map((j) => j.id)));
  // What the server puts on the lab's bridge, sampled inside the lab with a timestamp.
  const samples: { at: number; tx: number }[] = [];
  const sampler = lab!.spawn('sh', ['-c', 'while :; do echo "$(date +%s%3N) $(cat /sys/class/net/br0/statistics/tx_bytes)"; sleep 0.25; done'], { stdout: 'pipe', stderr: 'ignore', buffer: false, reject: false });
  sampler.stdout!.setEncoding('utf8');
  let partial = '';
  sampler.stdout!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      const [at, tx] = l.split(' ').map(Number);
      if (Number.isFinite(at) && Number.isFinite(tx)) samples.push({ at: at!, tx: tx! });
    }
  });
  t.teardown(() => sampler.kill('SIGKILL'));

  // The admin's command, as on the server's console (inside the lab: the API listens only there).
  const cli = lab!.spawn(process.execPath, [join(repoRoot, 'bootserver/cli/main.ts'), 'room', 'restore', GROUP, '--server-image', golden.entry, '--multicast', '--follow', '--yes'], {
    cwd: repoRoot,
    env: { ...process.env, NETIMAGE_URL: server!.url, NETIMAGE_TOKEN: server!.adminToken },
    stdin: 'ignore',
    reject: false,
    all: true,
  });
  // The action is set before the PCs are switched on (the CLI prints the line after the API call).
  const setDeadline = Date.now() + 60_000;
  while (!(await jobsPending()) && Date.now() < setDeadline) await new Promise((r) => setTimeout(r, 300));

  const runs: JobRun[] = await Promise.all(
    PCS.map(async (pc, i) => {
      const vm = await bootVm(lab!, { name: `seed14-${i + 1}`, mac: pc.mac, disk: pc.disk, memory: 768 });
      try {
        return await waitForJobResult(server!, vm, { clientId: pc.id, productId: RESTORE, ignoreJobIds: before.get(pc.id)!, timeoutMs: 18 * 60_000 });
      } finally {
        await vm.stop();
      }
    }),
  );
  const done = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const cliResult = await Promise.race([cli, new Promise<null>((r) => (timer = setTimeout(() => r(null), 60_000)))]);
  clearTimeout(timer); // else the worker lives on for the rest of the minute, holding the VM slots
  if (!cliResult) cli.kill('SIGTERM');
  t.log(`netimage room restore --follow:\n${String(cliResult?.all ?? '(still running after the last job: killed)').split('\n').slice(-8).join('\n')}`);
  t.is(cliResult?.exitCode, 0, 'room restore --follow exits 0 when every PC succeeded');

  const logs: string[] = [];
  for (const [i, r] of runs.entries()) {
    const log = String((await server!.api('GET', `/jobs/${r.job.id}/log`)).text);
    logs.push(log);
    t.log(`${PCS[i]!.id}: ${r.job.state} in ${r.seconds.toFixed(1)} s; ${/room seeding of .*pieces verified.*/.exec(log)?.[0] ?? '(no seeding summary)'}`);
    t.is(r.job.state, 'succeeded', `${PCS[i]!.id}: ${r.job.error}\n${log.slice(-3000)}\n${r.vm.tail(30)}`);
    t.regex(log, /room seeding of .*: joining multicast 239\.255\.42\.\d+:9042/, PCS[i]!.id);
    t.notRegex(log, /MULTICAST BLOCKED|stream is over; everything this PC lacks comes over HTTP/, PCS[i]!.id);
    const m = /room seeding of .*: (\d+) pieces verified \((\d+) already here, (\d+) by multicast, (\d+) by HTTP/.exec(log);
    t.truthy(m, `${PCS[i]!.id}: no seeding summary in the job log`);
    // Much of the image came by multicast (a starved TCG guest loses datagrams: those pieces come by HTTP).
    if (m) t.true(Number(m[3]) >= 0.4 * Number(m[1]), `${PCS[i]!.id}: only ${m[3]} of ${m[1]} pieces by multicast`);
  }

  // On each disk: images.json lists the image, and the system partition holds the golden files.
  for (const pc of PCS) {
    const listed = await withLoopDisk(pc.disk, (_loop, parts) => withMounted(partitionByLabel(parts, BACKUP_LABEL), 'ro', async (dir) => JSON.parse(await readFile(join(dir, 'images.json'), 'utf8')) as { images: { name: string }[] }));
    t.deepEqual(listed.images.map((i) => i.name), [IMAGE], `${pc.id}: images.json`);
    t.deepEqual(await verifyManifestOnDisk(pc.disk, SYSTEM, golden.manifest), [], `${pc.id}: system partition = golden content`);
  }

  // Bytes on the bridge from the start of the data (the server logs it once the room has joined;
  // every PC is past its boot downloads then) to the last job's result.
  const started = server!
    .log()
    .map((l) => {
      try {
        return JSON.parse(l) as { msg?: string; time?: number };
      } catch {
        return {};
      }
    })
    .find((e) => e.msg?.startsWith('room seeding: the room has joined'));
  t.truthy(started?.time, 'the server logged the start of the data');
  const at = (time: number) => samples.filter((s) => s.at <= time).pop() ?? samples[0]!;
  const sent = at(done).tx - at(started!.time! - 250).tx;
  const ratio = sent / golden.imageBytes;
  const msg = `the server put ${(sent / 2 ** 20).toFixed(1)} MiB on the bridge for a ${(golden.imageBytes / 2 ** 20).toFixed(1)} MiB image and ${PCS.length} PCs (${ratio.toFixed(2)}× the image; unicast would be ${PCS.length}×)`;
  t.log(msg);
  console.log(`[room-seed] ${msg}`);
  // One stream for the room plus HTTP catch-up of what starved guests lost: clearly below the
  // 3 images unicast sends (measured 1.43× and 1.98× at 8 Mbit/s, loads ~15 and the test command).
  t.true(ratio >= 0.95 && ratio < 2.4, msg);
});

async function jobsPending(): Promise<boolean> {
  const rows = (await server!.call('GET', `/product-states?group=${GROUP}&product=${RESTORE}`)) as { actionRequest: string }[];
  return rows.length === PCS.length && rows.every((r) => r.actionRequest === 'setup');
}
