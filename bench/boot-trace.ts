// One direct boot (QEMU -kernel/-initrd, TCG, 1 vCPU) of the boot image against a real bootserver
// with an hwinvent job, printing every `netimage:` console line with its time since QEMU start and
// the step from the line before: where the seconds between network up and agent running go.
//
//   node bench/boot-trace.ts [--initrd stage1|initrd] [--runs N]
//
// The image is <bootRoot>/netimage (bootRoot = NETIMAGE_BOOT_ROOT, default var/boot); the server
// serves stage 2 from the same boot root.
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { directBoot } from '../vm-harness/direct-boot.ts';
import { bootRootDefault } from '../vm-harness/paths.ts';
import { issueJob, startTestServer } from '../test/helpers/server.ts';

async function traceOnce(initrd: 'stage1' | 'initrd'): Promise<void> {
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': bootRootDefault() } });
  try {
    const tag = randomBytes(3).toString('hex');
    const mac = `52:54:00:7e:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
    const job = await issueJob(ts, { clientId: `trace-${tag}`, mac, productId: 'hwinvent' });
    const load = loadavg()[0]!.toFixed(1);
    const { vm } = await directBoot({
      initrd,
      name: `trace-${tag}`,
      serverPort: ts.server.httpPort,
      job: { id: job.jobId, token: job.token },
      mac,
      disks: [{ size: '1G', serial: `TR${tag}` }],
    });
    try {
      await vm.waitFor(/netimage: agent finished/, 300_000);
      let prev = 0;
      for (const l of vm.lines()) {
        if (!/netimage:|Run \/init/.test(l.text)) continue;
        console.log(`${(l.atMs / 1000).toFixed(2).padStart(7)} s  +${((l.atMs - prev) / 1000).toFixed(2).padStart(5)}  ${l.text.slice(0, 110)}`);
        prev = l.atMs;
      }
      console.log(`(load average at start ${load}, at end ${loadavg()[0]!.toFixed(1)})`);
    } finally {
      await vm.stop();
    }
  } finally {
    await ts.stop();
  }
}

const { values } = parseArgs({
  options: { initrd: { type: 'string', default: 'stage1' }, runs: { type: 'string', default: '1' } },
});
if (values.initrd !== 'stage1' && values.initrd !== 'initrd') throw new Error(`--initrd must be stage1 or initrd, not ${values.initrd}`);
for (let r = 0; r < Number(values.runs); r++) await traceOnce(values.initrd);
