// Room seeding: one multicast stream (imaging/seed/) against udpcast alone (udp-sender/udp-receiver,
// what FOG and Clonezilla use) and N× unicast HTTP (every PC fetching the whole image over HTTP
// Range at once, which is what the seeding receiver does when multicast is blocked), same file,
// same room of network namespaces, same run, the three rounds interleaved (--runs repeats them).
// Bytes are what the server put on its bridge (br0 tx_bytes), time is from the start of data to
// the last PC's verified end (udpcast: from the sender's start, the receivers waiting already, to
// the last receiver's exit; its files are sha256-checked afterwards, outside the time: udpcast
// itself checks nothing). --lossy-pc drops 5 % of the UDP datagrams reaching PC 0 (iptables
// statistic) in every round. The load average (1 min) is printed beside each figure.
// udpcast is installed from Debian (package udpcast) when missing.
// --kill-one: PC 0 is killed (SIGKILL) 1 s into the data, in the multicast rounds: how long the
// others take then (ours never waits for a PC; udpcast's sender waits for its acknowledgements).
//   node bench/seeding.ts [--pcs 10] [--mib 64] [--rate-mbit 400] [--lossy-pc] [--kill-one] [--runs 1] [--only ours,udpcast,unicast]
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildManifest } from '../lib/seed/manifest.ts';
import { run, runAllowFailure } from '../lib/process.ts';
import { createSeedLab } from '../test/helpers/seed-lab.ts';

const { values } = parseArgs({
  options: {
    pcs: { type: 'string', default: '10' },
    mib: { type: 'string', default: '64' },
    'rate-mbit': { type: 'string', default: '400' },
    'lossy-pc': { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    only: { type: 'string', default: 'ours,udpcast,unicast' },
    'udpcast-timeout': { type: 'string', default: '600' },
    'kill-one': { type: 'boolean', default: false },
  },
});
const pcs = Number(values.pcs);
const rounds = values.only.split(',').map((r) => r.trim());
const MiB = 1024 * 1024;
const load = () => loadavg()[0]!.toFixed(1);

/** udpcast from Debian when missing (the bench's set-up, not a step by hand). */
async function ensureUdpcast(): Promise<void> {
  if ((await runAllowFailure('sh', ['-c', 'command -v udp-sender && command -v udp-receiver'])).exitCode === 0) return;
  console.log('setup: installing the Debian package udpcast');
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'udpcast'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
}
if (rounds.includes('udpcast')) await ensureUdpcast();

const dir = await mkdtemp(join(tmpdir(), 'ni-bench-seed-'));
const lab = createSeedLab(pcs, 2);
const CLI = 'imaging/seed/cli.ts';
const others = new Set<ChildProcess>();
const cleanup = () => {
  for (const c of others) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
  lab.destroy();
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });

/** A command (not node) in a namespace, tracked for cleanup; resolves with its exit code and output. */
function inNs(ns: string, cmd: string, args: string[], onOutput?: (text: string) => void): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  others.add(child);
  let out = '';
  const take = (d: Buffer) => {
    out += d.toString();
    onOutput?.(out);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { child, done };
}

const sha256File = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });

try {
  const src = join(dir, 'src');
  await mkdir(src);
  const image = randomBytes(Number(values.mib) * MiB);
  const imageSha = createHash('sha256').update(image).digest('hex');
  await writeFile(join(src, 'image.pcl.zst'), image);
  await writeFile(join(src, 'seed.json'), JSON.stringify(await buildManifest(src, ['image.pcl.zst'])));
  const base = `http://${lab.serverIp}:8080`;
  const http = lab.node(lab.serverNs, 'test/helpers/range-files-server.ts', [src, lab.serverIp, '8080']);
  await http.until((e) => e.event === 'listening');
  if (values['lossy-pc']) lab.exec(lab.pcs[0]!.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP');
  const txBytes = () => Number(lab.exec(lab.serverNs, 'cat', '/sys/class/net/br0/statistics/tx_bytes'));
  const receivers = (mode: string, extra: string[]) =>
    lab.pcs.map((pc, i) => lab.node(pc.ns, CLI, ['receive', '--manifest-url', `${base}/seed.json`, '--base-url', base, '--out', join(dir, `${mode}${i}`), '--local', pc.ip, ...extra]));
  const finish = async (procs: ReturnType<typeof receivers>) => Promise.all(procs.map((p) => p.until((e) => e.event === 'received' || e.event === 'error', 600_000)));
  const clear = (prefix: string) => Promise.all(lab.pcs.map((_, i) => rm(join(dir, `${prefix}${i}`), { recursive: true, force: true })));

  console.log(`PCs ${pcs}, image ${values.mib} MiB, multicast rate ${values['rate-mbit']} Mbit/s${values['lossy-pc'] ? ', PC 0 loses 5 % of UDP' : ''}`);

  const ours = async () => {
    // Multicast: every PC joined, then data.
    const sender = lab.node(lab.serverNs, CLI, ['send', '--dir', src, '--manifest', join(src, 'seed.json'), '--local', lab.serverIp, '--rate-mbit', values['rate-mbit'], '--wait-for-go']);
    await sender.until((e) => e.event === 'waiting');
    const mc = receivers('mc', []);
    await Promise.all(mc.map((p) => p.until((e) => e.event === 'joined', 60_000)));
    const load0 = load();
    const tx0 = txBytes();
    const t0 = performance.now();
    sender.child.stdin!.write('go\n');
    if (values['kill-one']) setTimeout(() => mc[0]!.child.kill('SIGKILL'), 1000);
    const results = await finish(values['kill-one'] ? mc.slice(1) : mc);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = txBytes() - tx0;
    await sender.exited;
    const httpShare = results.reduce((s, r) => s + Number(r.bytesHttp ?? 0), 0);
    console.log(`ours (multicast + catch-up): ${seconds.toFixed(1)} s, server sent ${(bytes / MiB).toFixed(0)} MiB (of which HTTP catch-up ${(httpShare / MiB).toFixed(1)} MiB), errors ${results.filter((r) => r.event === 'error').length}, load ${load0}→${load()}`);
    await clear('mc');
  };

  const unicast = async () => {
    // N× unicast: a group nobody sends to, so every PC falls back to HTTP at once (join timeout 1 ms).
    const load0 = load();
    const tx0 = txBytes();
    const t0 = performance.now();
    const uni = receivers('uni', ['--group', '239.255.42.99', '--join-timeout-ms', '1']);
    const results = await finish(uni);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = txBytes() - tx0;
    console.log(`${pcs}× unicast HTTP: ${seconds.toFixed(1)} s, server sent ${(bytes / MiB).toFixed(0)} MiB (Node start of ${pcs} PCs included), errors ${results.filter((r) => r.event === 'error').length}, load ${load0}→${load()}`);
    await clear('uni');
  };

  const udpcast = async () => {
    // The receivers wait for the sender; the sender starts the data as soon as all N have
    // connected (--min-receivers). --nokbd on both: neither may wait for a key on a terminal
    // it does not have. --max-wait bounds the wait for connections (a receiver that never
    // connects cannot hold the room for ever). Control traffic is broadcast on the
    // interface's subnet, data multicast (udpcast's default address for the subnet).
    const timeoutS = Number(values['udpcast-timeout']);
    const outs = lab.pcs.map((_, i) => join(dir, `udp${i}`));
    const recv = lab.pcs.map((pc, i) => inNs(pc.ns, 'udp-receiver', ['--interface', 'eth0', '--file', outs[i]!, '--nokbd']));
    await new Promise((r) => setTimeout(r, 500));
    const load0 = load();
    const tx0 = txBytes();
    const t0 = performance.now();
    // The data starts when the sender prints "Starting transfer" (all N connected).
    let dataStart = 0;
    const sender = inNs(lab.serverNs, 'udp-sender', ['--interface', 'br0', '--file', join(src, 'image.pcl.zst'), '--nokbd', '--min-receivers', String(pcs), '--max-wait', '60', '--max-bitrate', `${values['rate-mbit']}m`], (out) => {
      if (!dataStart && out.includes('Starting transfer')) {
        dataStart = performance.now();
        if (values['kill-one']) setTimeout(() => recv[0]!.child.kill('SIGKILL'), 1000);
      }
    });
    const timer = setTimeout(() => {
      for (const p of [sender, ...recv]) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }, timeoutS * 1000);
    const results = await Promise.all((values['kill-one'] ? recv.slice(1) : recv).map((r) => r.done));
    const seconds = (performance.now() - t0) / 1000;
    const bytes = txBytes() - tx0;
    const sent = await sender.done;
    clearTimeout(timer);
    let bad = 0;
    for (const o of values['kill-one'] ? outs.slice(1) : outs) if ((await sha256File(o).catch(() => '')) !== imageSha) bad++;
    const failed = results.filter((r) => r.code !== 0).length;
    console.log(
      `udpcast: ${seconds.toFixed(1)} s${seconds >= timeoutS ? ' (KILLED at the timeout)' : ''} (data ${dataStart ? ((t0 + seconds * 1000 - dataStart) / 1000).toFixed(1) : '?'} s after all connected), server sent ${(bytes / MiB).toFixed(0)} MiB, receivers failed ${failed}, files not equal to the source ${bad}, sender exit ${sent.code}, load ${load0}→${load()}`,
    );
    if (failed || sent.code !== 0) console.log(`udpcast sender output (tail):\n${sent.out.slice(-1500)}\nreceiver 0 output (tail):\n${results[0]!.out.slice(-1500)}`);
    await Promise.all(outs.map((o) => rm(o, { force: true })));
  };

  const byName: Record<string, () => Promise<void>> = { ours, udpcast, unicast };
  for (let r = 0; r < Number(values.runs); r++) for (const name of rounds) await byName[name]!();
} finally {
  cleanup();
  await rm(dir, { recursive: true, force: true });
}
