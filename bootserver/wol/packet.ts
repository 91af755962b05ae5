// Wake-on-LAN magic packets and where to send them. Pure: no sockets here (sender.ts sends).
// A magic packet is 6 bytes of 0xFF followed by the target MAC 16 times (AMD's Magic Packet
// white paper); NICs match it anywhere in a frame, so a UDP datagram to the subnet's broadcast
// reaches a sleeping PC whose switch no longer knows its port.
import type { NetworkInterfaceInfo } from 'node:os';

export const MAGIC_PACKET_BYTES = 102;

const MAC = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

export function macBytes(mac: string): Buffer {
  const m = MAC.exec(mac.trim());
  if (!m) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

export function magicPacket(mac: string): Buffer {
  const target = macBytes(mac);
  const packet = Buffer.alloc(MAGIC_PACKET_BYTES, 0xff);
  for (let i = 0; i < 16; i++) target.copy(packet, 6 + i * 6);
  return packet;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
}

/** 10.1.101.7 with 255.255.255.0 -> 10.1.101.255: every host bit set. */
export function directedBroadcast(address: string, netmask: string): string {
  const mask = ipToInt(netmask);
  return intToIp((ipToInt(address) & mask) | (~mask >>> 0));
}

/** The server's default wake target, or why there is none (said when a wake needs it). */
export type DefaultWakeTarget = { broadcast: string; problem: null } | { broadcast: null; problem: string };

const SET_IT = "set wake.broadcast to the PCs' subnet broadcast (e.g. 10.1.101.255), or give each group its own (netimage group wake-target <group> <broadcast>)";

/**
 * The default wake target: the directed broadcast of the interface that holds the server's
 * advertised address (the network the PCs boot from); with no advertised address, of the first
 * non-internal IPv4 interface. An advertised address on none of the interfaces (NAT, a typo, a
 * moved server) gives none: another interface's broadcast would reach another network, and the
 * wake would "work" while waking nobody.
 */
export function defaultWakeTarget(serverIp: string | null, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): DefaultWakeTarget {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => a.family === 'IPv4' && !a.internal);
  if (serverIp) {
    const own = all.find((a) => a.address === serverIp);
    if (own) return { broadcast: directedBroadcast(own.address, own.netmask), problem: null };
    if (all.length) {
      const held = all.map((a) => `${a.address}/${prefixLength(a.netmask)}`).join(', ');
      return { broadcast: null, problem: `advertisedIp ${serverIp} is on none of this server's interfaces (${held}), so the PCs' network is not known: ${SET_IT}` };
    }
  }
  const first = all[0];
  if (first) return { broadcast: directedBroadcast(first.address, first.netmask), problem: null };
  return { broadcast: null, problem: `this server has no IPv4 network interface besides loopback: ${SET_IT}` };
}

function prefixLength(netmask: string): number {
  return ipToInt(netmask).toString(2).replace(/0/g, '').length;
}
