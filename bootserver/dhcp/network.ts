// Which requests are ours. A Node socket cannot tell which interface a broadcast arrived on (no
// IP_PKTINFO), and the server binds 0.0.0.0 to see broadcasts at all, so the network of a request
// is inferred from its addresses: relay (giaddr), source, ciaddr, requested address.
import { networkInterfaces } from 'node:os';
import { ipToNumber, requestedIp, type DhcpPacket } from './codec.ts';

export interface Network {
  base: number;
  mask: number;
}

export function parseCidr(cidr: string): Network | undefined {
  const [ip, bits] = cidr.split('/');
  const base = ip === undefined ? undefined : ipToNumber(ip);
  const n = Number(bits);
  if (base === undefined || !Number.isInteger(n) || n < 0 || n > 32) return undefined;
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return { base: (base & mask) >>> 0, mask };
}

export function networkOf(ip: string, mask: string): Network | undefined {
  const a = ipToNumber(ip);
  const m = ipToNumber(mask);
  return a === undefined || m === undefined ? undefined : { base: (a & m) >>> 0, mask: m };
}

export function contains(net: Network, ip: string): boolean {
  const a = ipToNumber(ip);
  return a !== undefined && ((a & net.mask) >>> 0) === net.base;
}

/** IPv4 networks of a named interface, now. Empty if it does not exist (yet). */
export function interfaceNetworks(name: string): Network[] {
  const out: Network[] = [];
  for (const addr of networkInterfaces()[name] ?? []) {
    if (addr.family !== 'IPv4' || !addr.cidr) continue;
    const net = parseCidr(addr.cidr);
    if (net) out.push(net);
  }
  return out;
}

/**
 * The first address that places the request on a network, or undefined for a fresh broadcast
 * (source 0.0.0.0, no relay, no address yet): such a request cannot be placed and is accepted.
 */
export function networkHint(p: DhcpPacket, sourceAddress: string): string | undefined {
  for (const candidate of [p.giaddr, sourceAddress, p.ciaddr, requestedIp(p)]) {
    if (candidate && candidate !== '0.0.0.0' && candidate !== '255.255.255.255') return candidate;
  }
  return undefined;
}

export type NetworkFilter = (p: DhcpPacket, sourceAddress: string) => { ok: true } | { ok: false; why: string };

/** A filter that accepts a request when its network hint lies in one of `networks()` (or is absent). */
export function makeNetworkFilter(networks: (() => Network[]) | undefined): NetworkFilter {
  if (!networks) return () => ({ ok: true });
  return (p, sourceAddress) => {
    const hint = networkHint(p, sourceAddress);
    if (hint === undefined) return { ok: true };
    const ok = networks().some((net) => contains(net, hint));
    return ok ? { ok: true } : { ok: false, why: `request from ${hint} is not on a served network` };
  };
}
