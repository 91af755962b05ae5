// Boot image benchmark: sizes (compressed, unpacked) and time from QEMU start to the
// "netimage: agent running" marker, for the netimage image and the busybox-only reference image
// (same kernel, modules, init; a shell script instead of node + agent), built by the same script
// and booted in the same run.
//
//   node bench/bootimage.ts [--runs 3] [--firmware bios|uefi] [--cpus 1] [--compressions zstd19,xz,gzip]
//
// Goal (issue 4): compressed initrd <= 45 MB and agent-running within 1.5x of the reference.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { buildBootImage, type Compression, type Manifest } from '../bootimage/build.ts';
import { directBoot } from '../vm-harness/direct-boot.ts';
import { bootRootDefault, repoRoot } from '../vm-harness/paths.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    firmware: { type: 'string', default: 'bios' },
    compressions: { type: 'string', default: 'zstd19' },
    out: { type: 'string' },
    cpus: { type: 'string', default: '1' },
  },
});
const runs = Number(values.runs);
const firmware = values.firmware === 'uefi' ? 'uefi' : 'bios';
const compressions = (values.compressions ?? 'zstd19').split(',') as Compression[];
const root = values.out ?? bootRootDefault();
const cpus = Number(values.cpus);

const MARKERS = {
  init: /netimage: init started/,
  modules: /netimage: modules loaded/,
  network: /netimage: network up/,
  agent: /netimage: agent running/,
} as const;
type MarkerName = keyof typeof MARKERS;

interface Variant {
  label: string;
  dir: string;
  manifest: Manifest;
}

async function bootOnce(v: Variant, i: number): Promise<Record<MarkerName, number>> {
  const t0 = performance.now();
  // No job: the agent prints its marker, then fails on the missing server (init then waits
  // netimage.reboot_delay); the VM is stopped as soon as the marker is seen.
  const { vm } = await directBoot({ imageDir: v.dir, firmware, name: `bench-${v.label}-${i}`, rebootDelay: 600, memory: 1024, cpus });
  try {
    const at = {} as Record<MarkerName, number>;
    await Promise.all(
      (Object.keys(MARKERS) as MarkerName[]).map((k) =>
        vm.waitFor(MARKERS[k], 300_000).then(() => {
          at[k] = (performance.now() - t0) / 1000;
        }),
      ),
    );
    return at;
  } finally {
    await vm.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const mb = (b: number) => (b / 1e6).toFixed(1);

const variants: Variant[] = [];
const log = (line: string) => process.stdout.write(`  ${line}\n`);
for (const c of compressions) {
  // zstd19 goes where the server serves it; other compressions stay out of the boot root.
  const outDir = c === 'zstd19' ? root : join(repoRoot, 'bootimage/out/bench', c);
  const r = await buildBootImage({ outDir, compression: c, reference: false, force: false, keepIcu: false, log });
  variants.push({ label: `netimage-${c}`, dir: r.dir, manifest: r.manifest });
}
const ref = await buildBootImage({ outDir: root, compression: 'zstd19', reference: true, force: false, keepIcu: false, log });
const reference: Variant = { label: 'reference-zstd19', dir: ref.dir, manifest: ref.manifest };
variants.push(reference);

const results = new Map<string, Record<MarkerName, number>[]>();
// Interleave the variants so host noise hits them alike.
for (let i = 0; i < runs; i++) {
  for (const v of variants) {
    const r = await bootOnce(v, i);
    (results.get(v.label) ?? results.set(v.label, []).get(v.label)!).push(r);
    process.stdout.write(`  run ${i + 1} ${v.label}: agent running at ${r.agent.toFixed(2)} s\n`);
  }
}

const refAgent = median(results.get(reference.label)!.map((r) => r.agent));
console.log(`\nboot image (${firmware}, TCG, ${cpus} vCPU, ${runs} runs, median seconds from QEMU start)`);
console.log('| image | initrd MB (MiB) | unpacked MB (MiB) | kernel MiB | init | modules | network | agent running | vs reference |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const v of variants) {
  const rs = results.get(v.label)!;
  const med = (k: MarkerName) => median(rs.map((r) => r[k]));
  const m = v.manifest;
  console.log(
    `| ${v.label} | ${mb(m.initrd.bytes)} (${mib(m.initrd.bytes)}) | ${mb(m.initrd.uncompressedBytes)} (${mib(m.initrd.uncompressedBytes)}) | ${mib(m.kernel.bytes)} | ` +
      `${med('init').toFixed(2)} | ${med('modules').toFixed(2)} | ${med('network').toFixed(2)} | ${med('agent').toFixed(2)} | ${(med('agent') / refAgent).toFixed(2)}x |`,
  );
}
const main = variants[0]!;
const mainAgent = median(results.get(main.label)!.map((r) => r.agent));
const sizeOk = main.manifest.initrd.bytes <= 45e6;
const timeOk = mainAgent / refAgent <= 1.5;
console.log(
  `\ngoal: initrd ${mb(main.manifest.initrd.bytes)} MB <= 45 MB: ${sizeOk ? 'met' : 'MISSED'}; ` +
    `agent running ${(mainAgent / refAgent).toFixed(2)}x reference <= 1.5x: ${timeOk ? 'met' : 'MISSED'}`,
);
