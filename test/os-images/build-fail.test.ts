// (Tests that capture process.stdout run serially: the capture is process-wide.)
// A build that cannot complete: the loopback mini mirror passes the quick checks (release and
// packages are there) but has no signed Release, so mmdebstrap itself fails. The build ends
// failed with mmdebstrap's reason, and the depot has nothing of it, not even a staging folder.
import test from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer } from '../helpers/server.ts';
import { startMiniMirror, closedPort } from './helpers/mini-mirror.ts';
import { main as cli } from '../../bootserver/cli/main.ts';
import type { CommandResult } from '../../bootserver/cli/command.ts';

async function captureStdout(fn: () => Promise<CommandResult>): Promise<{ code: CommandResult; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    return { code: await fn(), out };
  } finally {
    process.stdout.write = write;
  }
}

test.serial('a failing mmdebstrap ends the build as failed with its reason and leaves the depot empty; the CLI exits 1', async (t) => {
  const mirror = await startMiniMirror(t);
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop());
  const { code, out } = await captureStdout(() => cli(['os', 'build', 'debian-12', '--packages', 'vim', '--url', ts.url, '--token', ts.adminToken]));
  t.is(code, 1, out);
  t.regex(out, /building rootfs\/debian-12-[0-9a-f]{16}/);
  t.regex(out, /\[\s*\d+%\] I: running apt-get update/, 'progress lines are shown');
  t.regex(out, /build failed: mmdebstrap failed: The repository 'http:\/\/127\.0\.0\.1:\d+\/debian bookworm InRelease' is not signed\.\n/);
  const builds = (await ts.api('GET', '/api/v1/os/builds')).body as { state: string; error: string }[];
  t.is(builds.length, 1);
  t.is(builds[0]!.state, 'failed');
  t.deepEqual((await ts.api('GET', '/api/v1/depot')).body, []);
  const depotDir = ts.server.osImages.depot.dir;
  t.deepEqual(await readdir(join(depotDir, '.staging')), [], 'scratch and staging folders removed');
  t.deepEqual(await readdir(join(depotDir, 'rootfs')), []);
});

test('os build refuses an unknown OS, an unknown package and an unreachable mirror before building anything', async (t) => {
  const mirror = await startMiniMirror(t);
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop());
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ os: 'debian-13' }, /unknown OS "debian-13": the server builds debian-12/],
    [{ os: 'debian-12', packages: ['nosuchpkg'] }, /os build debian-12\.additional_packages: not on the mirror .*: nosuchpkg/],
    [{ os: 'debian-12', mirror: `http://127.0.0.1:${await closedPort()}/debian` }, /the mirror cannot be used: .*Failed to connect/],
    [{ os: 'debian-12', packages: ['bad name'] }, /body\.packages\.0/],
  ];
  for (const [body, message] of cases) {
    const r = await ts.api('POST', '/api/v1/os/builds', body);
    t.is(r.status, 400, r.text);
    t.regex(r.body.message, message);
  }
  t.deepEqual((await ts.api('GET', '/api/v1/os/builds')).body, []);
});

test.serial('netimage depot ls | verify | rm', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const { writeFile, appendFile } = await import('node:fs/promises');
  const entry = await ts.server.osImages.depot.create('rootfs', 'debian-12-cli', {}, async (dir) => writeFile(join(dir, 'rootfs.tar.zst'), Buffer.alloc(3 * 1024 * 1024, 1)));
  const run = (...args: string[]) => captureStdout(() => cli([...args, '--url', ts.url, '--token', ts.adminToken]));
  const ls = await run('depot', 'ls');
  t.is(ls.code, 0);
  t.regex(ls.out, /rootfs\/debian-12-cli\s+3\.0 MiB\s+1 /);
  const ok = await run('depot', 'verify', 'rootfs/debian-12-cli');
  t.is(ok.code, 0);
  t.regex(ok.out, /rootfs\/debian-12-cli: ok \(3\.0 MiB verified\)/);
  await appendFile(join(entry.dir, 'rootfs.tar.zst'), 'x');
  const bad = await run('depot', 'verify', 'rootfs/debian-12-cli');
  t.is(bad.code, 1);
  t.regex(bad.out, /DAMAGED\n  rootfs\.tar\.zst: size 3145729, manifest says 3145728/);
  const rm = await run('depot', 'rm', 'rootfs/debian-12-cli');
  t.is(rm.code, 0);
  t.regex((await run('depot', 'ls')).out, /the depot is empty/);
  await t.throwsAsync(run('depot', 'verify'), { message: 'usage: netimage depot verify <kind/name>' });
  await t.throwsAsync(run('depot', 'verify', '../etc'), { message: /^"\.\." is not a depot kind \(rootfs, windows-media, wim, golden\); usage: netimage depot verify <kind\/name>$/ });
  await t.throwsAsync(run('depot', 'frob'), { message: /^unknown command: depot frob; usage:/ });
  await t.throwsAsync(run('os', 'build'), { message: /^usage: netimage os build <os>/ });
});

test('stopping the server ends a running build: mmdebstrap is gone, nothing stays mounted, the depot is empty', async (t) => {
  const mirror = await startMiniMirror(t, { stallApt: true });
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop().catch(() => undefined));
  const depotDir = ts.server.osImages.depot.dir;
  const started = await ts.api('POST', '/api/v1/os/builds', { os: 'debian-12' });
  t.is(started.status, 202, started.text);
  const { builder } = ts.server.osImages;
  const deadline = Date.now() + 120_000;
  while (!builder.get(started.body.id)!.lines.some((l) => l.startsWith('I: running apt-get update'))) {
    if (Date.now() > deadline) throw new Error('the build never reached apt-get update');
    await new Promise((r) => setTimeout(r, 200));
  }
  await ts.server.stop();
  const build = builder.get(started.body.id)!;
  t.is(build.state, 'failed');
  t.is(build.error, 'stopped with the server');
  const { run } = await import('../../lib/process.ts');
  const procs = (await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(depotDir));
  t.deepEqual(procs, [], 'no process works in the depot any more');
  const mounts = (await (await import('node:fs/promises')).readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(depotDir));
  t.deepEqual(mounts, []);
  t.deepEqual(await readdir(join(depotDir, '.staging')), []);
  t.deepEqual(await readdir(join(depotDir, 'rootfs')), []);
});
