// What to answer to one DHCP message: proxyDHCP (boot fields only, never an address) or full DHCP
// (address pool plus boot fields). No sockets: the server feeds packets in and sends what comes out.
import {
  MessageType,
  Opt,
  clientIdHex,
  encode,
  hostname,
  macOf,
  messageType,
  replyTo,
  requestedIp,
  serverId,
  type DhcpPacket,
  type MessageTypeName,
} from './codec.ts';
import { fullRangeOf, type DhcpConfig, type DhcpFullRange } from './config.ts';
import { networkOf, contains, type NetworkFilter } from './network.ts';
import { applyBootFields, chooseLoader, type BootSettings } from './pxe.ts';
import type { AddressPool } from './pool.ts';

/** Which socket a packet came in on: the DHCP port (67) or the PXE boot-server port (4011). */
export type Via = 'dhcp' | 'pxe';

export interface Source {
  address: string;
  port: number;
}

export type Outcome =
  | { kind: 'reply'; packet: DhcpPacket; to: Source; type: MessageTypeName; why: string }
  | { kind: 'ignore'; why: string; bootRefused?: true };

export interface ResponderOptions {
  config: DhcpConfig;
  filter: NetworkFilter;
  /** Present in full mode only. */
  pool: AddressPool | undefined;
}

/**
 * No answer for a request that chooseLoader declined. `bootRefused` when it came from network-boot
 * firmware (an unsupported architecture, UEFI HTTP boot): the server logs those at info, since an
 * admin whose PC does not boot needs that line; other ignored traffic is logged at debug only.
 */
function refusal(boot: { client: unknown; why: string }): Outcome {
  return boot.client ? { kind: 'ignore', why: boot.why, bootRefused: true } : { kind: 'ignore', why: boot.why };
}

const BROADCAST = '255.255.255.255';
const ZERO = '0.0.0.0';

export class DhcpResponder {
  readonly #config: DhcpConfig;
  readonly #filter: NetworkFilter;
  readonly #pool: AddressPool | undefined;
  readonly #boot: BootSettings;
  readonly #range: DhcpFullRange | null;

  constructor(options: ResponderOptions) {
    this.#config = options.config;
    this.#filter = options.filter;
    this.#pool = options.pool;
    this.#range = fullRangeOf(options.config);
    this.#boot = { serverIp: options.config.serverIp, ipxeScriptUrl: options.config.ipxeScriptUrl };
  }

