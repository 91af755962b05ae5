// Collect a child process's output lines (split on \n and \r) with timestamps, and notice when it
// exits: what the reference chain, the site DHCP server and the lab bootserver need to wait for
// their "ready" line and to explain a failed start, and what a VM's serial console needs (QEMU's
// stdout, with prompts that never end in a newline).
import type { ResultPromise } from 'execa';
import { performance } from 'node:perf_hooks';

export interface CollectedLine {
  /** ms since collection started, when the line's first byte arrived. */
  atMs: number;
  text: string;
}

/**
 * A line as listeners see it: `index` is its place in lines(). A quiet partial line (complete =
 * false) gets the index it will have once ended, and is offered again as complete then.
 */
export type LineListener = (line: CollectedLine, index: number, complete: boolean) => void;

export interface CollectOptions {
  /** performance.now() at launch; line times are relative to it. Default: now. */
  startedAt?: number;
  /** Which streams make lines (default both). */
  streams?: ReadonlyArray<'stdout' | 'stderr'>;
  /** Read these instead of the child's own pipes (a VM's serial console comes through a FIFO: vm-harness/serial-pipe.ts). */
  from?: Partial<Record<'stdout' | 'stderr', NodeJS.ReadableStream>>;
  /** Default utf8. A serial console is bytes: latin1 keeps every byte one character. */
  encoding?: BufferEncoding;
  /** The text kept for a raw line (e.g. terminal escapes removed). Lines empty or blank after it are dropped. */
  clean?: (raw: string) => string;
  /**
   * A partial line (no newline yet) that stayed unchanged this long is offered to listeners as a
   * line (a prompt such as grub's "grub>"); it is only added to lines() once it is ended. A line
   * arriving in pieces must not match half-written, hence the wait. Default: never.
   */
  quietMs?: number;
}

export interface ChildOutput {
  lines(): CollectedLine[];
  texts(): string[];
  readonly exited: boolean;
  /** Resolves when every collected stream has ended and its last partial line was added. */
  readonly ended: Promise<void>;
  /** Resolve once a line matches; reject with the output so far if the process exits or time runs out. */
  waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<void>;
  /** Call `listener` for every line from now on (and quiet partial lines); returns the unsubscribe. */
  onLine(listener: LineListener): () => void;
  /** The not yet ended last line, cleaned; `quiet` once it has been unchanged for quietMs. */
  partial(): (CollectedLine & { quiet: boolean }) | null;
}

/** Splits one stream's chunks into lines; a line is stamped with the arrival of its first byte. */
class LineSplitter {
  #pending = '';
  #pendingAt = 0;
  readonly #emit: (raw: string, atMs: number) => void;
  constructor(emit: (raw: string, atMs: number) => void) {
    this.#emit = emit;
  }
  get pending(): { text: string; atMs: number } | null {
    return this.#pending.length > 0 ? { text: this.#pending, atMs: this.#pendingAt } : null;
  }
  push(text: string, atMs: number): void {
    if (this.#pending.length === 0) this.#pendingAt = atMs;
    this.#pending += text;
    const parts = this.#pending.split(/\r\n|\r|\n/);
    this.#pending = parts.pop() ?? '';
    for (const part of parts) this.#emit(part, this.#pendingAt);
    if (parts.length > 0) this.#pendingAt = atMs;
  }
  end(): void {
    if (this.#pending.length > 0) this.#emit(this.#pending, this.#pendingAt);
    this.#pending = '';
  }
}

export function collectOutput(child: ResultPromise, options: CollectOptions = {}): ChildOutput {
  const startedAt = options.startedAt ?? performance.now();
  const clean = options.clean ?? ((raw: string) => raw);
  const lines: CollectedLine[] = [];
  const listeners = new Set<LineListener>();
  let exited = false;
  let quiet = false;
  let quietTimer: NodeJS.Timeout | undefined;
  const now = () => Math.round(performance.now() - startedAt);
  const notify = (line: CollectedLine, index: number, complete: boolean) => {
    for (const listener of [...listeners]) listener(line, index, complete);
  };
  const add = (raw: string, atMs: number) => {
    const text = clean(raw);
    if (text.trim().length === 0) return;
    const line = { atMs, text };
    lines.push(line);
    notify(line, lines.length - 1, true);
  };
  const splitters: LineSplitter[] = [];
  const streamsEnded = (options.streams ?? ['stdout', 'stderr']).map((name) => {
    const stream = options.from?.[name] ?? child[name];
    if (!stream) return Promise.resolve();
    const splitter = new LineSplitter(add);
    splitters.push(splitter);
    stream.on('data', (chunk: Buffer) => {
      quiet = false;
      splitter.push(chunk.toString(options.encoding ?? 'utf8'), now());
      clearTimeout(quietTimer);
      if (options.quietMs !== undefined && splitter.pending) quietTimer = setTimeout(offerQuietPartial, options.quietMs);
    });
    return new Promise<void>((resolve) => stream.once('close', resolve)).then(() => splitter.end());
  });
  const partial = (): (CollectedLine & { quiet: boolean }) | null => {
    for (const splitter of splitters) {
      const p = splitter.pending;
      if (p) return { text: clean(p.text), atMs: p.atMs, quiet };
    }
    return null;
  };
  const offerQuietPartial = () => {
    quiet = true;
    const p = partial();
    if (p) notify({ text: p.text, atMs: p.atMs }, lines.length, false);
  };
  const ended = Promise.all(streamsEnded).then(() => clearTimeout(quietTimer));
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
    ended,
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    partial,
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
  const output = collectOutput(child, o.startedAt === undefined ? {} : { startedAt: o.startedAt });
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
