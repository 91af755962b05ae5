// Collect a lab process's stdout/stderr lines (split on \n and \r) and notice when it exits:
// what the reference chain, the site DHCP server and the lab bootserver all need to wait for
// their "ready" line and to explain a failed start.
import type { ResultPromise } from 'execa';
import { performance } from 'node:perf_hooks';
import { splitLines } from '../lib/process.ts';

export interface CollectedLine {
  /** ms since collection started. */
  atMs: number;
  text: string;
}

export interface ChildOutput {
  lines(): CollectedLine[];
  texts(): string[];
  readonly exited: boolean;
  /** Resolve once a line matches; reject with the output so far if the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<void>;
}

export function collectOutput(child: ResultPromise, startedAt = performance.now()): ChildOutput {
  const lines: CollectedLine[] = [];
  let exited = false;
  const collect = async (stream: AsyncIterable<Buffer> | null | undefined) => {
    if (!stream) return;
    for await (const text of splitLines(stream)) lines.push({ atMs: Math.round(performance.now() - startedAt), text });
  };
  void collect(child.stdout as AsyncIterable<Buffer> | null);
  void collect(child.stderr as AsyncIterable<Buffer> | null);
  void Promise.resolve(child).then(
    () => (exited = true),
    () => (exited = true),
  );
  return {
    lines: () => [...lines],
    texts: () => lines.map((l) => l.text),
    get exited() {
      return exited;
    },
    async waitFor(pattern, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!lines.some((l) => pattern.test(l.text))) {
        if (exited || Date.now() > deadline) throw new Error(`${what} did not start${exited ? ' (it exited)' : ''}:\n${lines.map((l) => l.text).join('\n')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/**
 * Run dnsmasq in a lab with a private temp dir (leases, TFTP root), wait for its ready line and
 * register its teardown (kill by PID, remove the dir) with the lab. Used by the reference chain and
 * the site DHCP server.
 */
export async function startLabDnsmasq(
  lab: { spawn: (cmd: string, args: readonly string[], options?: import('execa').Options) => ResultPromise; defer: (fn: () => Promise<void> | void) => void },
  o: { dir: string; args: string[]; ready: RegExp; what: string; startedAt?: number; onStopped?: () => void },
): Promise<{ output: ChildOutput; stop(): Promise<void> }> {
  const { rm } = await import('node:fs/promises');
  const child = lab.spawn('dnsmasq', o.args, { buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const output = collectOutput(child, o.startedAt);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    await child.catch(() => undefined);
    await rm(o.dir, { recursive: true, force: true });
    o.onStopped?.();
  };
  lab.defer(stop);
  try {
    await output.waitFor(o.ready, 5000, o.what);
  } catch (error) {
    await stop();
    throw error;
  }
  return { output, stop };
}