  handle(p: DhcpPacket, via: Via, source: Source): Outcome {
    if (p.op !== 1) return { kind: 'ignore', why: 'not a BOOTREQUEST' };
    const type = messageType(p);
    if (!type) return { kind: 'ignore', why: 'plain BOOTP (no DHCP message type)' };
    const placed = this.#filter(p, source.address);
    if (!placed.ok) return { kind: 'ignore', why: placed.why };
    const sid = serverId(p);
    if (sid !== undefined && sid !== this.#config.serverIp && type !== 'discover') {
      // The client is talking to another server; in full mode drop what we offered it.
      this.#pool?.dropOffer(clientKeyOf(p));
      return { kind: 'ignore', why: `${type} for server ${sid}` };
    }
    if (via === 'pxe') return this.#pxePort(p, type, source);
    if (this.#config.mode === 'full' && this.#pool) return this.#full(p, type, source, this.#pool);
    return this.#proxy(p, type);
  }

  /** Port 4011: PXE boot-server requests, unicast from a client that already has an address. */
  #pxePort(p: DhcpPacket, type: MessageTypeName, source: Source): Outcome {
    if (type !== 'request' && type !== 'inform') return { kind: 'ignore', why: `${type} on the PXE port` };
    const boot = chooseLoader(p, this.#boot);
    if (!boot.ok) return refusal(boot);
    const reply = this.#reply(p, 'ack');
    reply.ciaddr = p.ciaddr;
    applyBootFields(reply, p, boot, this.#boot);
    return { kind: 'reply', packet: reply, to: { address: source.address, port: source.port }, type: 'ack', why: boot.why };
  }

  /**
   * proxyDHCP on port 67: OFFERs with boot fields to PXE/HTTP firmware, never an address. REQUESTs
   * on 67 belong to the site's DHCP server, even when they name our address: it may run on this
   * very host, and an ACK from us (without an address) racing its ACK breaks the client's boot.
   */
  #proxy(p: DhcpPacket, type: MessageTypeName): Outcome {
    if (type !== 'discover') return { kind: 'ignore', why: `proxy mode answers only DISCOVER on the DHCP port, not ${type}` };
    const boot = chooseLoader(p, this.#boot);
    if (!boot.ok) return refusal(boot);
    const reply = this.#reply(p, 'offer');
    applyBootFields(reply, p, boot, this.#boot);
    return { kind: 'reply', packet: reply, to: this.#destination(p, false), type: 'offer', why: `proxy ${boot.why}` };
  }

  #full(p: DhcpPacket, type: MessageTypeName, source: Source, pool: AddressPool): Outcome {
    const key = clientKeyOf(p);
    const mac = macOf(p);
    if (p.hlen === 0 && !clientIdHex(p)) return { kind: 'ignore', why: 'no client identity (no chaddr, no option 61)' };
    switch (type) {
      case 'discover': {
        const ip = pool.offer(key, requestedIp(p));
        if (!ip) return { kind: 'ignore', why: 'address pool exhausted' };
        const reply = this.#addressReply(p, 'offer', ip, pool);
        return { kind: 'reply', packet: reply, to: this.#destination(p, false), type: 'offer', why: `offer ${ip} to ${mac}` };
      }
      case 'request':
        return this.#fullRequest(p, key, mac, pool);
      case 'decline': {
        const ip = requestedIp(p);
        if (!ip || serverId(p) === undefined) return { kind: 'ignore', why: 'decline without requested address or server id' };
        const done = pool.decline(key, mac, ip);
        return { kind: 'ignore', why: done ? `decline: ${ip} marked in use` : `decline of ${ip} not applicable` };
      }
      case 'release': {
        const done = pool.release(key, p.ciaddr);
        return { kind: 'ignore', why: done ? `release of ${p.ciaddr} by ${mac}` : `release of ${p.ciaddr} by non-holder ${mac} ignored` };
      }
      case 'inform': {
        // RFC 2131 3.4: configuration only; no yiaddr, no lease time.
        const reply = this.#reply(p, 'ack');
        reply.ciaddr = p.ciaddr;
        this.#networkOptions(reply);
        this.#bootFieldsIfPxe(p, reply);
        const address = p.ciaddr !== ZERO ? p.ciaddr : source.address;
        const to = p.giaddr !== ZERO ? { address: p.giaddr, port: this.#config.port } : { address, port: this.#config.clientPort };
        return { kind: 'reply', packet: reply, to, type: 'ack', why: `inform from ${address}` };
      }
      default:
        return { kind: 'ignore', why: `${type} is not a client message` };
    }
  }

  #fullRequest(p: DhcpPacket, key: string, mac: string, pool: AddressPool): Outcome {
    const sid = serverId(p);
    const requested = requestedIp(p);
    const renewing = p.ciaddr !== ZERO;
    const ip = sid !== undefined || !renewing ? requested : p.ciaddr;
    if (!ip) return { kind: 'ignore', why: 'request without requested address or ciaddr' };
    if (sid === undefined && !pool.inRange(ip)) {
      // INIT-REBOOT/RENEW for an address we do not manage: outside our subnet the client is on the
      // wrong network (NAK); inside it but outside the pool it may belong to a static host (silent).
      const net = networkOf(this.#range!.rangeStart, this.#range!.subnetMask);
      if (net && !contains(net, ip)) return this.#nak(p, `${ip} is not on our network`);
      return { kind: 'ignore', why: `${ip} is outside the pool` };
    }
    // check() rules out other clients' leases, offers and declined addresses; a free address the
    // client asks for by itself (e.g. after our restart lost the offer) is granted.
    const check = pool.check(key, ip);
    if (!check.ok) return this.#nak(p, check.why);
    const lease = pool.bind(key, mac, hostname(p) ?? null, ip);
    const reply = this.#addressReply(p, 'ack', lease.ip, pool);
    reply.ciaddr = p.ciaddr;
    return { kind: 'reply', packet: reply, to: this.#destination(p, false), type: 'ack', why: `ack ${ip} to ${mac}` };
  }

  #nak(p: DhcpPacket, why: string): Outcome {
    const reply = this.#reply(p, 'nak');
    reply.options.set(Opt.message, encode.text(why.slice(0, 200)));
    // RFC 2131 4.3.2: NAKs are broadcast unless relayed.
    return { kind: 'reply', packet: reply, to: this.#destination(p, true), type: 'nak', why };
  }

  #reply(p: DhcpPacket, type: 'offer' | 'ack' | 'nak'): DhcpPacket {
    const reply = replyTo(p);
    reply.options.set(Opt.messageType, encode.u8(MessageType[type]));
    reply.options.set(Opt.serverId, encode.ip(this.#config.serverIp));
    return reply;
  }

  #addressReply(p: DhcpPacket, type: 'offer' | 'ack', ip: string, pool: AddressPool): DhcpPacket {
    const reply = this.#reply(p, type);
    reply.yiaddr = ip;
    const lease = pool.leaseSeconds;
    reply.options.set(Opt.leaseTime, encode.u32(lease));
    reply.options.set(Opt.renewalTime, encode.u32(Math.floor(lease / 2)));
    reply.options.set(Opt.rebindingTime, encode.u32(Math.floor((lease * 7) / 8)));
    this.#networkOptions(reply);
    this.#bootFieldsIfPxe(p, reply);
    return reply;
  }

  #networkOptions(reply: DhcpPacket): void {
    const full = this.#range;
    if (!full) return;
    reply.options.set(Opt.subnetMask, encode.ip(full.subnetMask));
    if (full.router) reply.options.set(Opt.router, encode.ip(full.router));
    if (full.dns.length > 0) reply.options.set(Opt.dnsServers, encode.ips(full.dns));
  }

  #bootFieldsIfPxe(p: DhcpPacket, reply: DhcpPacket): void {
    const boot = chooseLoader(p, this.#boot);
    if (boot.ok) applyBootFields(reply, p, boot, this.#boot);
  }

  /** RFC 2131 4.1: relay first, then a configured client directly, else broadcast (no ARP injection from Node). */
  #destination(p: DhcpPacket, isNak: boolean): Source {
    if (p.giaddr !== ZERO) return { address: p.giaddr, port: this.#config.port };
    if (!isNak && p.ciaddr !== ZERO) return { address: p.ciaddr, port: this.#config.clientPort };
    return { address: BROADCAST, port: this.#config.clientPort };
  }
}

/** RFC 2131 4.2: option 61 identifies the client when present, else chaddr. */
export function clientKeyOf(p: DhcpPacket): string {
  return clientIdHex(p) ?? `mac:${macOf(p)}`;
}
