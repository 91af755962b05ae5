// Throw >= 100k random and mutated packets at two running server processes (proxy and full mode)
// over loopback, then check they still answer a real OVMF DISCOVER and port-4011 REQUEST correctly.
// Every relay/client address in a mutated packet is forced into 127.0.0.0/8 and the servers only
// serve 127.0.0.0/8, so no reply can leave the loopback interface.
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { Opt, ipToNumber, parseDhcp, type DhcpPacket } from '../../bootserver/dhcp/codec.ts';
import { allFixtures, fixture, freePorts, logEntries, startStandalone, type RunningServer } from './helpers.ts';

const TOTAL = 100_000;
const SEED = Number(process.env['NETIMAGE_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

/** xorshift32: reproducible from SEED. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return { next, int: (n: number) => next() % n, byte: () => next() & 255 };
}

/** A fixture with 1-6 random mutations, addresses kept on loopback. */
function mutate(base: Buffer, r: ReturnType<typeof rng>): Buffer {
  let b = Buffer.from(base);
  const count = 1 + r.int(6);
  for (let i = 0; i < count; i++) {
    switch (r.int(9)) {
      case 0: // flip a random byte
        b[r.int(b.length)] = r.byte();
        break;
      case 1: // flip a byte in the option area
        if (b.length > 240) b[240 + r.int(b.length - 240)] = r.byte();
        break;
      case 2: // truncate
        b = b.subarray(0, r.int(b.length + 1));
        break;
      case 3: // append garbage
        b = Buffer.concat([b, Buffer.from(Array.from({ length: r.int(64) }, r.byte))]);
        break;
      case 4: { // insert a random TLV at a random option position
        const at = 240 + r.int(Math.max(1, b.length - 240));
        const len = r.int(20);
        const tlv = Buffer.from([r.byte(), len, ...Array.from({ length: len }, r.byte)]);
        b = Buffer.concat([b.subarray(0, at), tlv, b.subarray(at)]);
        break;
      }
      case 5: // random message type
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([53, 1, 1 + r.int(9)]), b.subarray(240)]);
        break;
      case 6: // option overload in the first option slot
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([52, 1, r.int(5)]), b.subarray(240)]);
        break;
      case 7: // op / hlen / flags
        b[r.int(4)] = r.int(3);
        break;
      default: // interesting lengths in an option header
        if (b.length > 242) b[241 + r.int(b.length - 241)] = [0, 1, 255, 254][r.int(4)]!;
    }
  }
  return b;
}

/** Keep ciaddr/giaddr at 0.0.0.0 or in 127/8: the only places replies could be sent. */
function confineToLoopback(b: Buffer, r: ReturnType<typeof rng>): Buffer {
  for (const off of [12, 24]) {
    if (b.length < off + 4) continue;
    if (r.int(2) === 0) b.fill(0, off, off + 4);
    else Buffer.from([127, r.byte(), r.byte(), 1 + r.int(254)]).copy(b, off);
  }
  return b;
}

function randomPacket(r: ReturnType<typeof rng>): Buffer {
  const len = r.int(700);
  const b = Buffer.from(Array.from({ length: len }, r.byte));
  // Half of them look like DHCP up to the options, so the option parser gets exercised.
  if (r.int(2) === 0 && len >= 240) {
    b[0] = 1;
    b.writeUInt32BE(0x63825363, 236);
  }
  return b;
}

interface Reply {
  packet: DhcpPacket;
  port: number;
}

async function listen(port: number, replies: Reply[]): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => s.bind(port, '0.0.0.0', () => r()));
  s.on('message', (data) => {
    const p = parseDhcp(data);
    if (p.ok) replies.push({ packet: p.packet, port });
  });
  return s;
}

function send(s: Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve) => s.send(data, port, '127.0.0.1', () => resolve()));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PROBE_EVERY = 2000;
const PROBE_TRIES = 4;

