// The native sender (native/tftpsend.c): where it is, how it is built, and the Node side of its
// line protocol. Node decides everything about a request (access, negotiation, the OACK) and hands
// the helper the opened file (as /proc/<pid>/fd/<n>, the very descriptor the access checks ran
// on), the options and the client's address; the helper forks one process per transfer that runs
// the lock-step or windowed send loop in C and reports the result, which Node counts and logs.
// Why: at windowsize 1 Node's per-datagram cost made us 0.82x tftp-hpa, on one core
// (docs/performance.md "TFTP"). Without the helper (not built, NETIMAGE_TFTP_SENDER=off, or it
// died) transfers run in Node (transfer.ts), same rules.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../lib/logger.ts';
import { execa, run, splitLines } from '../../lib/process.ts';
import type { TransferResult } from './transfer.ts';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'native', 'tftpsend.c');
/** Same cache as the chunk helpers (imaging/chunked/native.ts): one dir per source hash. */
export const SENDER_CACHE = 'var/native';

export function senderSourceHash(): string | null {
  try {
    return createHash('sha256').update('tftpsend').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  } catch {
    return null;
  }
}

/**
 * The helper to use, or null for the Node path. NETIMAGE_TFTP_SENDER=off forces Node,
 * =FILE takes that binary; otherwise var/native/<hash>/tftpsend under the checkout if built.
 */
export function findTftpSender(root: string = process.env['NETIMAGE_ROOT'] ?? join(dirname(SOURCE), '../../..')): string | null {
  const env = process.env['NETIMAGE_TFTP_SENDER'];
  if (env === 'off') return null;
  if (env) return existsSync(env) ? env : null;
  const hash = senderSourceHash();
  if (!hash) return null;
  const file = join(root, SENDER_CACHE, hash, 'tftpsend');
  return existsSync(file) ? file : null;
}

/** Compile the helper into `<cacheRoot>/<hash>/tftpsend` unless it is there; returns its path. */
export async function buildTftpSender(cacheRoot: string): Promise<string> {
  const hash = senderSourceHash();
  if (!hash) throw new Error(`the TFTP sender's source is missing: ${SOURCE}`);
  const out = join(cacheRoot, hash, 'tftpsend');
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run('gcc', ['-O2', '-Wall', '-Wextra', '-o', tmp, SOURCE]);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}

export interface NativeJob {
  /** /proc/<pid>/fd/<n> of the checked descriptor, or a plain path. */
  file: string;
  size: number;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  bindHost: string;
  clientAddress: string;
  clientPort: number;
  /** The serialized OACK, null when none is sent. */
  oack: Buffer | null;
}

interface Pending {
  started: (port: number) => void;
  failed: (error: Error) => void;
  onEnd: ((result: TransferResult) => void) | null;
  running: boolean;
}

export interface NativeTransfer {
  port: number;
  abort(reason: string): void;
}

export class NativeSender {
  private readonly child: ReturnType<typeof execa>;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private dead = false;
  readonly exited: Promise<void>;

  constructor(binary: string, log: Logger) {
    const child = execa(binary, [], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false, buffer: false, cleanup: true });
    this.child = child;
    // New transfers go to Node as soon as the helper is gone; its transfer processes end
    // themselves then (PR_SET_PDEATHSIG) and still report on stdout until the last one closes it.
    child.nodeChildProcess.on('exit', () => (this.dead = true));
    this.exited = (async () => {
      for await (const line of splitLines(child.stdout)) this.onLine(line);
      const result = await child;
      this.dead = true;
      const unexpected = this.pending.size > 0 || (result.exitCode !== 0 && !result.isTerminated);
      if (unexpected) log.error({ exitCode: result.exitCode, signal: result.signal, active: this.pending.size }, 'tftp native sender exited; transfers fall back to Node');
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        if (p.running) p.onEnd?.({ ok: false, reason: 'native sender exited', bytesSent: 0, packetsSent: 0, resentWindows: 0, duplicateAcks: 0, ms: 0 });
        else p.failed(new Error('native sender exited'));
      }
    })();
    this.child.stdin!.on('error', () => undefined); // EPIPE after the helper died: handled by `exited`
  }

  get alive(): boolean {
    return !this.dead;
  }

  private onLine(line: string): void {
    const f = line.split(' ');
    const p = this.pending.get(f[1] ?? '');
    if (!p) return;
    if (f[0] === 'P') {
      p.running = true;
      p.started(Number(f[2]));
    } else if (f[0] === 'F') {
      this.pending.delete(f[1]!);
      p.failed(new Error(f.slice(2).join(' ')));
    } else if (f[0] === 'E') {
      this.pending.delete(f[1]!);
      const reason = f.slice(8).join(' ');
      p.onEnd?.({
        ok: f[2] === '1',
        ...(f[2] === '1' ? {} : { reason }),
        bytesSent: Number(f[3]),
        packetsSent: Number(f[4]),
        resentWindows: Number(f[5]),
        duplicateAcks: Number(f[6]),
        ms: Number(f[7]) / 1000,
      });
    }
  }

  /**
   * Start a transfer; resolves once the helper has opened the file and the socket (the caller
   * may close its descriptor then) and sent the first packet's worth of work is under way.
   */
  start(job: NativeJob, onEnd: (result: TransferResult) => void): Promise<NativeTransfer> {
    if (this.dead) return Promise.reject(new Error('native sender exited'));
    const id = String(this.nextId++);
    const fields = [
      'S', id, job.file, job.size, job.blksize, job.windowsize, job.timeoutMs, job.retries,
      job.bindHost, job.clientAddress, job.clientPort, job.oack ? job.oack.toString('hex') : '-',
    ];
    // The path is Node's own /proc entry or a checked boot file name: never a space or newline.
    if (/[\s]/.test(job.file)) return Promise.reject(new Error('file name not usable by the native sender'));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        running: false,
        onEnd,
        started: (port) =>
          resolve({
            port,
            abort: () => {
              if (!this.dead) this.child.stdin!.write(`K ${id}\n`);
            },
          }),
        failed: reject,
      };
      this.pending.set(id, pending);
      this.child.stdin!.write(`${fields.join(' ')}\n`);
    });
  }

  /** Abort what runs (the helper answers each client with an ERROR) and wait for the exit. */
  async stop(): Promise<void> {
    if (!this.dead) this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
