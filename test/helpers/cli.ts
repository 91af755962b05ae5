// Test helper: the real `netimage` binary as a user runs it. `netimage serve` on a fresh data dir
// (HTTP on a free loopback port, no DHCP/TFTP), and the CLI with that server's saved login.
import type { ExecutionContext } from 'ava';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { watchStart } from './serve-process.ts';

const exec = promisify(execFile);
export const CLI = 'bootserver/cli/main.ts';

/** The last line serve prints on a first start. */
const SERVE_READY = /Lost it\?.*\n/;
/** The last line serve prints on a later start (the token was shown the first time). */
const SERVE_READY_AGAIN = /^ {2}site {8}.*\n/m;

export interface ServeProcess {
  dir: string;
  env: NodeJS.ProcessEnv;
  url: string;
  token: string;
  /** What serve printed when it started. */
  out: string;
  /** Run `netimage ...args`; rejects on a non-zero exit with code, stdout and stderr. */
  cli(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** SIGTERM the server and wait for its exit; the data dir stays (for `start`). */
  halt(): Promise<void>;
  /** Start serve again on the same data dir (after `halt`), with more env (NETIMAGE_HTTP_PORT: its own port, else a free one); resolves with its URL. */
  start(extra?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

/** A failed CLI run as execFile reports it. */
export type CliFailure = Error & { code: number; stdout: string; stderr: string };

/** `netimage serve` for one test, stopped when the test ends. */
export async function startServe(t: ExecutionContext): Promise<ServeProcess> {
  const s = await spawnServe();
  t.teardown(s.stop);
  return s;
}

/** Environment of a serve child in `dir`: loopback HTTP on a free port, no TFTP/DHCP, CLI login under dir. */
export function serveEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, 'config'),
    NETIMAGE_DATA_DIR: join(dir, 'data'),
    NETIMAGE_HTTP_HOST: '127.0.0.1',
    NETIMAGE_HTTP_PORT: '0',
    NETIMAGE_TFTP_ENABLED: 'false',
    NETIMAGE_DHCP_MODE: 'off',
    NETIMAGE_LOG_LEVEL: 'warn',
    ...extra,
  };
  delete env['NETIMAGE_URL'];
  delete env['NETIMAGE_TOKEN'];
  return env;
}

const urlOf = (out: string): string => /admin API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out)![1]!;

/**
 * `netimage serve` on a fresh data dir; the caller stops it. `checkout`: serve another checkout's
 * code (a bench's reference side), else this one's.
 */
export async function spawnServe(extra: Record<string, string> = {}, checkout?: string): Promise<ServeProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-cli-'));
  const env = serveEnv(dir, { ...extra, ...(checkout ? { NETIMAGE_ROOT: checkout } : {}) });
  const launch = (more: Record<string, string> = {}) =>
    spawn(process.execPath, [checkout ? join(checkout, CLI) : CLI, 'serve'], { env: { ...env, ...more }, stdio: ['ignore', 'pipe', 'pipe'], ...(checkout ? { cwd: checkout } : {}) });
  let child = launch();
  const halt = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  };
  const stop = async () => {
    await halt();
    await rm(dir, { recursive: true, force: true });
  };
  let out: string;
  try {
    out = await watchStart(child, SERVE_READY).ready;
  } catch (error) {
    await stop();
    throw new Error(`netimage serve did not start: ${(error as Error).message}`);
  }
  const url = urlOf(out);
  const token = /\n\s+(ni_[A-Za-z0-9_-]+)\n/.exec(out)![1]!;
  const start = async (more: Record<string, string> = {}) => {
    await halt();
    child = launch({ NETIMAGE_HTTP_PORT: new URL(url).port, ...more });
    return urlOf(await watchStart(child, SERVE_READY_AGAIN).ready);
  };
  const cli = (...args: string[]) => exec(process.execPath, [CLI, ...args], { env });
  return { dir, env, url, token, out, cli, halt, start, stop };
}

/** A long-running CLI (a `--follow`) as a child: what it printed so far, and its exit code. */
export interface RunningCli {
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches (polled: the CLI prints as events come). */
  printed(pattern: RegExp, on?: 'stdout' | 'stderr'): Promise<void>;
  exited: Promise<number | null>;
}

/** Start `command argv` (the CLI, or a wrapper such as `script`) with env; killed when the test ends. */
export function startCli(t: ExecutionContext, env: NodeJS.ProcessEnv, command: string, argv: string[]): RunningCli {
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill());
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    async printed(pattern, on = 'stdout') {
      while (!pattern.test(on === 'stdout' ? stdout : stderr)) await new Promise((r) => setTimeout(r, 50));
    },
    exited: new Promise((r) => child.once('close', r)),
  };
}