interface Probe {
  what: string;
  xid: number;
  packet: Buffer;
  to: number;
  /** Where the reply arrives: the client port for a DISCOVER, the sender's own port for a 4011 REQUEST. */
  replyPort: number | undefined;
}

/** TOTAL / PROBE_EVERY valid requests: a DISCOVER to the proxy and the full server, a REQUEST to port 4011, in turn. */
function probeRequests(pServer: number, pPxe: number, fServer: number, pClient: number, fClient: number): Probe[] {
  const kinds = [
    { what: 'DISCOVER to the proxy server', file: 'proxy/019-discover-68to67.hex', to: pServer, replyPort: pClient },
    { what: 'DISCOVER to the full server', file: 'proxy/019-discover-68to67.hex', to: fServer, replyPort: fClient },
    { what: 'REQUEST to port 4011', file: 'proxy/026-request-4011to4011.hex', to: pPxe, replyPort: undefined },
  ];
  return Array.from({ length: TOTAL / PROBE_EVERY }, (_, k) => {
    const kind = kinds[k % kinds.length]!;
    const packet = fixture(kind.file);
    const xid = 0xc0de0000 + k;
    packet.writeUInt32BE(xid, 4);
    if (kind.to === pPxe) Buffer.from([127, 0, 0, 1]).copy(packet, 12); // ciaddr on loopback
    return { what: kind.what, xid, packet, to: kind.to, replyPort: kind.replyPort };
  });
}

async function waitFor<T>(find: () => T | undefined, ms = 3000): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined || Date.now() > until) return v;
    await sleep(20);
  }
}

