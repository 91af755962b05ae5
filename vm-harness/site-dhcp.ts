// The site's DHCP server for proxyDHCP scenarios: plain dnsmasq in the lab handing out addresses
// only (no boot file, no next-server, no TFTP), the way a school's router does. Our server in
// proxy mode adds the PXE part beside it.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitLines } from '../lib/process.ts';
import { onProcessExit } from './cleanup.ts';
import type { Lab } from './netns.ts';

export interface SiteDhcp {
  /** dnsmasq's log lines (with --log-dhcp). */
  log(): string[];
  stop(): Promise<void>;
}

/** dnsmasq arguments for an addresses-only DHCP server on br0 (pure). */
export function siteDhcpArgs(o: { poolStart: string; poolEnd: string; leaseFile: string }): string[] {
  return [
    '--keep-in-foreground',
    '--log-facility=-',
    '--conf-file=/dev/null',
    '--port=0', // no DNS
    '--interface=br0',
    '--bind-interfaces',
    '--pid-file=',
    `--dhcp-leasefile=${o.leaseFile}`,
    `--dhcp-range=${o.poolStart},${o.poolEnd},255.255.255.0,1h`,
    '--dhcp-authoritative',
    '--no-ping', // otherwise ~3 s per new address
    '--log-dhcp',
  ];
}

export async function startSiteDhcp(lab: Lab, options: { pool?: [number, number] } = {}): Promise<SiteDhcp> {
  const dir = await mkdtemp(join(tmpdir(), `netimage-sitedhcp-p${process.pid}-`));
  const unregister = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const [first, last] = options.pool ?? [100, 199];
  const lines: string[] = [];
  const child = lab.spawn('dnsmasq', siteDhcpArgs({ poolStart: lab.address(first), poolEnd: lab.address(last), leaseFile: join(dir, 'leases') }), {
    buffer: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const collect = async (stream: AsyncIterable<Buffer> | null | undefined) => {
    if (!stream) return;
    for await (const text of splitLines(stream)) lines.push(text);
  };
  void collect(child.stdout as AsyncIterable<Buffer> | null);
  void collect(child.stderr as AsyncIterable<Buffer> | null);
  let exited = false;
  void Promise.resolve(child).then(() => (exited = true));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    await child;
    await rm(dir, { recursive: true, force: true });
    unregister();
  };
  lab.defer(stop);
  const deadline = Date.now() + 5000;
  while (!lines.some((l) => /DHCP, IP range/.test(l))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`site dnsmasq did not start: ${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { log: () => [...lines], stop };
}
