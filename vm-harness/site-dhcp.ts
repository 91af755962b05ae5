// The site's DHCP server for proxyDHCP scenarios: plain dnsmasq in the lab handing out addresses
// only (no boot file, no next-server, no TFTP), the way a school's router does. Our server in
// proxy mode adds the PXE part beside it.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLabDnsmasq } from './child-output.ts';
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
  const { output, stop } = await startLabDnsmasq(lab, {
    dir,
    args: siteDhcpArgs({ poolStart: lab.address(first), poolEnd: lab.address(last), leaseFile: join(dir, 'leases') }),
    ready: /DHCP, IP range/,
    what: 'site dnsmasq',
    onStopped: unregister,
  });
  return { log: () => output.texts(), stop };
}
