// Fuzz-style robustness: more than 100k random and mutated TFTP packets at the running server
// (standalone process): at the request port and at live transfers' TIDs. Afterwards the process
// is alive and serves files correctly.
//
// The request port is fuzzed in small batches, each followed by a probe (an RRQ for a missing
// file) whose answer means the server has read every packet before it: a batch never fills the
// socket buffer, so what the server counted is exact whatever the machine's load, and a server
// that stops reading or answering fails the probe instead of a timing-dependent loss ratio.

import test from 'ava';
import dgram from 'node:dgram';
import path from 'node:path';
import { OP_ACK, OP_DATA, OP_ERROR, OP_OACK, OP_RRQ, OP_WRQ, serializePacket } from '../../bootserver/tftp/codec.ts';
import { fetchWith, RawClient, randomFile, sha256, sha256File, startChildServer, tempDir } from './helpers.ts';

/** Seeded PRNG (mulberry32) so a failing run can be replayed with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const seeds: Buffer[] = [
  serializePacket({ op: OP_RRQ, filename: 'f', mode: 'octet', options: { blksize: '1468', windowsize: '16', tsize: '0' }, optionOrder: ['blksize', 'windowsize', 'tsize'] }),
  serializePacket({ op: OP_RRQ, filename: 'grub/grub.cfg', mode: 'octet', options: {}, optionOrder: [] }),
  serializePacket({ op: OP_RRQ, filename: '/nope/missing.efi', mode: 'octet', options: { timeout: '1' }, optionOrder: ['timeout'] }),
  serializePacket({ op: OP_WRQ, filename: 'upload', mode: 'octet', options: {}, optionOrder: [] }),
  serializePacket({ op: OP_ACK, block: 1 }),
  serializePacket({ op: OP_DATA, block: 1, data: Buffer.from('data') }),
  serializePacket({ op: OP_ERROR, code: 0, message: 'x' }),
  serializePacket({ op: OP_OACK, options: { blksize: '512' }, optionOrder: ['blksize'] }),
];

function mutate(rnd: () => number, base: Buffer): Buffer {
  let b = Buffer.from(base);
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits; e++) {
    const kind = Math.floor(rnd() * 7);
    const at = Math.floor(rnd() * (b.length + 1));
    if (kind === 0 && b.length > 0) b[at % b.length] = Math.floor(rnd() * 256); // byte flip
    else if (kind === 1) b = b.subarray(0, at); // truncate
    else if (kind === 2) b = Buffer.concat([b.subarray(0, at), Buffer.from([0]), b.subarray(at)]); // extra NUL
    else if (kind === 3) b = Buffer.concat([b, Buffer.from(`${['blksize', 'windowsize', 'tsize', 'timeout', 'x'][Math.floor(rnd() * 5)]}\0${Math.floor(rnd() * 1e6) - 1000}\0`)]); // option
    else if (kind === 4) b = Buffer.concat([b, Buffer.alloc(Math.floor(rnd() * 600), Math.floor(rnd() * 256))]); // padding
    else if (kind === 5 && b.length >= 2) b.writeUInt16BE(Math.floor(rnd() * 9), 0); // opcode
    else if (kind === 6 && b.length >= 4) b.writeUInt16BE(Math.floor(rnd() * 65536), 2); // block/code
  }
  return b;
}

function randomPacket(rnd: () => number): Buffer {
  const b = Buffer.alloc(Math.floor(rnd() * 700));
  for (let i = 0; i < b.length; i++) b[i] = rnd() < 0.2 ? 0 : Math.floor(rnd() * 256);
  if (b.length >= 2 && rnd() < 0.5) b.writeUInt16BE(Math.floor(rnd() * 8), 0);
  return b;
}

// Replay a failing run with NETIMAGE_FUZZ_SEED=<seed from the title>.
const SEED = Number(process.env['NETIMAGE_FUZZ_SEED'] ?? Date.now() % 1e9);
const REQUEST_PORT_PACKETS = 70_000;
const TID_PACKETS = 10 * 3_500;
/** A probe's answer normally takes a millisecond; this only bounds a server that stopped answering. */
const PROBE_WAIT_MS = 30_000;

