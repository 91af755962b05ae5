// TFTP throughput: our server vs tftp-hpa's in.tftpd, same machine, same run, same client (atftp).
//
//   node bench/tftp.ts [--runs 3] [--mib 64] [--clients 100] [--client-mib 4]
//
// "ours" is the server as deployed: files on disk go through the native sender (tftpsend.c, one
// process per transfer); "ours, Node path" is the same server with NETIMAGE_TFTP_SENDER=off.
// Lock-step (windowsize 1) is also measured with `clients` concurrent atftp clients, each
// fetching a `client-mib` file: total throughput and the p99 transfer time.
//
// Both servers run as separate processes on 127.0.0.1 and serve the same 64 MiB random file.
// Each configuration is timed `runs` times, servers alternating, and the median is reported.
// tftp-hpa has no windowsize (it ignores the option), so "ours ws16 vs tftp-hpa best" compares
// our windowed transfer with tftp-hpa's fastest configuration.
//
// A third reference, "node floor", is the least a Node process can do per packet: a lock-step
// sender with the whole file preloaded in memory, no options but blksize, no timers, no checks.
// At windowsize 1 the transfer is a ping-pong bound by per-datagram latency, and this shows how
// much of the gap to tftp-hpa is Node's dgram path (allocation per receive, callback, send wrap)
// rather than our code. Server CPU time per run is printed for ours and the floor.

import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from '../lib/process.ts';
import { cpuGroup } from './cpu-group.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    mib: { type: 'string', default: '64' },
    clients: { type: 'string', default: '100' },
    'client-mib': { type: 'string', default: '4' },
  },
});
const runs = Number(values.runs);
const mib = Number(values.mib);
const clients = Number(values.clients);
const clientMib = Number(values['client-mib']);

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const dir = await mkdtemp(path.join(tmpdir(), 'ni-bench-tftp-'));
const root = path.join(dir, 'root');
const out = path.join(dir, 'out');
await execa('mkdir', ['-p', root]);
const size = mib * 1024 * 1024;
{
  const fh = await open(path.join(root, 'big.bin'), 'w');
  for (let done = 0; done < size; done += 1 << 20) await fh.write(randomBytes(Math.min(1 << 20, size - done)));
  await fh.close();
}
const expected = await sha256(path.join(root, 'big.bin'));
const smallSize = clientMib * 1024 * 1024;
await writeFile(path.join(root, 'small.bin'), randomBytes(smallSize));
const expectedSmall = await sha256(path.join(root, 'small.bin'));

const groups = { ours: await cpuGroup('tftp-ours'), node: await cpuGroup('tftp-node'), hpa: await cpuGroup('tftp-hpa'), floor: await cpuGroup('tftp-floor') };
const spawnIn = (g: keyof typeof groups, cmd: string[], env: Record<string, string> = {}) => {
  const argv = groups[g].wrap(cmd);
  return execa(argv[0]!, argv.slice(1), { env, stdout: 'ignore', stderr: 'inherit', reject: false });
};
const oursPort = await freePort();
const ours = spawnIn('ours', [process.execPath, path.join(import.meta.dirname, '../bootserver/tftp/standalone.ts'), '--root', root, '--port', String(oursPort)], { NETIMAGE_LOG_LEVEL: 'warn' });
const nodePort = await freePort();
const oursNode = spawnIn('node', [process.execPath, path.join(import.meta.dirname, '../bootserver/tftp/standalone.ts'), '--root', root, '--port', String(nodePort)], { NETIMAGE_LOG_LEVEL: 'warn', NETIMAGE_TFTP_SENDER: 'off' });
// The floor sender (see top comment), as its own process like the other two.
const floorScript = path.join(dir, 'floor.mjs');
await writeFile(
  floorScript,
  `import dgram from 'node:dgram';
import fs from 'node:fs';
const file = fs.readFileSync(process.argv[2]);
const l = dgram.createSocket('udp4');
l.bind(Number(process.argv[3]), '127.0.0.1');
l.on('message', (msg, rinfo) => {
  const parts = msg.subarray(2).toString('latin1').split('\\0');
  const i = parts.indexOf('blksize');
  const bs = i > 0 ? Number(parts[i + 1]) : 512;
  const last = Math.floor(file.length / bs) + 1;
  const stride = bs + 4;
  const buf = Buffer.alloc(stride * last);
  for (let b = 1; b <= last; b++) {
    const at = (b - 1) * stride;
    buf[at + 1] = 3;
    buf.writeUInt16BE(b & 0xffff, at + 2);
    file.copy(buf, at + 4, (b - 1) * bs, Math.min(file.length, b * bs));
  }
  const pkt = (b) => buf.subarray((b - 1) * stride, (b - 1) * stride + 4 + Math.min(bs, file.length - (b - 1) * bs));
  let acked = -1;
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1', () => s.connect(rinfo.port, rinfo.address, () => {
    s.send(Buffer.from('\\0\\x06blksize\\0' + bs + '\\0', 'latin1'));
    s.on('message', (m) => {
      if (m.readUInt16BE(2) !== ((acked + 1) & 0xffff)) return;
      if (++acked >= last) return s.close();
      s.send(pkt(acked + 1));
    });
  }));
});
`,
);
const floorPort = await freePort();
const floor = spawnIn('floor', [process.execPath, floorScript, path.join(root, 'big.bin'), String(floorPort)]);
const hpaPort = await freePort();
const hpa = spawnIn('hpa', ['in.tftpd', '-L', '-a', `127.0.0.1:${hpaPort}`, '-s', root]);
await new Promise((r) => setTimeout(r, 1500));

