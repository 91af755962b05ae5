// Boot timeline: power-on → grub → grub.cfg → kernel → init → network up → agent running, per firmware and per
// boot chain, measured on the VM's serial console (ms since QEMU start), medians over --runs.
//
//   node bench/boot.ts [--runs 3] [--firmware uefi,uefi-secureboot,bios] [--chains reference,netimage[,netimage-b]]
//   (NETIMAGE_BENCH_CONSOLE=1 also prints each boot's netimage: console lines with their times;
//    NETIMAGE_BENCH_PCAP=DIR writes each boot's lab traffic to DIR/<n>-<firmware>-<chain>.pcap, headers only)
//
// The reference chain is plain dnsmasq (DHCP + TFTP) serving the boot root's loaders and the boot
// image (netimage/kernel, netimage/initrd) with a static grub.cfg. Other chains (our bootserver)
// plug in through `BootChain` below; with more than one chain the table shows ratios against the
// reference measured in the same run. Runs alternate between chains to spread host noise.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createLab, type Lab } from '../vm-harness/netns.ts';
import { startReferenceChain } from '../vm-harness/reference-chain.ts';
import { startLabVm } from '../vm-harness/lab-vm.ts';
import { bootRootDefault } from '../vm-harness/paths.ts';
import type { VmFirmware, Vm } from '../vm-harness/qemu.ts';
import { startLabServer } from '../vm-harness/lab-server.ts';
import { registerClient, setAction } from '../vm-harness/classroom.ts';

/** One way of serving the PXE chain into a lab. `prepare` runs before the VM is powered on. */
export interface BootChain {
  name: string;
  prepare(lab: Lab, vm: { mac: string; uuid: string; firmware: VmFirmware }): Promise<{ stop(): Promise<void> }>;
}

interface Phase {
  name: string;
  marker: RegExp;
}

// Markers every chain produces: grub's banner, the kernel's first line, the boot image's init.
// "grub.cfg" is the reference config's own echo; a chain whose config does not print it shows "–".
const PHASES: Phase[] = [
  { name: 'grub', marker: /Welcome to GRUB!/ },
  // The reference config echoes NI-GRUB-CFG; ours announces the per-client config request.
  { name: 'grub.cfg', marker: /^NI-GRUB-CFG$|netimage: asking for the config/ },
  { name: 'kernel', marker: /Linux version \d/ },
  { name: 'init', marker: /netimage: init started/ },
  { name: 'network', marker: /netimage: network up/ },
  // Two stages only (the single initrd prints none): stage 2 downloaded, hashed, then root.
  { name: 's2 downloaded', marker: /netimage: stage 2 downloaded/ },
  { name: 's2 verified', marker: /netimage: stage 2 verified/ },
  { name: 's2 root', marker: /netimage: stage 2 mounted/ },
  { name: 'agent', marker: /netimage: agent running/ },
];
const LAST = PHASES[PHASES.length - 1]!;

const bootRoot = bootRootDefault();

function referenceGrubCfg(mac: string): string {
  // loglevel=6 prints the kernel's "Linux version" line (KERN_NOTICE) without flooding the
  // serial console, which costs real time under TCG.
  return [
    'serial --unit=0 --speed=115200',
    'terminal_input serial',
    'terminal_output serial',
    'echo NI-GRUB-CFG',
    `linux /netimage/kernel console=ttyS0,115200 loglevel=6 netimage.mac=${mac} netimage.reboot_delay=600`,
    'initrd /netimage/initrd',
    'boot',
    '',
  ].join('\n');
}

const referenceChain: BootChain = {
  name: 'reference (dnsmasq)',
  async prepare(lab, vm) {
    const chain = await startReferenceChain(lab, {
      bootRoot,
      grubCfg: referenceGrubCfg(vm.mac),
      files: {
        'netimage/kernel': { from: join(bootRoot, 'netimage/kernel') },
        'netimage/initrd': { from: join(bootRoot, 'netimage/initrd') },
      },
    });
    return chain;
  },
};

// Our whole bootserver (full DHCP, TFTP, HTTP) in the lab: the client is registered with hwinvent
// pending, so grub asks the server for its config and the job's kernel command line. The kernel
// log level matches the reference's, so the serial console costs both the same.
const netimageChain: BootChain = {
  name: 'netimage',
  async prepare(lab, vm) {
    const server = await startLabServer(lab, { dhcpMode: 'full', env: { NETIMAGE_BOOT_EXTRA_KERNEL_ARGS: 'loglevel=6 netimage.reboot_delay=600' } });
    await registerClient(server, { id: 'bench-pc', mac: vm.mac, uuid: vm.uuid });
    await setAction(server, 'bench-pc', 'hwinvent');
    return server;
  },
};

// The same server with another boot root (NETIMAGE_BENCH_B_BOOT_ROOT, e.g. a copy of main's
// var/boot): an interleaved PXE A/B of two boot images in one run (`--chains netimage-b,netimage`).
const netimageBChain: BootChain = {
  name: 'netimage-b',
  async prepare(lab, vm) {
    const bootRootB = process.env['NETIMAGE_BENCH_B_BOOT_ROOT'];
    if (!bootRootB) throw new Error('chain netimage-b needs NETIMAGE_BENCH_B_BOOT_ROOT (a boot root with netimage/)');
    const server = await startLabServer(lab, { dhcpMode: 'full', bootRoot: bootRootB, env: { NETIMAGE_BOOT_EXTRA_KERNEL_ARGS: 'loglevel=6 netimage.reboot_delay=600' } });
    await registerClient(server, { id: 'bench-pc', mac: vm.mac, uuid: vm.uuid });
    await setAction(server, 'bench-pc', 'hwinvent');
    return server;
  },
};

