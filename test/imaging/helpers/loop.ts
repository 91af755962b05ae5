// Loop devices over sparse files in a temp dir, detached in teardown (also when a test fails).
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { run, runAllowFailure } from '../../../lib/process.ts';

export const ROOT = new URL('../../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'imaging/cli.ts');
export const MiB = 1024 * 1024;

export interface Loop {
  path: string;
  dir: string;
}

export async function createLoop(t: ExecutionContext, sizeBytes: number, sectorSize = 512): Promise<Loop> {
  const dir = await mkdtemp(join(tmpdir(), 'ni-imaging-'));
  const file = join(dir, 'disk.img');
  await writeFile(file, '');
  await truncate(file, sizeBytes);
  const { stdout } = await run('losetup', ['-f', '--show', '--sector-size', String(sectorSize), file]);
  const path = stdout.trim();
  t.teardown(async () => {
    // Partitions first (partx added them), then the loop itself; retry while a dying namespace lets go.
    for (let i = 0; i < 20; i++) {
      await runAllowFailure('partx', ['-d', path]);
      const r = await runAllowFailure('losetup', ['-d', path]);
      if (r.exitCode === 0) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    await rm(dir, { recursive: true, force: true });
  });
  return { path, dir };
}

export interface CliResult {
  ok: boolean;
  result?: any;
  error?: string;
  stderr: string;
  exitCode: number | null;
}

/** Run the imaging CLI in its own private mount namespace. */
export function cli(args: string[], opts: { onStderrLine?: (line: string, kill: () => void) => void; mountBase?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['-m', '--propagation', 'private', process.execPath, CLI, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(opts.mountBase ? { NETIMAGE_MOUNT_BASE: opts.mountBase } : {}), ...opts.env },
    });
    let out = '';
    let err = '';
    let pending = '';
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      const s = c.toString();
      err += s;
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) opts.onStderrLine?.(l, kill);
    });
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      let parsed: { ok: boolean; result?: unknown; error?: string } = { ok: false, error: `no JSON result (exit ${code})` };
      try {
        parsed = JSON.parse(last);
      } catch {
        /* keep default */
      }
      resolve({ ...parsed, stderr: err, exitCode: code });
    });
  });
}

/** Run a helper script (fsdata.ts) in a private mount namespace; returns its JSON output. */
export async function helper(args: string[]): Promise<any> {
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/fsdata.ts'), ...args], { maxBuffer: 64 * MiB });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null');
}

/** sha256 of a device, or of its first `bytes`. */
export async function sha256Device(dev: string, bytes?: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(dev, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 * MiB);
    let left = bytes ?? Number.MAX_SAFE_INTEGER;
    while (left > 0) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, left), null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      left -= bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** Overwrite part of a partition with random data (the "damage" step). */
export async function damage(dev: string, offsetMiB: number, mib: number): Promise<void> {
  await run('dd', ['if=/dev/urandom', `of=${dev}`, 'bs=1M', `seek=${offsetMiB}`, `count=${mib}`, 'conv=notrunc,fsync', 'status=none']);
}
