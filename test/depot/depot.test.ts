import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, symlink, truncate, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Depot, DepotConflictError, DepotError } from '../../bootserver/depot/depot.ts';
import { tempDir } from '../helpers/tempdir.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function entryWithData(depot: Depot, name: string, data: Buffer) {
  return depot.create('rootfs', name, { note: 'test' }, async (dir) => {
    await writeFile(join(dir, 'rootfs.tar.zst'), data);
    await mkdir(join(dir, 'extra'));
    await writeFile(join(dir, 'extra', 'README'), 'hello\n');
  });
}

test('create writes the files, a manifest with size and sha256, modes 0700/0600, and lists the entry', async (t) => {
  const dir = await tempDir(t, 'depot');
  const depot = await Depot.open(join(dir, 'depot'));
  const data = randomBytes(300_000);
  const entry = await entryWithData(depot, 'debian-12-aaaa', data);
  t.is(entry.id, 'rootfs/debian-12-aaaa');
  t.deepEqual(entry.manifest.files, [
    { path: 'extra/README', size: 6, sha256: sha(Buffer.from('hello\n')) },
    { path: 'rootfs.tar.zst', size: data.length, sha256: sha(data) },
  ]);
  const onDisk = JSON.parse(await readFile(join(entry.dir, 'manifest.json'), 'utf8'));
  t.deepEqual(onDisk, entry.manifest);
  t.is((await stat(join(dir, 'depot'))).mode & 0o777, 0o700);
  t.is((await stat(entry.dir)).mode & 0o777, 0o700);
  t.is((await stat(join(entry.dir, 'extra'))).mode & 0o777, 0o700);
  t.is((await stat(join(entry.dir, 'rootfs.tar.zst'))).mode & 0o777, 0o600);
  t.is((await stat(join(entry.dir, 'manifest.json'))).mode & 0o777, 0o600);
  t.deepEqual((await depot.list()).map((e) => e.id), ['rootfs/debian-12-aaaa']);
  await t.throwsAsync(entryWithData(depot, 'debian-12-aaaa', data), { instanceOf: DepotConflictError, message: /exists already/ });
});

test('verify passes on intact entries and names a flipped byte, a truncated file, a missing and an extra file', async (t) => {
  const dir = await tempDir(t, 'depot');
  const depot = await Depot.open(join(dir, 'depot'));
  const data = randomBytes(200_000);
  const entry = await entryWithData(depot, 'e1', data);
  t.deepEqual(await depot.verify('rootfs', 'e1'), { id: 'rootfs/e1', ok: true, problems: [], bytes: data.length + 6 });

  const file = join(entry.dir, 'rootfs.tar.zst');
  const flipped = Buffer.from(data);
  flipped[123_456] = flipped[123_456]! ^ 0x01;
  await writeFile(file, flipped);
  const bad = await depot.verify('rootfs', 'e1');
  t.false(bad.ok);
  t.is(bad.problems.length, 1);
  t.regex(bad.problems[0]!, new RegExp(`^rootfs.tar.zst: sha256 ${sha(flipped)}, manifest says ${sha(data)}$`));

  await truncate(file, 1000);
  t.deepEqual((await depot.verify('rootfs', 'e1')).problems, [`rootfs.tar.zst: size 1000, manifest says ${data.length}`]);

  await writeFile(file, data);
  await writeFile(join(entry.dir, 'smuggled'), 'x');
  await (await import('node:fs/promises')).rm(join(entry.dir, 'extra', 'README'));
  t.deepEqual((await depot.verify('rootfs', 'e1')).problems, ['extra/README: missing', 'smuggled: not in the manifest']);

  // A damaged manifest (not JSON at all) is named as such, not an internal error without a word.
  await writeFile(join(entry.dir, 'manifest.json'), '{"format": "netimage-dep');
  await t.throwsAsync(depot.verify('rootfs', 'e1'), { instanceOf: DepotError, message: /^depot entry rootfs\/e1: manifest\.json is invalid: / });
});