const CHAINS: Record<string, BootChain> = { reference: referenceChain, netimage: netimageChain, 'netimage-b': netimageBChain };

async function bootOnce(chain: BootChain, firmware: VmFirmware, index: number): Promise<Record<string, number | undefined>> {
  const lab = await createLab({ name: `bench${index}`, subnet: `10.233.${index % 250}.0/24` });
  try {
    const mac = `52:54:00:be:${(index >> 8).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
    const uuid = crypto.randomUUID();
    // A capture of the lab bridge shows each TFTP/HTTP request and its timing (what grub asks for
    // before `linux`). Headers only (-s 96) so it costs the host little beside the boot.
    const pcapDir = process.env['NETIMAGE_BENCH_PCAP'];
    if (pcapDir) {
      const pcap = join(pcapDir, `${index}-${firmware}-${chain.name.split(' ')[0]}.pcap`);
      lab.spawn('tcpdump', ['-i', 'br0', '-s', '96', '-U', '-w', pcap], { reject: false });
      await new Promise((r) => setTimeout(r, 500));
    }
    await chain.prepare(lab, { mac, uuid, firmware });
    const vm: Vm = await startLabVm(lab, { name: `bench-${firmware}`, firmware, mac, uuid, memory: 1024 });
    await vm.waitFor(LAST.marker, 180_000);
    const times: Record<string, number | undefined> = {};
    for (const p of PHASES) times[p.name] = vm.lines().find((l) => p.marker.test(l.text))?.atMs;
    // NETIMAGE_BENCH_CONSOLE=1: the boot image's console lines up to the agent, with their times.
    if (process.env['NETIMAGE_BENCH_CONSOLE'] === '1') {
      for (const l of vm.lines()) if (/netimage:/.test(l.text)) process.stderr.write(`  ${(l.atMs / 1000).toFixed(2).padStart(6)} ${l.text.slice(0, 120)}\n`);
    }
    return times;
  } finally {
    await lab.destroy();
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

const fmt = (ms: number | undefined) => (ms === undefined ? '–' : (ms / 1000).toFixed(1));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      firmware: { type: 'string', default: 'uefi,uefi-secureboot,bios' },
      chains: { type: 'string', default: 'reference,netimage' },
    },
  });
  const runs = Number(values.runs);
  const firmwares = values.firmware.split(',') as VmFirmware[];
  const chains = values.chains.split(',').map((n) => {
    const c = CHAINS[n];
    if (!c) throw new Error(`unknown chain ${n} (known: ${Object.keys(CHAINS).join(', ')})`);
    return c;
  });
  for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/i386-pc/core.0', 'netimage/kernel', 'netimage/initrd']) {
    if (!existsSync(join(bootRoot, f))) throw new Error(`${join(bootRoot, f)} missing: run bash run.sh setup (and the boot image build)`);
  }
  // results[firmware][chain][phase] = list of ms
  const results = new Map<string, Map<string, Map<string, number[]>>>();
  let index = 1;
  for (const firmware of firmwares) {
    for (let r = 0; r < runs; r++) {
      for (const chain of chains) {
        const times = await bootOnce(chain, firmware, index++);
        process.stderr.write(`${firmware} ${chain.name} run ${r + 1}: ${PHASES.map((p) => `${p.name} ${fmt(times[p.name])}`).join(', ')} (load ${loadavg()[0]!.toFixed(1)})\n`);
        const byChain = results.get(firmware) ?? new Map<string, Map<string, number[]>>();
        results.set(firmware, byChain);
        const byPhase = byChain.get(chain.name) ?? new Map<string, number[]>();
        byChain.set(chain.name, byPhase);
        for (const p of PHASES) {
          const t = times[p.name];
          if (t !== undefined) byPhase.set(p.name, [...(byPhase.get(p.name) ?? []), t]);
        }
      }
    }
  }
  const reference = chains[0]!.name;
  console.log(`\nBoot timeline, seconds from QEMU start (TCG, 1 vCPU, CPU ${process.env['NETIMAGE_VM_CPU'] ?? 'qemu64: no RDRAND'}), median of ${runs}; initrd ${(await import('node:fs')).statSync(join(bootRoot, 'netimage/initrd')).size >> 20} MiB over TFTP`);
  console.log(`| firmware | chain | ${PHASES.map((p) => p.name).join(' | ')} | vs ${reference} (${LAST.name}) |`);
  console.log(`|---|---|${PHASES.map(() => '---|').join('')}---|`);
  for (const [firmware, byChain] of results) {
    const refLast = median(byChain.get(reference)?.get(LAST.name) ?? []);
    for (const [name, byPhase] of byChain) {
      const last = median(byPhase.get(LAST.name) ?? []);
      const ratio = refLast && last ? (last / refLast).toFixed(2) + '×' : '–';
      console.log(`| ${firmware} | ${name} | ${PHASES.map((p) => fmt(median(byPhase.get(p.name) ?? []))).join(' | ')} | ${ratio} |`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
