// TFTP throughput: our server vs tftp-hpa's in.tftpd, same machine, same run, same client (atftp).
//
//   node bench/tftp.ts [--runs 3] [--mib 64]
//
// Both servers run as separate processes on 127.0.0.1 and serve the same 64 MiB random file.
// Each configuration is timed `runs` times, servers alternating, and the median is reported.
// tftp-hpa has no windowsize (it ignores the option), so "ours ws16 vs tftp-hpa best" compares
// our windowed transfer with tftp-hpa's fastest configuration.

import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
const hpaPort = await freePort();
const hpa = execa('in.tftpd', ['-L', '-a', `127.0.0.1:${hpaPort}`, '-s', root], { stdout: 'ignore', stderr: 'inherit', reject: false });
await new Promise((r) => setTimeout(r, 800));

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

type Row = { label: string; ours: number; hpa: number | null };
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
    for (let i = 0; i < runs; i++) {
      o.push(await timeOne(oursPort, blksize, windowsize));
      if (windowsize === 1) h.push(await timeOne(hpaPort, blksize, 1));
    }
    rows.push({ label: `blksize ${blksize}, windowsize ${windowsize}`, ours: median(o), hpa: h.length ? median(h) : null });
  }
} finally {
  ours.kill('SIGTERM');
  hpa.kill('SIGTERM');
  await Promise.allSettled([ours, hpa]);
  await rm(dir, { recursive: true, force: true });
}

const hpaBest = Math.max(...rows.map((r) => r.hpa ?? 0));
console.log(`TFTP ${mib} MiB over loopback, atftp client, median of ${runs} (MB/s = 10^6 bytes/s)`);
console.log('configuration                     ours MB/s  tftp-hpa MB/s  ratio');
for (const r of rows) {
  const ratio = r.hpa ? (r.ours / r.hpa).toFixed(2) + 'x' : `${(r.ours / hpaBest).toFixed(2)}x vs tftp-hpa best (${hpaBest.toFixed(1)})`;
  console.log(`${r.label.padEnd(33)} ${r.ours.toFixed(1).padStart(9)}  ${(r.hpa ? r.hpa.toFixed(1) : '-').padStart(13)}  ${ratio}`);
}
