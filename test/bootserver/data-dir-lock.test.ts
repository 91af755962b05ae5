// One server per data dir (bootserver/store/data-dir-lock.ts); the refusal of a second `serve`
// through the real binary is in cli.test.ts.
import test from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../bootserver/store/data-dir-lock.ts';
import { startTestServer } from '../helpers/server.ts';

test('the lock names its holder, refuses a second taker in this process, and goes with release', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-lock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lock = lockDataDir(dir);
  t.is((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
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
