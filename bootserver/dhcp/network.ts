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
 * The addresses that place a request on a network: the relay (giaddr) or else the source, plus
 * ciaddr; the requested address only when there is nothing else. Empty for a fresh broadcast
 * (source 0.0.0.0, no relay, no address yet): such a request cannot be placed and is accepted.
 * Every address returned must be on a served network, so a reply (which goes to one of them)
 * never leaves the served networks.
 */
export function networkHints(p: DhcpPacket, sourceAddress: string): string[] {
  const usable = (ip: string | undefined): ip is string => ip !== undefined && ip !== '0.0.0.0' && ip !== '255.255.255.255';
  const hints = [p.giaddr !== '0.0.0.0' ? p.giaddr : sourceAddress, p.ciaddr].filter(usable);
  if (hints.length > 0) return hints;
  const requested = requestedIp(p);
  return usable(requested) ? [requested] : [];
}

export type NetworkFilter = (p: DhcpPacket, sourceAddress: string) => { ok: true } | { ok: false; why: string };

/** A filter that accepts a request when all its network hints lie in `networks()` (or it has none). */
export function makeNetworkFilter(networks: (() => Network[]) | undefined): NetworkFilter {
  if (!networks) return () => ({ ok: true });
  return (p, sourceAddress) => {
    const nets = networks();
    for (const hint of networkHints(p, sourceAddress)) {
      if (!nets.some((net) => contains(net, hint))) return { ok: false, why: `request from ${hint} is not on a served network` };
    }
    return { ok: true };
  };
}