test(`${TOTAL} random and mutated packets; the servers keep answering correctly (seed ${SEED})`, async (t) => {
  t.timeout(150_000);
  const [pServer, pPxe, pClient, fServer, fPxe, fClient] = await freePorts(6);
  const servers: RunningServer[] = [];
  const sockets: Socket[] = [];
  t.teardown(async () => {
    for (const s of sockets) s.close();
    await Promise.all(servers.map((s) => s.dispose()));
  });
  const common = { serverIp: '127.0.0.1', subnet: '127.0.0.0/8' };
  servers.push(await startStandalone(undefined, { ...common, mode: 'proxy', port: pServer!, pxePort: pPxe!, clientPort: pClient! }, { level: process.env['FUZZ_LEVEL'] ?? 'warn' }));
  servers.push(
    await startStandalone(
      undefined,
      {
        ...common,
        mode: 'full',
        port: fServer!, pxePort: fPxe!, clientPort: fClient!,
        full: { rangeStart: '127.77.0.1', rangeEnd: '127.77.255.254', subnetMask: '255.0.0.0', leaseSeconds: 600 },
      },
      { leaseDb: true, level: 'warn' },
    ),
  );
  const replies: Reply[] = [];
  sockets.push(await listen(pClient!, replies), await listen(fClient!, replies));
  const sender = createSocket('udp4');
  sockets.push(sender);
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', () => r()));
  sender.on('message', (data, rinfo) => {
    const p = parseDhcp(data);
    if (p.ok) replies.push({ packet: p.packet, port: rinfo.port });
  });

  const r = rng(SEED);
  const seeds = allFixtures().map(([, b]) => b);
  const targets = [pServer!, pPxe!, fServer!, fPxe!];
  // Unmutated requests mixed into the fuzz at fixed positions, each with its own xid: every one
  // must be answered, in the middle of the garbage, by the server it went to. Loopback drops some
  // datagrams when the host is busy (Udp RcvbufErrors), so a probe is retransmitted like a real
  // client's request: up to PROBE_TRIES times, a pause apart, until it has its reply.
  const probes = probeRequests(pServer!, pPxe!, fServer!, pClient!, fClient!);
  const answered = (p: Probe) => replies.some((x) => x.packet.xid === p.xid && (p.replyPort === undefined || x.port === p.replyPort) && x.packet.file === 'shimx64.efi');
  const tries = new Map<Probe, number>();
  let retransmissions = 0;
  const started = Date.now();
  for (let i = 0; i < TOTAL; i++) {
    // Probes go right after a pause (below), when the servers' receive buffers have drained.
    if (i % 200 === 0) {
      for (const [probe, n] of tries) {
        if (n >= PROBE_TRIES || answered(probe)) continue;
        tries.set(probe, n + 1);
        retransmissions++;
        await send(sender, probe.packet, probe.to);
      }
    }
    if (i % PROBE_EVERY === 0) {
      const probe = probes[i / PROBE_EVERY]!;
      tries.set(probe, 1);
      await send(sender, probe.packet, probe.to);
    }
    const packet = r.int(5) === 0 ? randomPacket(r) : mutate(seeds[r.int(seeds.length)]!, r);
    await send(sender, confineToLoopback(packet, r), targets[r.int(targets.length)]!);
    // Pace so the servers' receive buffers do not overflow: dropped packets would test nothing.
    if (i % 200 === 199) await sleep(4);
  }
  const fuzzMs = Date.now() - started;
  await sleep(300);
  const fuzzReplies = replies.length;
  t.log(`sent ${TOTAL} packets in ${fuzzMs} ms, ${fuzzReplies} replies (seed ${SEED}); ${retransmissions} probe retransmissions; proxy server logged ${servers[0]!.lines.length} lines`);
  t.deepEqual(
    probes.filter((p) => !answered(p)).map((p) => `${p.what} xid ${p.xid.toString(16)}`),
    [],
    `all ${probes.length} valid requests sent during the fuzz were answered with the boot file`,
  );

  for (const s of servers) {
    // A process killed by a signal has exitCode null too: check both.
    t.deepEqual({ exitCode: s.process.exitCode, signalCode: s.process.signalCode }, { exitCode: null, signalCode: null }, 'server process is alive');
    const errors = logEntries(s).filter((l) => Number(l['level']) >= 50);
    t.deepEqual(errors, [], 'no handler errors logged');
  }

  // A real OVMF DISCOVER, fresh xid, to both servers.
  const discover = fixture('proxy/019-discover-68to67.hex');
  discover.writeUInt32BE(0xfeed0001, 4);
  replies.length = 0;
  await send(sender, discover, pServer!);
  const proxyOffer = await waitFor(() => replies.find((x) => x.packet.xid === 0xfeed0001 && x.port === pClient));
  t.truthy(proxyOffer, 'proxy server answered the DISCOVER');
  t.is(proxyOffer?.packet.file, 'shimx64.efi');
  t.is(proxyOffer?.packet.yiaddr, '0.0.0.0');
  t.is(proxyOffer?.packet.options.get(Opt.vendorClass)?.toString(), 'PXEClient');

  discover.writeUInt32BE(0xfeed0002, 4);
  await send(sender, discover, fServer!);
  const fullOffer = await waitFor(() => replies.find((x) => x.packet.xid === 0xfeed0002 && x.port === fClient));
  t.truthy(fullOffer, 'full server answered the DISCOVER');
  t.is(fullOffer?.packet.file, 'shimx64.efi');
  const y = ipToNumber(fullOffer?.packet.yiaddr ?? '0.0.0.0')!;
  t.true(y >= ipToNumber('127.77.0.1')! && y <= ipToNumber('127.77.255.254')!, `yiaddr ${fullOffer?.packet.yiaddr} in pool`);

  // OVMF's unicast REQUEST to port 4011: ACK back to our socket.
  const request = fixture('proxy/026-request-4011to4011.hex');
  request.writeUInt32BE(0xfeed0003, 4);
  Buffer.from([127, 0, 0, 1]).copy(request, 12); // ciaddr: captured on 10.98.0.0/24, here on loopback
  await send(sender, request, pPxe!);
  const ack = await waitFor(() => replies.find((x) => x.packet.xid === 0xfeed0003));
  t.is(ack?.packet.file, 'shimx64.efi');
});
