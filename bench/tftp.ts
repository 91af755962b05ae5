// TFTP throughput: our server vs tftp-hpa's in.tftpd, same machine, same run, same client (atftp).
//
//   node bench/tftp.ts [--runs 3] [--mib 64]
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

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, mib: { type: 'string', default: '64' } } });
const runs = Number(values.runs);
const mib = Number(values.mib);

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

const oursPort = await freePort();
const ours = execa(process.execPath, [path.join(import.meta.dirname, '../bootserver/tftp/standalone.ts'), '--root', root, '--port', String(oursPort)], {
  env: { NETIMAGE_LOG_LEVEL: 'warn' },
  stdout: 'ignore',
  stderr: 'inherit',
  reject: false,
});
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
const floor = execa(process.execPath, [floorScript, path.join(root, 'big.bin'), String(floorPort)], { stdout: 'ignore', stderr: 'inherit', reject: false });
const hpaPort = await freePort();
const hpa = execa('in.tftpd', ['-L', '-a', `127.0.0.1:${hpaPort}`, '-s', root], { stdout: 'ignore', stderr: 'inherit', reject: false });
await new Promise((r) => setTimeout(r, 1500));

/** user+system CPU seconds of a process so far (Linux /proc; clock ticks are 1/100 s). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
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

type Row = { label: string; ours: number; hpa: number | null; floor: number | null; oursCpu: number; floorCpu: number | null };
const rows: Row[] = [];
try {
  for (const [blksize, windowsize] of [
    [512, 1],
    [1468, 1],
    [512, 16],
    [1468, 16],
  ] as const) {
    const o: number[] = [];
    const h: number[] = [];
    const f: number[] = [];
    const oc: number[] = [];
    const fc: number[] = [];
    for (let i = 0; i < runs; i++) {
      let c0 = await cpuSeconds(ours.pid);
      o.push(await timeOne(oursPort, blksize, windowsize));
      oc.push((await cpuSeconds(ours.pid)) - c0);
      if (windowsize === 1) {
        h.push(await timeOne(hpaPort, blksize, 1));
        c0 = await cpuSeconds(floor.pid);
        f.push(await timeOne(floorPort, blksize, 1));
        fc.push((await cpuSeconds(floor.pid)) - c0);
      }
    }
    rows.push({
      label: `blksize ${blksize}, windowsize ${windowsize}`,
      ours: median(o),
      hpa: h.length ? median(h) : null,
      floor: f.length ? median(f) : null,
      oursCpu: median(oc),
      floorCpu: fc.length ? median(fc) : null,
    });
  }
} finally {
  ours.kill('SIGTERM');
  hpa.kill('SIGTERM');
  floor.kill('SIGTERM');
  await Promise.allSettled([ours, hpa, floor]);
  await rm(dir, { recursive: true, force: true });
}

const hpaBest = Math.max(...rows.map((r) => r.hpa ?? 0));
const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
console.log(`TFTP ${mib} MiB over loopback, atftp client, median of ${runs} (MB/s = 10^6 bytes/s); load average ${load} on ${availableParallelism()} CPUs`);
console.log('configuration                   ours MB/s  tftp-hpa MB/s  ratio                             node floor MB/s  server CPU s ours / floor');
for (const r of rows) {
  const ratio = r.hpa ? `${(r.ours / r.hpa).toFixed(2)}x` : `${(r.ours / hpaBest).toFixed(2)}x vs tftp-hpa best (${hpaBest.toFixed(1)})`;
  const floorCol = r.floor ? r.floor.toFixed(1) : '-';
  const cpuCol = `${r.oursCpu.toFixed(2)} / ${r.floorCpu === null ? '-' : r.floorCpu.toFixed(2)}`;
  console.log(`${r.label.padEnd(31)} ${r.ours.toFixed(1).padStart(9)}  ${(r.hpa ? r.hpa.toFixed(1) : '-').padStart(13)}  ${ratio.padEnd(33)} ${floorCol.padStart(15)}  ${cpuCol}`);
}
