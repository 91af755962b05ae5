// One direct boot (QEMU -kernel/-initrd, TCG, 1 vCPU) of the boot image against a real bootserver
// with an hwinvent job, printing every `netimage:` console line with its time since QEMU start and
// the step from the line before: where the seconds between network up and agent running go.
//
//   node bench/boot-trace.ts [--initrd stage1|initrd] [--runs N] [--append 'k=v ...'] [--all]
//
// --all prints every console line up to the agent, not only the `netimage:` ones (with
// --append printk.time=1: where the kernel spends kernel → init).
//
// --append adds kernel arguments (e.g. netimage.snapshot=0: the agent's ES module bundle instead
// of its startup snapshot); with several comma-separated --append values the runs alternate
// between them (an interleaved A/B in one image). Each run ends with a summary line.
//
// The image is <bootRoot>/netimage (bootRoot = NETIMAGE_BOOT_ROOT, default var/boot); the server
// serves stage 2 from the same boot root.
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { directBoot } from '../vm-harness/direct-boot.ts';
import { bootRootDefault } from '../vm-harness/paths.ts';
import { issueJob, startTestServer } from '../test/helpers/server.ts';

async function traceOnce(initrd: 'stage1' | 'initrd', append: string, all: boolean): Promise<void> {
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
      ...(append ? { append } : {}),
    });
    try {
      await vm.waitFor(/netimage: agent finished/, 300_000);
      let prev = 0;
      for (const l of vm.lines()) {
        if (!all && !/netimage:|Run \/init/.test(l.text)) continue;
        console.log(`${(l.atMs / 1000).toFixed(2).padStart(7)} s  +${((l.atMs - prev) / 1000).toFixed(2).padStart(5)}  ${l.text.slice(0, 110)}`);
        prev = l.atMs;
      }
      const at = (re: RegExp): number | undefined => vm.lines().find((l) => re.test(l.text))?.atMs;
      const net = at(/netimage: network up/);
      const root = at(/netimage: stage 2 mounted/);
      const agent = at(/netimage: agent running/);
      const s = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / 1000).toFixed(2));
      const d = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : ((b - a) / 1000).toFixed(2));
      const startup = vm.lines().find((l) => /netimage: agent running/.test(l.text))?.text.match(/\((.*)\)/)?.[1] ?? '';
      console.log(
        `summary [${append || 'default'}]: network ${s(net)}, s2 root ${s(root)}, agent ${s(agent)}; s2 root -> agent ${d(root, agent)} s, network -> agent ${d(net, agent)} s (${startup}); load ${load} -> ${loadavg()[0]!.toFixed(1)}`,
      );
    } finally {
      await vm.stop();
    }
  } finally {
    await ts.stop();
  }
}

const { values } = parseArgs({
  options: { initrd: { type: 'string', default: 'stage1' }, runs: { type: 'string', default: '1' }, append: { type: 'string', default: '' }, all: { type: 'boolean', default: false } },
});
if (values.initrd !== 'stage1' && values.initrd !== 'initrd') throw new Error(`--initrd must be stage1 or initrd, not ${values.initrd}`);
const appends = values.append.split(',');
for (let r = 0; r < Number(values.runs); r++) for (const a of appends) await traceOnce(values.initrd, a.trim(), values.all);