test('a write that fails half way leaves nothing visible and no staging folder', async (t) => {
  const dir = await tempDir(t, 'depot');
  const depot = await Depot.open(join(dir, 'depot'));
  await t.throwsAsync(
    depot.create('rootfs', 'half', {}, async (d) => {
      await writeFile(join(d, 'rootfs.tar.zst'), randomBytes(100_000));
      throw new Error('mirror went away');
    }),
    { message: 'mirror went away' },
  );
  t.is(await depot.get('rootfs', 'half'), null);
  t.deepEqual(await depot.list(), []);
  t.deepEqual(await readdir(join(dir, 'depot', '.staging')), []);
  t.deepEqual(await readdir(join(dir, 'depot', 'rootfs')), []);
  await t.throwsAsync(depot.create('rootfs', 'bad-name', {}, async (d) => writeFile(join(d, '.hidden'), 'x')), { message: /file name ".hidden" not allowed/ });
  t.deepEqual(await depot.list(), []);
});

test('a symlink (or any non-regular file) a writer leaves in an entry is refused: the depot never hashes, chmods or serves what it points to', async (t) => {
  const dir = await tempDir(t, 'depot');
  const depot = await Depot.open(join(dir, 'depot'));
  // Outside the depot, e.g. a secret of this server; a tree with a link to it must not publish it.
  const secret = join(dir, 'secret');
  await writeFile(secret, 'the server secret\n', { mode: 0o640 });
  await t.throwsAsync(
    depot.create('rootfs', 'with-link', {}, async (d) => {
      await writeFile(join(d, 'rootfs.tar.zst'), 'data');
      await symlink(secret, join(d, 'key'));
    }),
    { message: /with-link: "key" is a symbolic link, not a regular file/ },
  );
  t.is((await stat(secret)).mode & 0o777, 0o640, 'the link target kept its mode');
  t.is(await depot.get('rootfs', 'with-link'), null);
  t.deepEqual(await readdir(join(dir, 'depot', '.staging')), []);
});

test('a writer killed mid-write (SIGKILL) leaves nothing visible; the next open removes its staging folder', async (t) => {
  const dir = await tempDir(t, 'depot');
  const root = join(dir, 'depot');
  // A real second process writes into the depot and is killed while its fill is still running.
  const script = `
    import { Depot } from ${JSON.stringify(new URL('../../bootserver/depot/depot.ts', import.meta.url).href)};
    import { open } from 'node:fs/promises';
    const depot = await Depot.open(${JSON.stringify(root)});
    await depot.create('rootfs', 'killed', {}, async (d) => {
      const fh = await open(d + '/rootfs.tar.zst', 'w');
      await fh.write(Buffer.alloc(1 << 20, 7));
      await fh.sync();
      process.stdout.write('writing\\n');
      await new Promise(() => setInterval(() => {}, 1000));
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => b.toString().includes('writing') && resolve());
    child.on('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  const during = await Depot.open(root);
  t.is((await readdir(join(root, '.staging'))).length, 1, 'a live writer keeps its staging folder');
  t.deepEqual(await during.list(), [], 'nothing visible while it writes');
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const after = await Depot.open(root);
  t.deepEqual(await after.list(), []);
  t.is(await after.get('rootfs', 'killed'), null);
  t.deepEqual(await readdir(join(root, '.staging')), [], 'the dead writer\'s staging folder is gone');
});

test('remove takes the entry away whole', async (t) => {
  const dir = await tempDir(t, 'depot');
  const depot = await Depot.open(join(dir, 'depot'));
  await entryWithData(depot, 'gone', randomBytes(1000));
  await depot.remove('rootfs', 'gone');
  t.is(await depot.get('rootfs', 'gone'), null);
  t.deepEqual(await readdir(join(dir, 'depot', '.trash')), []);
  await t.throwsAsync(depot.remove('rootfs', 'gone'), { message: 'depot entry rootfs/gone not found' });
});

test('removeTree unmounts what a killed builder left mounted below a folder, then deletes it', async (t) => {
  const { removeTree } = await import('../../bootserver/depot/depot.ts');
  const { run } = await import('../../lib/process.ts');
  const dir = await tempDir(t, 'depot-mount');
  const chroot = join(dir, 'scratch', 'chroot', 'proc');
  await mkdir(chroot, { recursive: true });
  // A tmpfs stands for the chroot's /proc: its file must survive as long as it is mounted.
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'netimage-test', chroot]);
  t.teardown(() => run('umount', [chroot]).catch(() => undefined));
  await writeFile(join(chroot, 'inside-the-mount'), 'x');
  await removeTree(join(dir, 'scratch'));
  t.false((await readFile('/proc/mounts', 'utf8')).includes(chroot));
  await t.throwsAsync(stat(join(dir, 'scratch')), { code: 'ENOENT' });
});
