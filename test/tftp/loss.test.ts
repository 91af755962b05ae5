// Downloads through a lossy link: a netns of our own whose loopback drops (and in the second
// test also duplicates) packets at random. Server (standalone.ts) and clients both run inside it.
// Every download must still match, and the rules must really have hit packets.
// (This kernel has no sch_netem: loss and duplication come from iptables, see helpers.ts.)

import test, { type ExecutionContext } from 'ava';
import path from 'node:path';
import { fetchWith, iptablesMatched, netnsWithLoopback, randomFile, sha256File, startChildServer, tempDir, type Client } from './helpers.ts';

const clients: { client: Client; blksize?: number; windowsize?: number }[] = [
  { client: 'atftp', blksize: 1468 },
  { client: 'atftp', blksize: 1468, windowsize: 16 },
  { client: 'atftp', blksize: 8192, windowsize: 8 },
  { client: 'curl', blksize: 1468 },
  { client: 'tftp-hpa' },
];

// The option handshake (OACK and its ACK 0) is spared: atftp aborts on a repeated OACK
// ("tftp: unexpected OACK"), so when its ACK 0 is lost and the server resends the OACK, as RFC 2347
// requires, atftp gives up, whichever server it talks to. Every other packet is dropped at random.
// u32: the first 4 bytes of the UDP payload (IP header length from byte 0, + 8 for UDP).
const spareHandshake = [
  ['-A', 'INPUT', '-p', 'udp', '-m', 'u32', '--u32', '0>>22&0x3C@8=0x00040000', '-j', 'ACCEPT'],
  ['-A', 'INPUT', '-p', 'udp', '-m', 'u32', '--u32', '0>>22&0x3C@8>>16=6', '-j', 'ACCEPT'],
];
// Dropped on INPUT, not OUTPUT: a DROP in OUTPUT makes the sender's sendto() fail with EPERM,
// which is not what a lossy network looks like.
const drop = (p: string) => ['-A', 'INPUT', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP'];
// Duplicates of ACKs (IP length 32) and DATA (>= 100 bytes) only: atftp aborts on a duplicated
// OACK ("unexpected OACK"), a client limitation that no server can work around.
const dup = (p: string, length: string) => [
  '-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '-m', 'length', '--length', length,
  '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'TEE', '--gateway', '127.0.0.1',
];

async function lossyRun(t: ExecutionContext, tag: string, rules: string[][]) {
  const dir = await tempDir(t, tag);
  const root = path.join(dir, 'root');
  const hash = await randomFile(root, 'initrd', 1024 * 1024 + 777);
  const ns = await netnsWithLoopback(t, tag, rules);
  const server = await startChildServer(t, root, ['--timeout-ms', '100', '--retries', '10'], ns);
  const results = await Promise.all(
    clients.map(async (c, i) => {
      const out = await fetchWith(c.client, server.port, 'initrd', path.join(dir, `out${i}`), c, ns);
      return { c, ok: (await sha256File(out)) === hash };
    }),
  );
  for (const r of results) t.true(r.ok, JSON.stringify(r.c));
  t.true(server.alive());
  return ns;
}

test('3% loss: atftp (1468, 1468 x 16, 8192 x 8), curl and tftp-hpa all match', async (t) => {
  const ns = await lossyRun(t, 'loss', [...spareHandshake, drop('0.03')]);
  const dropped = await iptablesMatched(ns, 'filter', 'DROP');
  t.true(dropped > 20, `dropped ${dropped} packets`);
});

test('2% loss and 3% duplicated packets: all match', async (t) => {
  const ns = await lossyRun(t, 'dup', [...spareHandshake, drop('0.02'), dup('0.03', '32'), dup('0.03', '100:65535')]);
  t.true((await iptablesMatched(ns, 'filter', 'DROP')) > 10);
  t.true((await iptablesMatched(ns, 'mangle', 'TEE')) > 10);
});
