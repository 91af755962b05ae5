// Waiting for a server child process (`netimage serve`) to say it is ready. On a loaded test
// machine (2 cores, two test files at a time, other work beside) a start can take far longer
// than on a desk, so the deadline is generous; a real failure is not hidden by it: a process
// that ends before its ready line fails the wait at once, with everything it printed.
import type { ChildProcess } from 'node:child_process';

/** Long, but well inside ava's 5 min timeout, so a hung start still ends with its output. */
export const SERVER_START_DEADLINE_MS = 180_000;

export interface WatchedProcess {
  /** Resolves with stdout so far once `ready` matches it. */
  ready: Promise<string>;
  /** stdout and stderr as printed so far, interleaved. */
  output(): string;
  stdout(): string;
}

export function watchStart(child: ChildProcess, ready: RegExp, deadlineMs = SERVER_START_DEADLINE_MS): WatchedProcess {
  let stdout = '';
  let all = '';
  const promise = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready (${ready}) within ${deadlineMs / 1000} s; it printed:\n${all}`)), deadlineMs);
    const settle = (f: () => void) => {
      clearTimeout(timer);
      child.off('close', onClose);
      f();
    };
    // 'close', not 'exit': by then all of its output has been read.
    const onClose = (code: number | null, signal: string | null) => settle(() => reject(new Error(`exited (code ${code}, signal ${signal}) before it was ready; it printed:\n${all}`)));
    child.once('close', onClose);
    child.once('error', (error) => settle(() => reject(error)));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      all += chunk.toString();
      if (ready.test(stdout)) settle(() => resolve(stdout));
    });
    child.stderr?.on('data', (chunk: Buffer) => (all += chunk.toString()));
  });
  return { ready: promise, output: () => all, stdout: () => stdout };
}
