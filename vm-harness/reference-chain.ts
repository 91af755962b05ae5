// The reference PXE chain: plain dnsmasq (DHCP + TFTP) inside a lab, serving the loaders from the
// boot root and a static grub.cfg. It proves loaders + harness work without our server, and it is
// the baseline bench/boot.ts compares our server against.
import { rmSync } from 'node:fs';
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLabDnsmasq } from './child-output.ts';
import { bootRootDefault } from './paths.ts';
import type { Lab } from './netns.ts';
import { onProcessExit } from './cleanup.ts';

export interface ReferenceChainOptions {
  /** Where the loaders are (default: NETIMAGE_BOOT_ROOT or <repo>/var/boot). */
  bootRoot?: string;
  /** Content of grub/grub.cfg served to every client. */
  grubCfg: string;
  /** More files for the TFTP root: relative path → content, or { from: absolute path } to copy. */
  files?: Record<string, string | Buffer | { from: string }>;
  /** First and last host number of the DHCP pool (default 100..199). */
  pool?: [number, number];
}

export interface LogLine {
  /** ms since the chain was started. */
  atMs: number;
  text: string;
}

export interface ReferenceChain {
  readonly tftpRoot: string;
  readonly startedAt: number;
  /** dnsmasq's log (DHCP exchanges with --log-dhcp, TFTP "sent" lines). */
  log(): LogLine[];
  stop(): Promise<void>;
}

/** dnsmasq arguments for the reference chain (pure). */
export function dnsmasqArgs(o: { serverIp: string; poolStart: string; poolEnd: string; tftpRoot: string; leaseFile: string }): string[] {
  return [
    '--keep-in-foreground',
    '--log-facility=-',
    '--conf-file=/dev/null',
    '--port=0', // no DNS
    '--interface=br0',
    '--bind-interfaces',
    '--user=root', // the TFTP root is a private temp dir
    '--pid-file=',
    `--dhcp-leasefile=${o.leaseFile}`,
    `--dhcp-range=${o.poolStart},${o.poolEnd},255.255.255.0,1h`,
    '--dhcp-authoritative',
    '--no-ping', // dnsmasq would otherwise ping each new address first: ~3 s per boot
    '--log-dhcp',
    '--enable-tftp',
    `--tftp-root=${o.tftpRoot}`,
    // Architectures as the firmware sends them in option 93 (shared/notes/pxe-chain.md).
    '--dhcp-match=set:efi64,option:client-arch,7',
    '--dhcp-match=set:efi64,option:client-arch,9',
    '--dhcp-boot=tag:efi64,shimx64.efi',
    '--dhcp-boot=tag:!efi64,grub/i386-pc/core.0',
  ];
}

export async function startReferenceChain(lab: Lab, options: ReferenceChainOptions): Promise<ReferenceChain> {
  const bootRoot = options.bootRoot ?? bootRootDefault();
  const dir = await mkdtemp(join(tmpdir(), `netimage-refchain-p${process.pid}-`));
  const tftpRoot = join(dir, 'tftp');
  try {
    await mkdir(join(tftpRoot, 'grub'), { recursive: true });
    for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/x86_64-efi', 'grub/i386-pc']) {
      await cp(join(bootRoot, f), join(tftpRoot, f), { recursive: true });
    }
    await writeFile(join(tftpRoot, 'grub/grub.cfg'), options.grubCfg);
    for (const [rel, content] of Object.entries(options.files ?? {})) {
      const target = join(tftpRoot, rel);
      await mkdir(dirname(target), { recursive: true });
      if (typeof content === 'object' && !Buffer.isBuffer(content)) await cp(content.from, target);
      else await writeFile(target, content);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`reference chain: cannot prepare TFTP root from ${bootRoot} (run: bash run.sh setup)`, { cause: error });
  }
  const unregister = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const [first, last] = options.pool ?? [100, 199];
  const startedAt = performance.now();
  // dnsmasq logs "started" before it serves; fail fast if it exits instead.
  const { output, stop } = await startLabDnsmasq(lab, {
    dir,
    args: dnsmasqArgs({ serverIp: lab.serverIp, poolStart: lab.address(first), poolEnd: lab.address(last), tftpRoot, leaseFile: join(dir, 'leases') }),
    ready: /started, version|TFTP root is/,
    what: 'dnsmasq',
    startedAt,
    onStopped: unregister,
  });
  return { tftpRoot, startedAt, log: () => output.lines(), stop };
}
