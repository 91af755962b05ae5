// Room seeding: one multicast stream (imaging/seed/) against N× unicast HTTP (every PC fetching
// the whole image over HTTP Range at once, which is what the seeding receiver does when multicast
// is blocked), same files, same room of network namespaces, same run. Bytes are what the server
// put on its bridge (br0 tx_bytes), time is from the start of data to the last PC's verified end.
// --lossy-pc drops 5 % of the UDP datagrams reaching PC 0 (iptables statistic) in both rounds.
// Not here yet: a round of udpcast alone (a first try with udp-sender/udp-receiver in this lab hung).
//   node bench/seeding.ts [--pcs 10] [--mib 64] [--rate-mbit 400] [--lossy-pc]
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildManifest } from '../lib/seed/manifest.ts';
import { createSeedLab } from '../test/helpers/seed-lab.ts';

const { values } = parseArgs({ options: { pcs: { type: 'string', default: '10' }, mib: { type: 'string', default: '64' }, 'rate-mbit': { type: 'string', default: '400' }, 'lossy-pc': { type: 'boolean', default: false } } });
const pcs = Number(values.pcs);
const dir = await mkdtemp(join(tmpdir(), 'ni-bench-seed-'));
const lab = createSeedLab(pcs, 2);
const CLI = 'imaging/seed/cli.ts';
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    lab.destroy();
    process.exit(1);
  });
try {
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'image.pcl.zst'), randomBytes(Number(values.mib) * 1024 * 1024));
  await writeFile(join(src, 'seed.json'), JSON.stringify(await buildManifest(src, ['image.pcl.zst'])));
  const base = `http://${lab.serverIp}:8080`;
  const http = lab.node(lab.serverNs, 'test/helpers/range-files-server.ts', [src, lab.serverIp, '8080']);
  await http.until((e) => e.event === 'listening');
  if (values['lossy-pc']) lab.exec(lab.pcs[0]!.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP');
  const txBytes = () => Number(lab.exec(lab.serverNs, 'cat', '/sys/class/net/br0/statistics/tx_bytes'));
  const receivers = (mode: string, extra: string[]) =>
    lab.pcs.map((pc, i) => lab.node(pc.ns, CLI, ['receive', '--manifest-url', `${base}/seed.json`, '--base-url', base, '--out', join(dir, `${mode}${i}`), '--local', pc.ip, ...extra]));
  const finish = async (procs: ReturnType<typeof receivers>) => Promise.all(procs.map((p) => p.until((e) => e.event === 'received' || e.event === 'error', 600_000)));

  // Multicast: every PC joined, then data.
  const sender = lab.node(lab.serverNs, CLI, ['send', '--dir', src, '--manifest', join(src, 'seed.json'), '--local', lab.serverIp, '--rate-mbit', values['rate-mbit'], '--wait-for-go']);
  await sender.until((e) => e.event === 'waiting');
  const mc = receivers('mc', []);
  await Promise.all(mc.map((p) => p.until((e) => e.event === 'joined', 60_000)));
  let tx0 = txBytes();
  let t0 = performance.now();
  sender.child.stdin!.write('go\n');
  const mcResults = await finish(mc);
  const mcSeconds = (performance.now() - t0) / 1000;
  const mcBytes = txBytes() - tx0;

  // N× unicast: a group nobody sends to, so every PC falls back to HTTP at once (join timeout 1 ms).
  tx0 = txBytes();
  t0 = performance.now();
  const uni = receivers('uni', ['--group', '239.255.42.99', '--join-timeout-ms', '1']);
  const uniResults = await finish(uni);
  const uniSeconds = (performance.now() - t0) / 1000;
  const uniBytes = txBytes() - tx0;

  const MiB = 1024 * 1024;
  const httpShare = mcResults.reduce((s, r) => s + Number(r.bytesHttp ?? 0), 0);
  console.log(`PCs ${pcs}, image ${values.mib} MiB, multicast rate ${values['rate-mbit']} Mbit/s${values['lossy-pc'] ? ', PC 0 loses 5 % of UDP' : ''}`);
  console.log(`multicast + catch-up: ${mcSeconds.toFixed(1)} s, server sent ${(mcBytes / MiB).toFixed(0)} MiB (of which HTTP catch-up ${(httpShare / MiB).toFixed(1)} MiB), errors ${mcResults.filter((r) => r.event === 'error').length}`);
  console.log(`${pcs}× unicast HTTP:     ${uniSeconds.toFixed(1)} s, server sent ${(uniBytes / MiB).toFixed(0)} MiB (Node start of ${pcs} PCs included), errors ${uniResults.filter((r) => r.event === 'error').length}`);
} finally {
  lab.destroy();
  await rm(dir, { recursive: true, force: true });
}