test(`${REQUEST_PORT_PACKETS + TID_PACKETS} random and mutated packets; the server keeps serving correctly (seed ${SEED})`, async (t) => {
  t.log(`seed ${SEED}`);
  const rnd = prng(SEED);
  const dir = await tempDir(t, 'fuzz');
  const root = path.join(dir, 'root');
  const hash = await randomFile(root, 'f', 300_000);
  const cfgHash = await randomFile(root, 'grub/grub.cfg', 1000);
  const server = await startChildServer(t, root, ['--timeout-ms', '200', '--retries', '2', '--max-concurrent', '64']);

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())));
  let replies = 0;
  sock.on('message', () => replies++);
  let sent = 0;
  const blast = async (port: number, count: number, make: () => Buffer, via = sock) => {
    for (let i = 0; i < count; i++) {
      await new Promise((r) => via.send(make(), port, '127.0.0.1', r));
      sent++;
      // A transfer's socket has no probe to pace it: let the server drain now and then.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 2));
    }
  };

  // 1. The request port: random bytes and mutations of every packet type, BATCH packets at a time
  //    (at most ~1.4 KB each: far below the listener's 208 KiB receive buffer), then a probe from
  //    another port. The socket is read in order, so the probe's answer means the whole batch was
  //    read and counted (as a request or as malformed).
  const probe = await RawClient.open(t);
  const BATCH = 32;
  let probes = 0;
  let requestPortSent = 0;
  for (let done = 0; done < REQUEST_PORT_PACKETS; done += BATCH) {
    for (let i = 0; i < Math.min(BATCH, REQUEST_PORT_PACKETS - done); i++) {
      const packet = rnd() < 0.3 ? randomPacket(rnd) : mutate(rnd, seeds[Math.floor(rnd() * seeds.length)]!);
      await new Promise((r) => sock.send(packet, server.port, '127.0.0.1', r));
      requestPortSent++;
      sent++;
    }
    probe.rrq(server.port, 'fuzz-probe/missing.efi');
    probes++;
    const answer = await probe.next(PROBE_WAIT_MS);
    if (answer?.packet?.op !== OP_ERROR) {
      t.fail(`probe ${probes} (after ${requestPortSent} fuzz packets) got ${answer ? JSON.stringify(answer.packet) : `no answer in ${PROBE_WAIT_MS} ms`}; server alive: ${server.alive()}`);
      return;
    }
  }
  t.pass(`all ${probes} probes answered during the fuzz`);

  // 2. Live transfers' TIDs: start transfers, then spray their ports from the client's own socket
  //    (the TID is connected to it) with mutated ACK/DATA/OACK/ERROR and random bytes.
  for (let k = 0; k < 10; k++) {
    const c = await RawClient.open(t);
    c.rrq(server.port, 'f', { blksize: '512', windowsize: '8' });
    const first = await c.next(10_000);
    t.truthy(first, 'transfer started');
    if (!first) continue;
    const tid = first.rinfo.port;
    const acks = seeds.slice(4);
    await blast(tid, TID_PACKETS / 10, () => {
      if (rnd() < 0.5) {
        const ack = Buffer.from([0, OP_ACK, 0, 0]);
        ack.writeUInt16BE(Math.floor(rnd() * 65536), 2);
        return ack;
      }
      if (rnd() < 0.02) return mutate(rnd, acks[2]!); // occasionally an ERROR-ish packet
      return rnd() < 0.5 ? randomPacket(rnd) : mutate(rnd, acks[Math.floor(rnd() * acks.length)]!);
    }, c.socket);
  }
  t.true(replies > 100, 'the server answered while being fuzzed');
  t.log(`sent ${sent} packets, ${replies} replies to the request-port fuzzer`);

  // 3. Still alive and correct.
  await new Promise((r) => setTimeout(r, 300));
  t.true(server.alive(), 'server process alive');
  const out = await fetchWith('atftp', server.port, 'f', path.join(dir, 'out'), { blksize: 1468, windowsize: 16 });
  t.is(await sha256File(out), hash);
  const c = await RawClient.open(t);
  const cfg = await c.download(server.port, 'grub/grub.cfg', { blksize: '700' });
  t.is(sha256(cfg), cfgHash, 'grub.cfg served byte for byte');

  // Nothing went wrong inside: no handler error caught and logged (a crash would have ended the
  // process above), and every packet sent to the request port was read and counted there (exact
  // thanks to the probes; the valid requests of step 3, retransmissions included, come on top).
  t.deepEqual(server.errors(), [], 'no handler errors logged');
  const stats = await server.stop();
  t.truthy(stats, 'the server stopped cleanly and reported its counters');
  const received = (stats?.requests ?? 0) + (stats?.malformed ?? 0);
  const expected = requestPortSent + probes;
  t.log(`request port counted ${received} packets for ${requestPortSent} fuzz packets + ${probes} probes (+ the valid requests); stats ${JSON.stringify(stats)}`);
  t.true(received >= expected, `the request port counted ${received} packets, sent ${expected} before the last probe`);
  t.true((stats?.notFound ?? 0) >= probes, `every probe was looked up and not found (${stats?.notFound} not found, ${probes} probes)`);
});
