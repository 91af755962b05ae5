// (Tests that capture process.stdout run serially: the capture is process-wide.)
// A build that cannot complete: the loopback mini mirror passes the quick checks (release and
// packages are there) but has no signed Release, so mmdebstrap itself fails. The build ends
// failed with mmdebstrap's reason, and the depot has nothing of it, not even a staging folder.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir } from 'node:fs/promises';
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

test('a build through a proxy with a password: the password reaches the proxy, never a command line, a build line or an error', async (t) => {
  const mirror = await startMiniMirror(t);
  // A forwarding HTTP proxy on loopback that notes who authenticated to it.
  const seen: { agent: string; auth: string; url: string }[] = [];
  const proxy = http.createServer((req, res) => {
    seen.push({ agent: String(req.headers['user-agent'] ?? ''), auth: String(req.headers['proxy-authorization'] ?? ''), url: req.url ?? '' });
    const target = new URL(req.url ?? '/');
    const upstream = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => proxy.close(() => r())));
  const secret = 's3cret-h62';
  const proxyUrl = `http://squid:${secret}@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop());

  const started = await ts.api('POST', '/api/v1/os/builds', { os: 'debian-12', proxy: proxyUrl });
  t.is(started.status, 202, started.text);
  // Every process's command line, read while the build runs (world-readable on any Linux).
  const leaks: string[] = [];
  let build: { state: string; error: string | null; lines: string[] } = { state: 'queued', error: null, lines: [] };
  const deadline = Date.now() + 300_000;
  while (build.state === 'queued' || build.state === 'running') {
    if (Date.now() > deadline) return t.fail('the build did not end within 5 minutes');
    for (const pid of await readdir('/proc').catch(() => [])) {
      if (!/^\d+$/.test(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(secret)) leaks.push(cmdline.replaceAll('\0', ' '));
    }
    build = (await ts.api('GET', `/api/v1/os/builds/${started.body.id}`)).body;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(leaks, [], 'no command line carries the proxy password');
  t.is(build.state, 'failed'); // the mini mirror has no signed Release
  t.regex(build.error ?? '', /is not signed/);
  const auth = `Basic ${Buffer.from(`squid:${secret}`).toString('base64')}`;
  t.true(seen.some((s) => s.agent.startsWith('curl') && s.auth === auth), 'the mirror check went through the proxy with its password');
  t.true(seen.some((s) => s.agent.includes('APT') && s.auth === auth && s.url.includes('/dists/bookworm/')), 'apt in mmdebstrap went through the proxy with its password');
  t.false(JSON.stringify(build).includes(secret), 'no build line nor the error carries the password');
  t.deepEqual(await readdir(join(ts.server.osImages.depot.dir, '.staging')), [], 'the proxy config file went with the scratch folder');
});

test('os build refuses an unknown OS, an unknown package and an unreachable mirror before building anything', async (t) => {
  const mirror = await startMiniMirror(t);
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop());
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ os: 'debian-13' }, /unknown OS "debian-13": the server builds debian-12/],
    [{ os: 'debian-12', packages: ['nosuchpkg'] }, /os build debian-12\.additional_packages: not on the mirror .*: nosuchpkg/],
    [{ os: 'debian-12', mirror: `http://127.0.0.1:${await closedPort()}/debian` }, /the mirror cannot be used: .*Failed to connect.*; give a mirror this server reaches \(--mirror URL\) or an HTTP proxy \(--proxy URL\); nothing was changed$/],
    [{ os: 'debian-12', packages: ['bad name'] }, /^body\.packages\.0: "bad name" is not a Debian package name \(letters a-z, digits, "\+", "-", "\."\)$/],
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
