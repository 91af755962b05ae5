// Shared pieces of the TFTP tests: temp roots with random files, an in-process server, the
// standalone server as a child process (optionally inside a netns), and a raw UDP client that
// speaks TFTP by hand so tests can assert on exact packets.

import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { silentLogger } from '../../lib/logger.ts';
import { execa } from '../../lib/process.ts';
import { OP_ACK, OP_DATA, OP_OACK, OP_RRQ, parsePacket, serializePacket, type TftpPacket } from '../../bootserver/tftp/codec.ts';
import type { TftpFileSource } from '../../bootserver/tftp/files.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions, type TftpServerStats } from '../../bootserver/tftp/server.ts';

export const STANDALONE = path.join(import.meta.dirname, '../../bootserver/tftp/standalone.ts');

export async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `ni-tftp-${prefix}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Write `size` random bytes to root/name; returns the sha256. */
export async function randomFile(root: string, name: string, size: number): Promise<string> {
  const data = randomBytes(size);
  await mkdir(path.dirname(path.join(root, name)), { recursive: true });
  await writeFile(path.join(root, name), data);
  return sha256(data);
}

export async function startServer(
  t: ExecutionContext,
  source: TftpFileSource,
  options: Partial<TftpServerOptions> = {},
): Promise<TftpServer> {
  const server = await startTftpServer({ host: '127.0.0.1', port: 0, source, log: silentLogger, ...options });
  t.teardown(() => server.stop());
  return server;
}

export interface ChildServer {
  port: number;
  pid: number;
  alive(): boolean;
  /** Every stdout line so far (pino JSON at level warn and up, plus the ready/stopped lines). */
  lines: string[];
  /** Log records at level error (50) and up: handler errors the server caught and logged. */
  errors(): Array<Record<string, unknown>>;
  /** SIGTERM, wait for the exit; the server's counters from its last line, or null if it died otherwise. */
  stop(): Promise<TftpServerStats | null>;
}

/**
 * The standalone server as a child process (inside `netns` when given). Resolves once it logged
 * its port; killed (by pid) in teardown.
 */
export async function startChildServer(t: ExecutionContext, root: string, args: string[] = [], netns?: string): Promise<ChildServer> {
  // A single argument ending in .json is a config file; otherwise flags.
  const cmd =
    args.length === 1 && args[0]!.endsWith('.json')
      ? [process.execPath, STANDALONE, args[0]!]
      : [process.execPath, STANDALONE, '--root', root, '--host', '127.0.0.1', '--port', '0', ...args];
  const child = netns
    ? execa('ip', ['netns', 'exec', netns, ...cmd], { reject: false, buffer: false, env: { NETIMAGE_LOG_LEVEL: 'warn' } })
    : execa(cmd[0]!, cmd.slice(1), { reject: false, buffer: false, env: { NETIMAGE_LOG_LEVEL: 'warn' } });
  let exited = false;
  void child.then(() => (exited = true));
  t.teardown(async () => {
    if (!exited) child.kill('SIGTERM');
    await Promise.race([child, new Promise((r) => setTimeout(r, 3000))]);
    if (!exited) child.kill('SIGKILL');
  });
  const reader = createInterface({ input: child.stdout! });
  const lines: string[] = [];
  reader.on('line', (line) => lines.push(line));
  const records = () =>
    lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('standalone server did not start')), 10_000);
    reader.on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'tftp listening' && typeof rec.port === 'number') {
          clearTimeout(timer);
          resolve(rec.port);
        }
      } catch {
        // not JSON
      }
    });
    void child.then(() => reject(new Error('standalone server exited')));
  });
  return {
    port,
    pid: child.pid!,
    alive: () => !exited,
    lines,
    errors: () => records().filter((r) => Number(r['level']) >= 50),
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await child;
      await new Promise((r) => setImmediate(r)); // the last lines reach the reader
      const last = records().find((r) => r['msg'] === 'tftp stopped');
      return (last?.['stats'] as TftpServerStats | undefined) ?? null;
    },
  };
}

export interface Received {
  packet: TftpPacket | null;
  raw: Buffer;
  rinfo: RemoteInfo;
}

/** A hand-driven TFTP peer on 127.0.0.1 for exact assertions on what the server sends. */
export class RawClient {
  readonly socket: Socket;
  private readonly queue: Received[] = [];
  private waiter: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (raw, rinfo) => {
      const parsed = parsePacket(raw);
      this.queue.push({ packet: parsed.ok ? parsed.packet : null, raw, rinfo });
      this.waiter?.();
    });
  }

  static async open(t: ExecutionContext): Promise<RawClient> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
    return new RawClient(socket);
  }

  send(port: number, data: Buffer | TftpPacket): void {
    this.socket.send(Buffer.isBuffer(data) ? data : serializePacket(data), port, '127.0.0.1');
  }

  rrq(port: number, filename: string, options: Record<string, string> = {}): void {
    this.send(port, { op: OP_RRQ, filename, mode: 'octet', options, optionOrder: Object.keys(options) });
  }

  ack(port: number, block: number): void {
    this.send(port, { op: OP_ACK, block: block & 0xffff });
  }

  /** Next packet, or null after `ms` without one. */
  async next(ms = 2000): Promise<Received | null> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, ms);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.queue.shift() ?? null;
  }

  /** Everything that arrives within `ms`. */
  async collect(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  /**
   * A complete download: RRQ with `options`, ACK each window's last block (or each block when
   * windowsize is 1). Returns the content, or throws on an ERROR or a stall.
   */
  async download(port: number, filename: string, options: Record<string, string> = {}): Promise<Buffer> {
    this.rrq(port, filename, options);
    const chunks: Buffer[] = [];
    let blksize = 512;
    let windowsize = 1;
    let expected = 1;
    let inWindow = 0;
    for (;;) {
      const r = await this.next(3000);
      if (!r) throw new Error(`download of ${filename} stalled at block ${expected}`);
      const p = r.packet;
      if (!p) continue;
      if (p.op === OP_OACK) {
        blksize = Number(p.options['blksize'] ?? 512);
        windowsize = Number(p.options['windowsize'] ?? 1);
        this.ack(r.rinfo.port, 0);
        continue;
      }
      if (p.op !== OP_DATA) throw new Error(`unexpected packet ${JSON.stringify(p)}`);
      if (p.block !== (expected & 0xffff)) continue;
      chunks.push(Buffer.from(p.data));
      expected++;
      inWindow++;
      const last = p.data.length < blksize;
      if (last || inWindow === windowsize) {
        this.ack(r.rinfo.port, p.block);
        inWindow = 0;
      }
      if (last) return Buffer.concat(chunks);
    }
  }
}

/**
 * Create a network namespace with lo up and the given iptables rules (argument lists); deleted in
 * teardown. This kernel has no sch_netem, so loss and duplication are injected with iptables:
 * `-m statistic --mode random` + DROP for loss, + TEE (in mangle) for duplicates.
 */
export async function netnsWithLoopback(t: ExecutionContext, tag: string, iptablesRules: string[][]): Promise<string> {
  const name = `ni-tftp-${tag}-${process.pid}`;
  await execa('ip', ['netns', 'add', name]);
  t.teardown(() => execa('ip', ['netns', 'del', name], { reject: false }).then(() => undefined));
  await execa('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  for (const rule of iptablesRules) await execa('ip', ['netns', 'exec', name, 'iptables', ...rule]);
  return name;
}

/** Packets matched by the rules of one iptables table in a netns (to prove loss was injected). */
export async function iptablesMatched(netns: string, table: string, target: string): Promise<number> {
  const { stdout } = await execa('ip', ['netns', 'exec', netns, 'iptables', '-t', table, '-L', '-v', '-n', '-x']);
  let total = 0;
  for (const line of stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[2] === target) total += Number(cols[0]);
  }
  return total;
}

export async function mkfifo(file: string): Promise<void> {
  await execa('mkfifo', [file]);
}

export type Client = 'atftp' | 'curl' | 'tftp-hpa';

/** Download `name` with a real client; resolves to the local file's path. */
export async function fetchWith(
  client: Client,
  port: number,
  name: string,
  out: string,
  opts: { blksize?: number; windowsize?: number } = {},
  netns?: string,
): Promise<string> {
  let cmd: string[];
  if (client === 'atftp') {
    // 1 s keeps the loss tests (in their own netns) quick; on loopback a loaded CI host (QEMU
    // next door) can stall atftp for over a second, and atftp gives up after a few timeouts.
    cmd = ['atftp', '--tftp-timeout', netns ? '1' : '3', '-g', '-r', name, '-l', out];
    if (opts.blksize) cmd.push('--option', `blksize ${opts.blksize}`);
    if (opts.windowsize) cmd.push('--option', `windowsize ${opts.windowsize}`);
    cmd.push('127.0.0.1', String(port));
  } else if (client === 'curl') {
    cmd = ['curl', '-sS', '--fail', '--max-time', '60', '-o', out];
    if (opts.blksize) cmd.push('--tftp-blksize', String(opts.blksize));
    cmd.push(`tftp://127.0.0.1:${port}/${name}`);
  } else {
    // tftp-hpa speaks plain RFC 1350 (no options); binary mode for exact bytes.
    cmd = ['tftp', '-m', 'binary', '127.0.0.1', String(port), '-c', 'get', name, out];
  }
  if (netns) cmd = ['ip', 'netns', 'exec', netns, ...cmd];
  await execa(cmd[0]!, cmd.slice(1), { timeout: 90_000 });
  return out;
}


/** Poll `cond` until true or `ms` elapsed (the server may see a final ACK after the client exits). */
export async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