/** `clients` atftp clients at once, lock-step: total MB/s and p99 seconds per transfer. */
async function timeMany(port: number, blksize: number): Promise<{ mbps: number; p99: number }> {
  const outs = Array.from({ length: clients }, (_, i) => path.join(dir, `many-${i}`));
  const times: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    outs.map(async (o) => {
      const s0 = performance.now();
      await execa('atftp', ['-g', '-r', 'small.bin', '-l', o, '--option', `blksize ${blksize}`, '127.0.0.1', String(port)], { stdout: 'ignore', stderr: 'ignore' });
      times.push((performance.now() - s0) / 1000);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const o of outs) {
    if ((await sha256(o)) !== expectedSmall) throw new Error(`checksum mismatch (${clients} clients, port ${port}, blksize ${blksize})`);
    await rm(o, { force: true });
  }
  times.sort((a, b) => a - b);
  return { mbps: (clients * smallSize) / 1e6 / seconds, p99: times[Math.min(times.length - 1, Math.ceil(0.99 * times.length) - 1)]! };
}

async function timeOne(port: number, blksize: number, windowsize: number): Promise<number> {
  await rm(out, { force: true });
  const args = ['-g', '-r', 'big.bin', '-l', out, '--option', `blksize ${blksize}`];
  if (windowsize > 1) args.push('--option', `windowsize ${windowsize}`);
  args.push('127.0.0.1', String(port));
  const t0 = performance.now();
  await execa('atftp', args, { stdout: 'ignore', stderr: 'ignore' });
  const seconds = (performance.now() - t0) / 1000;
  const got = await sha256(out);
  if (got !== expected) throw new Error(`checksum mismatch (port ${port}, blksize ${blksize}, windowsize ${windowsize})`);
  return size / 1e6 / seconds;
}

type Row = { label: string; ours: number; node: number; hpa: number | null; floor: number | null; oursCpu: number; nodeCpu: number; hpaCpu: number | null; floorCpu: number | null };
const rows: Row[] = [];
type ManyRow = { label: string; ours: { mbps: number; p99: number }; node: { mbps: number; p99: number }; hpa: { mbps: number; p99: number }; cpu: [number, number, number] };
const manyRows: ManyRow[] = [];
const loads: string[] = [];
const loadNow = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ')[0]!;
try {
  for (const [blksize, windowsize] of [
    [512, 1],
    [1468, 1],
    [512, 16],
    [1468, 16],
  ] as const) {
    const o: number[] = [];
    const n: number[] = [];
    const h: number[] = [];
    const f: number[] = [];
    const oc: number[] = [];
    const nc: number[] = [];
    const hc: number[] = [];
    const fc: number[] = [];
    const measure = async (g: keyof typeof groups, pid: number | undefined, port: number, speeds: number[], cpus: number[]) => {
      const c0 = await groups[g].seconds(pid);
      speeds.push(await timeOne(port, blksize, windowsize));
      cpus.push((await groups[g].seconds(pid)) - c0);
    };
    for (let i = 0; i < runs; i++) {
      loads.push(await loadNow());
      await measure('ours', ours.pid, oursPort, o, oc);
      await measure('node', oursNode.pid, nodePort, n, nc);
      if (windowsize === 1) {
        await measure('hpa', hpa.pid, hpaPort, h, hc);
        await measure('floor', floor.pid, floorPort, f, fc);
      }
    }
    rows.push({
      label: `blksize ${blksize}, windowsize ${windowsize}`,
      ours: median(o),
      node: median(n),
      hpa: h.length ? median(h) : null,
      floor: f.length ? median(f) : null,
      oursCpu: median(oc),
      nodeCpu: median(nc),
      hpaCpu: hc.length ? median(hc) : null,
      floorCpu: fc.length ? median(fc) : null,
    });
  }
  for (const blksize of [512, 1468]) {
    const o: Array<{ mbps: number; p99: number }> = [];
    const n: typeof o = [];
    const h: typeof o = [];
    const cpu: [number[], number[], number[]] = [[], [], []];
    for (let i = 0; i < runs; i++) {
      loads.push(await loadNow());
      for (const [k, g, pid, port, list] of [
        [0, 'ours', ours.pid, oursPort, o],
        [1, 'node', oursNode.pid, nodePort, n],
        [2, 'hpa', hpa.pid, hpaPort, h],
      ] as const) {
        const c0 = await groups[g].seconds(pid);
        list.push(await timeMany(port, blksize));
        cpu[k].push((await groups[g].seconds(pid)) - c0);
      }
    }
    const med = (xs: Array<{ mbps: number; p99: number }>) => ({ mbps: median(xs.map((x) => x.mbps)), p99: median(xs.map((x) => x.p99)) });
    manyRows.push({ label: `${clients} clients, blksize ${blksize}, ws 1`, ours: med(o), node: med(n), hpa: med(h), cpu: [median(cpu[0]), median(cpu[1]), median(cpu[2])] });
  }
} finally {
  ours.kill('SIGTERM');
  oursNode.kill('SIGTERM');
  hpa.kill('SIGTERM');
  floor.kill('SIGTERM');
  await Promise.allSettled([ours, oursNode, hpa, floor]);
  for (const g of Object.values(groups)) await g.remove();
  await rm(dir, { recursive: true, force: true });
}

const hpaBest = Math.max(...rows.map((r) => r.hpa ?? 0));
const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
console.log(
  `TFTP ${mib} MiB over loopback, atftp client, median of ${runs} (MB/s = 10^6 bytes/s); load average at the start of each round ${loads.join(', ')}; at the end ${load}; ${availableParallelism()} CPUs`,
);
console.log('configuration                   ours MB/s  ratio to tftp-hpa                  Node path MB/s  tftp-hpa MB/s  node floor MB/s  server CPU s ours / Node path / tftp-hpa / floor');
for (const r of rows) {
  const ratio = r.hpa ? `${(r.ours / r.hpa).toFixed(2)}x` : `${(r.ours / hpaBest).toFixed(2)}x vs tftp-hpa best (${hpaBest.toFixed(1)})`;
  const f2 = (x: number | null) => (x === null ? '-' : x.toFixed(2));
  console.log(
    `${r.label.padEnd(31)} ${r.ours.toFixed(1).padStart(9)}  ${ratio.padEnd(33)} ${r.node.toFixed(1).padStart(14)}  ${(r.hpa ? r.hpa.toFixed(1) : '-').padStart(13)}  ${(r.floor ? r.floor.toFixed(1) : '-').padStart(15)}  ${f2(r.oursCpu)} / ${f2(r.nodeCpu)} / ${f2(r.hpaCpu)} / ${f2(r.floorCpu)}`,
  );
}
console.log(`\n${clients} concurrent atftp clients, ${clientMib} MiB each, lock-step; total MB/s and p99 seconds per transfer (median of ${runs})`);
console.log('configuration                        ours MB/s  p99 s  ratio   Node path MB/s  p99 s   tftp-hpa MB/s  p99 s   server CPU s ours / Node / hpa');
for (const r of manyRows) {
  console.log(
    `${r.label.padEnd(36)} ${r.ours.mbps.toFixed(1).padStart(9)}  ${r.ours.p99.toFixed(2).padStart(5)}  ${(r.ours.mbps / r.hpa.mbps).toFixed(2)}x  ${r.node.mbps.toFixed(1).padStart(14)}  ${r.node.p99.toFixed(2).padStart(5)}  ${r.hpa.mbps.toFixed(1).padStart(14)}  ${r.hpa.p99.toFixed(2).padStart(5)}   ${r.cpu.map((c) => c.toFixed(2)).join(' / ')}`,
  );
}
