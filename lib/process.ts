// The one process runner (execa). Disk tools report progress with '\r' (partclone, wimlib),
// so line iteration here splits on both '\r' and '\n'.
import { execa, type Options } from 'execa';
import { NetimageError } from './errors.ts';

export { execa };

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class CommandError extends NetimageError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(command: string, exitCode: number | undefined, stderr: string, cause?: unknown) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super('failed', `${command} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}${tail ? `: ${tail}` : ''}`, { cause });
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Run a command to completion; throws CommandError with the stderr tail on a non-zero exit. */
export async function run(file: string, args: readonly string[], options: Options = {}): Promise<RunResult> {
  try {
    const result = await execa(file, args, { ...options, stripFinalNewline: true });
    return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? 0 };
  } catch (error) {
    const e = error as { exitCode?: number; stderr?: unknown; shortMessage?: string };
    throw new CommandError([file, ...args].join(' '), e.exitCode, String(e.stderr ?? e.shortMessage ?? ''), error);
  }
}

/** Like run, but returns the result instead of throwing on a non-zero exit. */
export async function runAllowFailure(file: string, args: readonly string[], options: Options = {}): Promise<RunResult> {
  const result = await execa(file, args, { ...options, reject: false, stripFinalNewline: true });
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? -1 };
}

/**
 * Split a byte stream into lines on '\n' or '\r' (progress bars rewrite one line with '\r').
 * Empty segments are dropped.
 */
export async function* splitLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const parts = pending.split(/\r\n|\r|\n/);
    pending = parts.pop() ?? '';
    for (const part of parts) if (part.length > 0) yield part;
  }
  if (pending.length > 0) yield pending;
}

/** Is a process with this PID running (EPERM: it runs, as another user)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
