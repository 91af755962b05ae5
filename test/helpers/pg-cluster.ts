// A throwaway PostgreSQL cluster for tests: Debian's postgresql-15 binaries (scripts/setup.d/10-apt.sh),
// initdb into a temp dir, the server listening only on a unix socket in that dir (no TCP port, so
// no clash with anything), started once per test file and stopped by its PID, dir removed.
// PostgreSQL refuses to run as root: as root, initdb and the server run as the unprivileged user
// `nobody` (setpriv drops to it; the temp dir is chowned to it), otherwise as the current user.
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../../bootserver/store/postgres.ts';

const NOBODY = { uid: 65534, gid: 65534 };
const SUPERUSER = 'netimage';
const TEMPLATE = 'netimage_migrated';

export interface PgCluster {
  /** The dir holding the data dir and the socket. */
  dir: string;
  pid: number;
  /** Connection URL of a database (over the unix socket). */
  url(database: string): string;
  /** A new database with netimage's schema already migrated (copied from a template: fast). */
  migratedDatabase(): Promise<string>;
  /** A new empty database (C collation). */
  emptyDatabase(): Promise<string>;
  /** Stop the server (fast shutdown: connections are cut), run `during`, start it again on the same data. */
  restart(during: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (install postgresql-15: scripts/setup.d/10-apt.sh)');
  return join(root, newest, 'bin');
}

/** The command line that runs `argv` as the cluster's owner. */
function asOwner(argv: string[]): string[] {
  if (process.getuid?.() !== 0) return ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
  return ['setpriv', '--reuid', String(NOBODY.uid), '--regid', String(NOBODY.gid), '--clear-groups', '--pdeathsig', 'KILL', '--', ...argv];
}

async function waitReady(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode} while starting`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > until) throw new Error(`postgres did not accept connections within ${deadlineMs} ms: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'netimage-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, NOBODY.uid, NOBODY.gid);
  const data = join(dir, 'data');
  const [initdb, ...initArgs] = asOwner([join(bin, 'initdb'), '-D', data, '-U', SUPERUSER, '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  await execa(initdb!, initArgs, { cwd: dir });
  // Durability off: the cluster is thrown away after the run.
  const [postgres, ...args] = asOwner([join(bin, 'postgres'), '-D', data, '-k', dir, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']);
  let child = spawn(postgres!, args, { cwd: dir, stdio: 'ignore' });
  let pid = child.pid!;
  let exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If the test process ends without stop() (a crash), take the server and its files with it: the
  // server needs a moment to go, so a detached shell waits for it and then removes the dir.
  const onExit = () => {
    if (child.exitCode !== null) return void rmSync(dir, { recursive: true, force: true });
    process.kill(pid, 'SIGQUIT');
    spawn('sh', ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; rm -rf "$2"', 'sh', String(pid), dir], { detached: true, stdio: 'ignore' }).unref();
  };
  /** SIGINT: fast shutdown (open connections are closed, no waiting for clients). */
  const shutdown = async () => {
    if (child.exitCode === null) process.kill(pid, 'SIGINT');
    const timer = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  process.once('exit', onExit);
  const url = (database: string) => `postgres://${SUPERUSER}@/${database}?host=${encodeURIComponent(dir)}`;
  let counter = 0;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url('postgres') });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  try {
    await waitReady(url('postgres'), child, 20_000);
    await admin(`CREATE DATABASE ${TEMPLATE}`);
    await (await PostgresStore.open({ url: url(TEMPLATE) })).close();
  } catch (error) {
    process.kill(pid, 'SIGQUIT');
    await exited;
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    get pid() {
      return pid;
    },
    url,
    async migratedDatabase() {
      const name = `t${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
      return url(name);
    },
    async emptyDatabase() {
      const name = `t${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${name} TEMPLATE template0`);
      return url(name);
    },
    async restart(during) {
      await shutdown();
      try {
        await during();
      } finally {
        child = spawn(postgres!, args, { cwd: dir, stdio: 'ignore' });
        pid = child.pid!;
        exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        await waitReady(url('postgres'), child, 20_000);
      }
    },
    async stop() {
      await shutdown();
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
