// One `netimage depot import` per entry at a time (bootserver/depot/import-lock.ts), with real
// processes: a holder process takes the entry's lock through the same module the import uses and
// keeps it; the real CLI import beside it is refused and writes nothing; the holder is killed
// (SIGKILL: a crashed import) and the next import takes the stale lock over and succeeds.
import test from 'ava';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LOCKS, lockEntry, processStart } from '../../bootserver/depot/import-lock.ts';
import { CLI, serveEnv, type CliFailure } from '../helpers/cli.ts';
import { watchStart } from '../helpers/serve-process.ts';
import { writeTree } from '../helpers/windows-media.ts';

const exec = promisify(execFile);
const PRODUCT = 'opsi-local-image-win11-x64';
const ENTRY = `windows-media/${PRODUCT}`;

let dir: string;
let depot: string;
let env: NodeJS.ProcessEnv;
let source: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netimage-importlock-'));
  env = serveEnv(dir);
  depot = join(dir, 'data', 'depot');
  source = join(dir, 'custom');
  await writeTree(source, { 'setupcomplete/10-hello.cmd': Buffer.from('@echo hello\r\n'), 'files/readme.txt': Buffer.from('custom\n') });
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

const importCustom = () => exec(process.execPath, [CLI, 'depot', 'import', PRODUCT, source, '--part', 'custom'], { env });
const entries = async () => (await readdir(join(depot, 'windows-media')).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));

test.serial('a second import of the same entry is refused while the first runs; a crashed import does not block the next', async (t) => {
  // The holder: a separate Node process that takes the lock and keeps it until killed.
  const script = `import { lockEntry } from ${JSON.stringify(resolve('bootserver/depot/import-lock.ts'))};
await lockEntry(${JSON.stringify(depot)}, ${JSON.stringify(ENTRY)}, 'depot import /srv/iso/win11.iso --part installfiles');
console.log('locked');
setInterval(() => undefined, 60_000);`;
  const holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => holder.once('exit', r));
  t.teardown(() => void holder.kill('SIGKILL'));
  await watchStart(holder, /locked/, 60_000).ready;

  const refused = await t.throwsAsync<CliFailure>(importCustom());
  t.regex(refused!.stderr, new RegExp(`${ENTRY} is being imported by another netimage \\(PID ${holder.pid}: depot import /srv/iso/win11.iso --part installfiles, since .* UTC\\): wait until it has finished`));
  t.regex(refused!.stderr, /Nothing was changed/);
  t.deepEqual(await entries(), [], 'the refused import wrote no entry');

  holder.kill('SIGKILL');
  await exited;
  const ok = await importCustom();
  t.regex(ok.stdout, new RegExp(`imported 2 files .* into ${ENTRY}/custom/`));
  t.deepEqual(await entries(), [PRODUCT]);
  t.deepEqual((await readdir(join(depot, LOCKS))).filter((n) => n.includes(PRODUCT)), [], 'the lock is gone after the import');
});

test.serial('a lock whose PID now belongs to another process is stale; a lock of another host is never taken over', async (t) => {
  const locks = join(depot, LOCKS);
  const path = join(locks, `windows-media-reuse.lock`);
  // This process's PID with another start time: the PID was reused after a crash.
  await writeFile(path, JSON.stringify({ pid: process.pid, start: '1', host: hostname(), since: new Date().toISOString(), what: 'old' }));
  t.not(await processStart(process.pid), '1');
  const lock = await lockEntry(depot, 'windows-media/reuse', 'new');
  await lock.release();

  await writeFile(path, JSON.stringify({ pid: 1, start: '1', host: 'other-server', since: '2026-12-02T07:00:00.000Z', what: 'depot import x' }));
  const e = await t.throwsAsync(lockEntry(depot, 'windows-media/reuse', 'new'));
  t.regex(e!.message, /PID 1 on host other-server \(if that import is gone, remove .*windows-media-reuse\.lock\)/);

  // Not a lock file (written whole, so never half of ours): taken over.
  await writeFile(path, 'garbage');
  await (await lockEntry(depot, 'windows-media/reuse', 'new')).release();
  t.deepEqual((await readdir(locks)).filter((n) => n.includes('reuse')), []);
});
