// A demo classroom to watch: a private lab with the real netimage bootserver (full DHCP, TFTP,
// HTTP), N PCs in one group, and the classroom cycle opsi-local-image-prepare → backup → a group
// restore, each step a real PXE boot (UEFI under QEMU/TCG). Progress comes live from the
// server's job list; the PCs' consoles can be streamed too.
//
//   npm run demo -- [--count 3] [--firmware uefi|bios] [--consoles] [--keep]
//
// --keep leaves the lab running at the end and prints how to use the CLI against it; Ctrl-C tears
// everything down (processes by PID, the network namespace, temp files).
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createLab, type Lab } from './netns.ts';
import { startLabServer, type LabServer } from './lab-server.ts';
import { bootVm, createRawDisk, jobsOf, productStates, registerClient, setAction, SMALL_DISK_PREPARE, waitForJobResult } from './classroom.ts';
import { randomMac, type VmFirmware, type Vm } from './qemu.ts';

interface Pc {
  id: string;
  mac: string;
  uuid: string;
  disk: string;
}

function line(text: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${text}\n`);
}

/** Print job changes as the server reports them (state, percent, progress message). */
function watchJobs(server: LabServer, pcs: Pc[]): () => void {
  const last = new Map<string, string>();
  let running = true;
  void (async () => {
    while (running) {
      for (const pc of pcs) {
        const jobs = await jobsOf(server, pc.id).catch(() => []);
        const job = jobs[0];
        if (!job) continue;
        const states = await productStates(server, pc.id).catch(() => ({}) as Record<string, { actionProgress: string }>);
        const progress = (states as Record<string, { actionProgress: string }>)[job.productId]?.actionProgress ?? '';
        // actionProgress already reads like "61% restore" (opsi's field), so no separate percent column.
        const text = `${pc.id.padEnd(5)} ${job.productId.padEnd(26)} ${job.state.padEnd(9)} ${progress}`;
        if (last.get(pc.id) !== text) {
          last.set(pc.id, text);
          line(text);
        }
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
  })();
  return () => {
    running = false;
  };
}

async function step(lab: Lab, server: LabServer, pcs: Pc[], productId: string, firmware: VmFirmware, consoles: boolean, group?: { id: string }): Promise<void> {
  const before = new Map<string, Set<string>>();
  for (const pc of pcs) before.set(pc.id, new Set((await jobsOf(server, pc.id, productId)).map((j) => j.id)));
  if (group) {
    const r = await server.call('POST', `/groups/${group.id}/action`, { productId, actionRequest: 'setup', confirm: pcs.length });
    line(`group ${group.id}: ${productId} set for ${r.clients.length} PCs${r.imagefile ? ` (image ${r.imagefile}, common to all)` : ''}`);
  } else {
    const properties: Record<string, Record<string, unknown>> = {
      'opsi-local-image-prepare': { ...SMALL_DISK_PREPARE, os_family: 'linux' },
      // No OS product is installed in the demo, so the image needs a name.
      'opsi-local-image-backup': { imagefile: 'room-demo-baseline' },
    };
    for (const pc of pcs) await setAction(server, pc.id, productId, properties[productId] ?? {});
    line(`${productId} set for ${pcs.map((p) => p.id).join(', ')}`);
  }
  line(`powering on ${pcs.length} PCs: they PXE-boot, grub fetches each PC's own config, the boot image runs the job`);
  const vms: Vm[] = [];
  for (const pc of pcs) vms.push(await bootVm(lab, { name: pc.id, firmware, mac: pc.mac, uuid: pc.uuid, disk: pc.disk }));
  let streamer: NodeJS.Timeout | undefined;
  if (consoles) {
    const seen = vms.map(() => 0);
    streamer = setInterval(() => {
      vms.forEach((vm, i) => {
        const lines = vm.lines();
        for (const l of lines.slice(seen[i])) process.stdout.write(`  ${vm.name.padEnd(5)} | ${l.text}\n`);
        seen[i] = lines.length;
      });
    }, 300);
  }
  try {
    const runs = await Promise.all(pcs.map((pc, i) => waitForJobResult(server, vms[i]!, { clientId: pc.id, productId, ignoreJobIds: before.get(pc.id)!, timeoutMs: 15 * 60_000 })));
    for (const [i, r] of runs.entries()) line(`${pcs[i]!.id}: ${productId} ${r.job.state} after ${r.seconds.toFixed(0)} s${r.job.error ? `: ${r.job.error}` : ''}`);
  } finally {
    if (streamer) clearInterval(streamer);
    await Promise.all(vms.map((vm) => vm.stop()));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '3' },
      firmware: { type: 'string', default: 'uefi' },
      consoles: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      subnet: { type: 'string', default: '10.235.0.0/24' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run demo -- [--count 3] [--firmware uefi|bios] [--consoles] [--keep] [--subnet 10.x.y.0/24]');
    return;
  }
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 8) throw new Error('--count must be 1..8 (each PC is a QEMU machine under emulation)');
  const firmware = values.firmware as VmFirmware;
  if (firmware !== 'uefi' && firmware !== 'bios') throw new Error('--firmware must be uefi or bios');

  let lab: Lab | undefined;
  let stopping = false;
  const shutdown = async (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    line(`${why}: tearing down ${lab?.netns ?? ''}`);
    await lab?.destroy();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('interrupted'));
  process.on('SIGTERM', () => void shutdown('terminated'));

  lab = await createLab({ name: 'demo', subnet: values.subnet });
  const server = await startLabServer(lab, { dhcpMode: 'full' });
  line(`netimage bootserver running in lab ${lab.netns} at ${server.url} (full DHCP, TFTP, HTTP)`);
  await server.call('POST', '/groups', { id: 'room-demo', description: 'demo classroom' });
  const pcs: Pc[] = [];
  for (let i = 1; i <= count; i++) {
    const pc = { id: `pc${String(i).padStart(2, '0')}`, mac: randomMac(), uuid: randomUUID(), disk: await createRawDisk(lab, '8G') };
    await registerClient(server, { id: pc.id, mac: pc.mac, uuid: pc.uuid, group: 'room-demo' });
    pcs.push(pc);
  }
  line(`registered ${pcs.map((p) => `${p.id} (${p.mac})`).join(', ')} in group room-demo`);
  const stopWatching = watchJobs(server, pcs);
  try {
    await step(lab, server, pcs, 'opsi-local-image-prepare', firmware, values.consoles);
    await step(lab, server, pcs, 'opsi-local-image-backup', firmware, values.consoles);
    await step(lab, server, pcs, 'opsi-local-image-restore', firmware, values.consoles, { id: 'room-demo' });
  } finally {
    stopWatching();
  }
  for (const pc of pcs) {
    const states = await productStates(server, pc.id);
    const summary = ['opsi-local-image-prepare', 'opsi-local-image-backup', 'opsi-local-image-restore']
      .map((p) => `${p.replace('opsi-local-image-', '')}=${states[p]?.installationStatus}/${states[p]?.actionResult}`)
      .join(' ');
    line(`${pc.id}: ${summary}`);
  }
  if (values.keep) {
    line('the lab stays up; use the CLI inside it, e.g.:');
    line(`  ip netns exec ${lab.netns} ./netimage --url ${server.url} --token ${server.adminToken} jobs`);
    line('Ctrl-C to tear it down');
    await new Promise(() => undefined);
  }
  await shutdown('demo finished');
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
