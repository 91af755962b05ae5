// The DHCP/proxyDHCP socket adapter: binds the ports, parses, asks the responder, sends. Every
// packet is handled inside one try/catch so nothing a client sends can take the process down.
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import type { Logger } from '../../lib/logger.ts';
import { macOf, messageType, parseDhcp, serializeDhcp, xidHex } from './codec.ts';
import { fullRangeOf, type DhcpConfig } from './config.ts';
import type { LeaseStore } from './leases.ts';
import { MemoryLeaseStore } from './leases.ts';
import { interfaceNetworks, makeNetworkFilter, networkOf, parseCidr, type Network } from './network.ts';
import { AddressPool } from './pool.ts';
import { DhcpResponder, type Via } from './responder.ts';

export interface DhcpDeps {
  logger: Logger;
  /** Full mode: where leases live (SqliteLeaseStore over the app's DB). Defaults to memory. */
  leaseStore?: LeaseStore;
}

/** Running totals since start (read by /metrics). */
export interface DhcpServerStats {
  /** Datagrams received on the DHCP port (67) and the PXE port (4011). */
  received: { dhcp: number; pxe: number };
  bytesReceived: number;
  malformed: number;
  /** Well-formed requests we do not answer (non-PXE clients in proxy mode, other servers' traffic). */
  ignored: number;
  replies: number;
  bytesSent: number;
}

export interface DhcpServer {
  stop(): Promise<void>;
  stats(): DhcpServerStats;
}

/** How often the interface's address list is re-read when filtering by interface name. */
const INTERFACE_REFRESH_MS = 10_000;

function bindSocket(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // reuseAddr: the wildcard socket (sees broadcasts) and the server-address socket (sends
    // broadcasts out of the right interface) share port 67.
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    const onError = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once('error', onError);
    socket.bind({ address, port }, () => {
      socket.off('error', onError);
      socket.setBroadcast(true);
      resolve(socket);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

function servedNetworks(config: DhcpConfig): (() => Network[]) | undefined {
  if (config.subnet) {
    const net = parseCidr(config.subnet)!;
    return () => [net];
  }
  if (config.interface) {
    const name = config.interface;
    let cached = interfaceNetworks(name);
    let readAt = Date.now();
    return () => {
      if (Date.now() - readAt > INTERFACE_REFRESH_MS) {
        cached = interfaceNetworks(name);
        readAt = Date.now();
      }
      return cached;
    };
  }
  const full = fullRangeOf(config);
  if (full) {
    // Full mode without an explicit filter: serve the pool's own subnet only.
    const net = networkOf(full.rangeStart, full.subnetMask)!;
    return () => [net];
  }
  return undefined;
}

export async function startDhcpServer(config: DhcpConfig, deps: DhcpDeps): Promise<DhcpServer> {
  const log = deps.logger.child({ component: 'dhcp' });
  if (config.mode === 'off') {
    log.info('DHCP disabled (mode off)');
    return { stop: async () => {}, stats: () => ({ received: { dhcp: 0, pxe: 0 }, bytesReceived: 0, malformed: 0, ignored: 0, replies: 0, bytesSent: 0 }) };
  }
  const stats: DhcpServerStats = { received: { dhcp: 0, pxe: 0 }, bytesReceived: 0, malformed: 0, ignored: 0, replies: 0, bytesSent: 0 };
  const full = fullRangeOf(config);
  const pool = full ? new AddressPool(full, deps.leaseStore ?? new MemoryLeaseStore()) : undefined;
  const responder = new DhcpResponder({ config, filter: makeNetworkFilter(servedNetworks(config)), pool });

  // Checked once: building the context objects of suppressed debug lines costs at 10k packets/s.
  const debug = log.isLevelEnabled('debug');
  const sockets: Socket[] = [];
  try {
    const dhcpAny = await bindSocket('0.0.0.0', config.port);
    sockets.push(dhcpAny);
    // Linux routes a limited broadcast out of the interface owning the sending socket's address;
    // from a 0.0.0.0 socket it would follow the default route, possibly the wrong network.
    let dhcpSend = dhcpAny;
    try {
      const dhcpOwn = await bindSocket(config.serverIp, config.port);
      sockets.push(dhcpOwn);
      dhcpSend = dhcpOwn;
    } catch (error) {
      log.warn({ err: error, serverIp: config.serverIp }, 'cannot bind the server address; broadcast replies follow the default route');
    }
    const pxe = await bindSocket('0.0.0.0', config.pxePort);
    sockets.push(pxe);

    const onMessage = (via: Via, replySocket: Socket) => (data: Buffer, rinfo: RemoteInfo) => {
      try {
        stats.received[via]++;
        stats.bytesReceived += data.length;
        const parsed = parseDhcp(data);
        if (!parsed.ok) {
          stats.malformed++;
          if (debug) log.debug({ from: `${rinfo.address}:${rinfo.port}`, reason: parsed.reason }, 'dropped malformed packet');
          return;
        }
        const p = parsed.packet;
        const outcome = responder.handle(p, via, { address: rinfo.address, port: rinfo.port });
        if (outcome.kind === 'ignore') stats.ignored++;
        // Ignored traffic (every non-PXE client in proxy mode) is the common case: no work for it.
        if (outcome.kind === 'ignore' && !debug && !outcome.bootRefused) return;
        const ctx = { via, mac: macOf(p), xid: xidHex(p), type: messageType(p), from: `${rinfo.address}:${rinfo.port}` };
        if (outcome.kind === 'ignore') {
          if (outcome.bootRefused) log.info({ ...ctx, why: outcome.why }, 'no boot answer');
          else log.debug({ ...ctx, why: outcome.why }, 'no answer');
          return;
        }
        if (debug) log.debug({ ...ctx, why: outcome.why }, 'answering');
        const bytes = serializeDhcp(outcome.packet);
        // No callback: Node then sends synchronously (uv_udp_try_send) instead of queueing a
        // request; a failed send surfaces as the socket's 'error' event, which is logged.
        replySocket.send(bytes, outcome.to.port, outcome.to.address);
        stats.replies++;
        stats.bytesSent += bytes.length;
        log.info(
          { ...ctx, reply: outcome.type, to: `${outcome.to.address}:${outcome.to.port}`, yiaddr: outcome.packet.yiaddr, file: outcome.packet.file || undefined },
          outcome.why,
        );
      } catch (error) {
        log.error({ err: error, from: `${rinfo.address}:${rinfo.port}` }, 'packet handler failed');
      }
    };
    // Mostly failed sends (unreachable relay or client); the socket stays usable.
    const onSocketError = (error: Error) => log.warn({ err: error }, 'socket error');
    for (const s of sockets) s.on('error', onSocketError);
    for (const s of sockets.filter((s) => s !== pxe)) s.on('message', onMessage('dhcp', dhcpSend));
    // Port 4011 replies go back from 4011 to the client's port (PXE spec).
    pxe.on('message', onMessage('pxe', pxe));
  } catch (error) {
    await Promise.all(sockets.map(closeSocket));
    throw error;
  }
  log.info({ mode: config.mode, serverIp: config.serverIp, ports: { server: config.port, pxe: config.pxePort, client: config.clientPort }, subnet: config.subnet, interface: config.interface }, 'DHCP server listening');

  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(sockets.map(closeSocket));
      log.info('DHCP server stopped');
    },
    stats: () => ({ ...stats, received: { ...stats.received } }),
  };
}
