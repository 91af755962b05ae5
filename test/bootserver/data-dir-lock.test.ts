// One server per data dir (bootserver/store/data-dir-lock.ts); the refusal of a second `serve`
// through the real binary is in cli.test.ts.
import test from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { DataDirInUseError, LOCK_FILE, lockDataDir, processStartTime } from '../../bootserver/store/data-dir-lock.ts';
import { startTestServer } from '../helpers/server.ts';

test('the lock names its holder, refuses a second taker in this process, and goes with release', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lock = lockDataDir(dir);
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  t.is(await readFile(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\nstart=${processStartTime(process.pid)}\nboot=${bootId}\n`, 'the pid first, then who it is');
  t.is((await stat(join(dir, LOCK_FILE))).mode & 0o777, 0o600);
  const e = t.throws(() => lockDataDir(dir), { instanceOf: DataDirInUseError });
  t.is(e?.pid, process.pid);
  lock.release();
  await t.throwsAsync(stat(join(dir, LOCK_FILE)), { code: 'ENOENT' });
  lockDataDir(dir).release();
});

test('a file of this pid that this process does not hold (left from before a restart) is stale', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, LOCK_FILE), `${process.pid}\n`);
  const lock = lockDataDir(dir);
  t.teardown(() => lock.release());
  t.pass();
});

test('a second server in one process on one data dir is refused before it touches anything; stop releases the dir', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await startTestServer({ dataDir: dir });
  await t.throwsAsync(startTestServer({ dataDir: dir }), { instanceOf: DataDirInUseError, message: /is using the data dir/ });
  t.is((await first.api('GET', '/api/v1/clients')).status, 200, 'the first one still serves');
  await first.stop();
  await t.throwsAsync(stat(join(dir, LOCK_FILE)), { code: 'ENOENT' });
  const again = await startTestServer({ dataDir: dir });
  await again.stop();
});

/** A live process whose command line reads like `netimage serve` (node ... main.ts serve), as a reused pid could. */
async function lookalike(t: import('ava').ExecutionContext): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'bootserver/cli/main.ts', 'serve'], { stdio: 'ignore' });
  t.teardown(() => void child.kill());
  await new Promise((r) => child.once('spawn', r));
  return child as ChildProcess & { pid: number };
}

test('a live pid is not enough: after a reboot or a pid reuse (another start time or boot) the lock is taken over', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const other = await lookalike(t);
  const start = processStartTime(other.pid)!;
  const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  t.regex(start, /^\d+$/);
  // The very process that wrote it, in this boot: refused.
  await writeFile(join(dir, LOCK_FILE), `${other.pid}\nstart=${start}\nboot=${boot}\n`);
  t.is(t.throws(() => lockDataDir(dir), { instanceOf: DataDirInUseError })?.pid, other.pid);
  // Same pid, started at another time (the pid was reused): stale.
  await writeFile(join(dir, LOCK_FILE), `${other.pid}\nstart=${Number(start) + 1}\nboot=${boot}\n`);
  lockDataDir(dir).release();
  // Same pid and start time, but written in another boot: stale.
  await writeFile(join(dir, LOCK_FILE), `${other.pid}\nstart=${start}\nboot=00000000-0000-4000-8000-000000000000\n`);
  const lock = lockDataDir(dir);
  t.is((await readFile(join(dir, LOCK_FILE), 'utf8')).split('\n')[0], String(process.pid));
  lock.release();
});

test('a pid-only file (from before start times) holds only for a live netimage serve, not for any node process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const node = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.teardown(() => void node.kill());
  await new Promise((r) => node.once('spawn', r));
  await writeFile(join(dir, LOCK_FILE), `${node.pid}\n`);
  lockDataDir(dir).release();
  const serve = await lookalike(t);
  await writeFile(join(dir, LOCK_FILE), `${serve.pid}\n`);
  t.throws(() => lockDataDir(dir), { instanceOf: DataDirInUseError });
});
