// The real sender, over a real Ethernet link: two network namespaces this test creates, joined
// by a veth pair (10.213.7.0/24, our own addresses). The packet goes to the subnet-directed
// broadcast and must arrive on the other side byte for byte. Nothing leaves the namespaces.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { magicPacket } from '../../bootserver/wol/packet.ts';

const tag = `${process.pid % 100000}`;
const SEND_NS = `niwol-s${tag}`;
const RECV_NS = `niwol-r${tag}`;
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function createLink(t: import('ava').ExecutionContext): void {
  t.teardown(() => {
    for (const ns of [SEND_NS, RECV_NS]) {
      try {
        sh('ip', 'netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  });
  sh('ip', 'netns', 'add', SEND_NS);
  sh('ip', 'netns', 'add', RECV_NS);
  sh('ip', 'link', 'add', `ws${tag}`, 'netns', SEND_NS, 'type', 'veth', 'peer', 'name', `wr${tag}`, 'netns', RECV_NS);
  sh('ip', '-n', SEND_NS, 'addr', 'add', '10.213.7.1/24', 'dev', `ws${tag}`);
  sh('ip', '-n', RECV_NS, 'addr', 'add', '10.213.7.2/24', 'dev', `wr${tag}`);
  for (const [ns, dev] of [[SEND_NS, `ws${tag}`], [RECV_NS, `wr${tag}`]] as const) {
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
}

test('a magic packet to the subnet-directed broadcast arrives across a veth link, exactly 6 x 0xFF + 16 x MAC', async (t) => {
  createLink(t);
  const listener = spawn('ip', ['netns', 'exec', RECV_NS, process.execPath, 'test/wol/netns-listen.ts', '9'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (listener.exitCode === null) listener.kill('SIGTERM');
  });
  let out = '';
  listener.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const until = async (ok: () => boolean, what: string) => {
    const deadline = Date.now() + 10000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; listener said: ${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await until(() => out.includes('ready'), 'the listener');
  const mac = '52:54:00:12:34:56';
  sh('ip', 'netns', 'exec', SEND_NS, process.execPath, 'test/wol/netns-send.ts', mac, '10.213.7.255', '9');
  await until(() => out.split('\n').length > 2, 'the packet');
  await new Promise((r) => setTimeout(r, 200)); // a second (wrong) datagram would show up by now
  const datagrams = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { hex: string; from: string });
  t.is(datagrams.length, 1, 'one packet');
  t.is(datagrams[0]!.from, '10.213.7.1', 'from the other namespace, over the link');
  t.is(datagrams[0]!.hex, 'ff'.repeat(6) + '525400123456'.repeat(16));
  t.is(datagrams[0]!.hex, magicPacket(mac).toString('hex'));
});
