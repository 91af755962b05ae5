// Shared plumbing for the DHCP tests: fixtures, a two-namespace test network, the standalone
// server inside a namespace. Everything created here is removed by the returned cleanup.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DhcpConfigInput } from '../../bootserver/dhcp/config.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'dhcp');
export const NODE = process.execPath;

export function fixture(name: string): Buffer {
  return Buffer.from(readFileSync(join(FIXTURES, name), 'utf8').replace(/\s+/g, ''), 'hex');
}

/** Every captured packet: [relative name, bytes]. */
export function allFixtures(): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const dir of ['full', 'proxy', 'perfdhcp']) {
    for (const f of readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith('.hex')).sort()) {
      out.push([`${dir}/${f}`, fixture(`${dir}/${f}`)]);
    }
  }
  return out;
}

export function sh(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface TestNet {
  /** Server namespace: veth `vs` with `serverIp`/prefix. */
  serverNs: string;
  /** Client namespace: veth `vc`, no address (DHCP clients configure it). */
  clientNs: string;
  serverIp: string;
  cleanup(): void;
}

/**
 * Two namespaces joined by a veth pair, 10.<octet>.0.0/16 on the server side. A unique octet per
 * test file keeps parallel tests apart; the pid keeps parallel runs apart.
 */
export function makeTestNet(tag: string, octet: number): TestNet {
  const serverNs = `ni-dhs-${tag}-${process.pid}`;
  const clientNs = `ni-dhc-${tag}-${process.pid}`;
  const serverIp = `10.${octet}.0.1`;
  const cleanup = () => {
    for (const ns of [serverNs, clientNs]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  };
  try {
    sh(['ip', 'netns', 'add', serverNs]);
    sh(['ip', 'netns', 'add', clientNs]);
    sh(['ip', '-n', serverNs, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', clientNs, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', serverNs, 'link', 'add', 'vs', 'type', 'veth', 'peer', 'name', 'vc', 'netns', clientNs]);
    sh(['ip', '-n', serverNs, 'addr', 'add', `${serverIp}/16`, 'dev', 'vs']);
    sh(['ip', '-n', serverNs, 'link', 'set', 'vs', 'up']);
    sh(['ip', '-n', clientNs, 'link', 'set', 'vc', 'up']);
  } catch (error) {
    cleanup();
    throw error;
  }
  return { serverNs, clientNs, serverIp, cleanup };
}

export interface RunningServer {
  process: ChildProcess;
  lines: string[];
  leaseDb: string | undefined;
  /** SIGTERM the server and wait for it (the lease DB stays readable). */
  stop(): Promise<void>;
  /** stop() and remove the temp dir: for t.teardown. */
  dispose(): Promise<void>;
}

/** Start bootserver/dhcp/standalone.ts inside `ns` (or on the host when ns is undefined). */
export async function startStandalone(
  ns: string | undefined,
  config: DhcpConfigInput,
  /** logFile: server stdout goes to a file (benchmarks: the reader is then not in the data path). */
  options: { leaseDb?: boolean; level?: string; logFile?: boolean } = {},
): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ni-dhcp-'));
  const leaseDb = options.leaseDb ? join(dir, 'leases.db') : undefined;
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ ...config, ...(leaseDb ? { leaseDb } : {}) }));
  const args = [join(ROOT, 'bootserver', 'dhcp', 'standalone.ts'), configPath];
  const env = { ...process.env, NETIMAGE_LOG_LEVEL: options.level ?? 'debug' };
  const logPath = join(dir, 'server.log');
  const logFd = options.logFile ? openSync(logPath, 'w') : undefined;
  const stdio: ['ignore', 'pipe' | number, 'pipe'] = ['ignore', logFd ?? 'pipe', 'pipe'];
  const child = ns ? spawn('ip', ['netns', 'exec', ns, NODE, ...args], { env, stdio }) : spawn(NODE, args, { env, stdio });
  if (logFd !== undefined) closeSync(logFd);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let pending = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready: ${stderr}`)), 15_000);
    if (logFd !== undefined) {
      const poll = setInterval(() => {
        if (readFileSync(logPath, 'utf8').includes('standalone DHCP server ready')) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve();
        }
      }, 50);
      child.once('exit', () => clearInterval(poll));
      return;
    }
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (line.includes('standalone DHCP server ready')) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before ready: ${stderr}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  const dispose = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await dispose();
    throw error;
  }
  return { process: child, lines, leaseDb, stop, dispose };
}

/** Parsed JSON log lines of a running server. */
export function logEntries(server: RunningServer): Array<Record<string, unknown>> {
  return server.lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** UDP ports that were free a moment ago (bound to port 0, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    sockets.push(s);
  }
  const ports = sockets.map((s) => s.address().port);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
