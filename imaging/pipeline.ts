// Two tools joined by a kernel pipe (partclone | zstd, zstd -dc | partclone.restore).
// The consumer is spawned with stdin 'pipe' and that pipe is handed to the producer as its
// stdout, so the data never passes through JS (measured: pumping through Node costs 10-25 %
// wall time; handing child.stdout to another spawn can lose data). lib/process.ts (execa)
// would buffer or pump the streams, which is why this one place uses node:child_process.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { splitLines } from '../lib/process.ts';

export interface Stage {
  file: string;
  args: string[];
}

export interface StageResult {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Last stderr lines (split on \r and \n). */
  stderrTail: string[];
}

export interface PipelineOptions {
  producer: Stage;
  consumer: Stage;
  /** fd the producer reads from ('ignore' = /dev/null). */
  producerStdin?: number | 'ignore';
  /** fd the consumer writes to ('ignore' = /dev/null). */
  consumerStdout?: number | 'ignore';
  onProducerLine?: (line: string) => void;
  onConsumerLine?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

export interface PipelineResult {
  producer: StageResult;
  consumer: StageResult;
  ok: boolean;
}

const TAIL = 40;

function watch(child: ChildProcess, stage: Stage, onLine?: (line: string) => void): Promise<StageResult> {
  const tail: string[] = [];
  const lines = (async () => {
    if (!child.stderr) return;
    for await (const line of splitLines(child.stderr as Readable)) {
      tail.push(line);
      if (tail.length > TAIL) tail.shift();
      onLine?.(line);
    }
  })();
  return new Promise((resolve) => {
    let spawnError: Error | null = null;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      void lines.finally(() => {
        if (spawnError) tail.push(String(spawnError));
        resolve({ command: [stage.file, ...stage.args].join(' '), exitCode: code, signal, stderrTail: tail });
      });
    });
  });
}

export async function runPipeline(opts: PipelineOptions): Promise<PipelineResult> {
  const consumer = spawn(opts.consumer.file, opts.consumer.args, { stdio: ['pipe', opts.consumerStdout ?? 'ignore', 'pipe'] });
  const consumerDone = watch(consumer, opts.consumer, opts.onConsumerLine);
  // Avoid an unhandled EPIPE on our copy of the pipe; we close it right away anyway.
  consumer.stdin?.on('error', () => undefined);
  const producer = spawn(opts.producer.file, opts.producer.args, {
    stdio: [opts.producerStdin ?? 'ignore', consumer.stdin ?? 'ignore', 'pipe'],
  });
  // The producer holds its own copy of the write end; ours must go or the consumer never sees EOF.
  consumer.stdin?.destroy();
  const producerDone = watch(producer, opts.producer, opts.onProducerLine);

  const abort = () => {
    for (const c of [producer, consumer]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  if (opts.signal?.aborted) abort();
  opts.signal?.addEventListener('abort', abort, { once: true });
  try {
    const [p, c] = await Promise.all([producerDone, consumerDone]);
    return { producer: p, consumer: c, ok: p.exitCode === 0 && c.exitCode === 0 };
  } finally {
    opts.signal?.removeEventListener('abort', abort);
  }
}

/** One line explaining which stage of a failed pipeline failed and how. */
export function pipelineFailure(r: PipelineResult): string {
  return [r.producer, r.consumer].filter((s) => s.exitCode !== 0).map(stageFailure).join('; ');
}

/** How one failed stage failed, with the end of its stderr. */
export function stageFailure(s: StageResult): string {
  const how = s.signal ? `killed by ${s.signal}` : `exit ${s.exitCode}`;
  const tail = s.stderrTail.filter((l) => !/^\s*$/.test(l)).slice(-4).join(' | ');
  return `${s.command.split(' ')[0]} ${how}${tail ? `: ${tail}` : ''}`;
}

/**
 * One tool whose stdout Node reads (the chunked backup cuts partclone's stream into frames; it
 * has to see the bytes, so they pass through JS once). `kill` ends it (abort, reader failure).
 */
export function spawnReadable(stage: Stage, opts: { onLine?: ((line: string) => void) | undefined; signal?: AbortSignal | undefined } = {}): {
  stdout: Readable;
  done: Promise<StageResult>;
  kill: () => void;
} {
  const child = spawn(stage.file, stage.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  if (opts.signal?.aborted) kill();
  opts.signal?.addEventListener('abort', kill, { once: true });
  const done = watch(child, stage, opts.onLine).finally(() => opts.signal?.removeEventListener('abort', kill));
  return { stdout: child.stdout!, done, kill };
}
