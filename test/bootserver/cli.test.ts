import test from 'ava';
import { spawn, execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { agentCall, parseNetbootConfig } from '../helpers/server.ts';
import { CLI, serveEnv, startServe } from '../helpers/cli.ts';
import { watchStart } from '../helpers/serve-process.ts';
import { closedPort } from '../os-images/helpers/mini-mirror.ts';

const exec = promisify(execFile);

test('first start prints the token once and saves it; the CLI works with it as the README shows', async (t) => {
  const s = await startServe(t);
  const saved = JSON.parse(await readFile(join(s.dir, 'config', 'netimage', 'credentials.json'), 'utf8'));
  t.deepEqual(saved, { url: s.url, token: s.token });
  t.regex((await s.cli('group', 'add', 'room101')).stdout, /added group room101/);
  const csv = join(s.dir, 'room.csv');
  await writeFile(csv, 'hostname,mac,uuid,group\npc01,52:54:00:aa:bb:01,,room101\npc02,52:54:00:aa:bb:02,,room101\n');
  t.regex((await s.cli('client', 'import', csv)).stdout, /imported 2 client\(s\)/);
  const list = (await s.cli('client', 'list')).stdout;
  t.regex(list, /pc01\s+52:54:00:aa:bb:01\s+-\s+room101/);
  t.regex(list, /pc02\s+52:54:00:aa:bb:02/);
  const json = JSON.parse((await s.cli('client', 'list', '--json')).stdout);
  t.deepEqual(json.map((c: { id: string }) => c.id), ['pc01', 'pc02']);
  t.regex((await s.cli('action', 'set', 'pc01', 'hwinvent')).stdout, /setup of hwinvent set for pc01/);
  t.regex((await s.cli('states', 'pc01')).stdout, /hwinvent\s+setup\s+not_installed/);
  t.regex((await s.cli('props', 'pc01', 'opsi-local-image-prepare', '--prop', 'system_partition_size=40G')).stdout, /system_partition_size\s+"40G"/);
});

test('CLI errors are one line with a non-zero exit, and nothing changes', async (t) => {
  const s = await startServe(t);
  await s.cli('client', 'add', 'pc01', '--mac', '52:54:00:aa:bb:01');
  const dup = (await t.throwsAsync(s.cli('client', 'add', 'pc02', '--mac', '52:54:00:AA:BB:01'))) as Error & { code: number; stderr: string };
  t.is(dup.code, 1);
  t.is(dup.stderr.trim(), 'netimage: 409: MAC 52:54:00:aa:bb:01 already belongs to client pc01');
  const badProp = (await t.throwsAsync(s.cli('action', 'set', 'pc01', 'opsi-local-image-prepare', '--prop', 'multi_disk_mode=9'))) as Error & { stderr: string };
  t.regex(badProp.stderr, /^netimage: 400: opsi-local-image-prepare\.multi_disk_mode must be one of/);
  await s.cli('group', 'add', 'room101');
  await s.cli('client', 'add', 'pc02', '--mac', '52:54:00:aa:bb:02', '--group', 'room101');
  // An install whose mirror cannot be used is refused at action set, for one PC and a group
  // (the mirror: a closed port on loopback; tests never reach out).
  const mirror = `--prop=online_repository=http://127.0.0.1:${await closedPort()}/ubuntu`;
  const badMirror = (await t.throwsAsync(s.cli('action', 'set', 'pc01', 'opsi-local-image-ubuntu', mirror))) as Error & { stderr: string };
  t.regex(badMirror.stderr, /^netimage: 400: opsi-local-image-ubuntu: the mirror cannot be used: http:\/\/127\.0\.0\.1:\d+\/ubuntu\/dists\/jammy\/InRelease/);
  t.regex(badMirror.stderr, /; set a mirror this server reaches \(--prop online_repository=URL\) or an HTTP proxy \(--prop proxy=URL\); nothing was changed\n$/);
  const groupBadMirror = (await t.throwsAsync(s.cli('action', 'set', '--group', 'room101', 'opsi-local-image-ubuntu', mirror, '--yes'))) as Error & { stderr: string };
  t.regex(groupBadMirror.stderr, /^netimage: 400: .*opsi-local-image-ubuntu/);
  t.notRegex((await s.cli('states', 'pc01')).stdout, /ubuntu\s+setup/);
  // Windows runs, but not without its media in the depot (as the README shows).
  const noMedia = (await t.throwsAsync(s.cli('action', 'set', 'pc01', 'opsi-local-image-win10-x64'))) as Error & { stderr: string };
  t.regex(noMedia.stderr, /^netimage: 409: opsi-local-image-win10-x64: the depot has no windows-media\/opsi-local-image-win10-x64: import the Windows medium/);
  // The admin can see beforehand which products this boot image runs.
  const list = (await s.cli('product', 'list')).stdout;
  t.regex(list, /^opsi-local-image-ubuntu\s+\S+\s+yes\s+yes\s/m);
  t.regex(list, /^opsi-local-image-win10-x64\s+\S+\s+yes\s+yes\s/m);
  t.regex(list, /^opsi-local-image-restore\s+\S+\s+yes\s+yes\s/m);
  const usage = (await t.throwsAsync(s.cli('client', 'add'))) as Error & { code: number; stderr: string };
  t.is(usage.code, 2);
  const noauth = (await t.throwsAsync(exec(process.execPath, [CLI, 'client', 'list', '--token', 'ni_wrong', '--url', s.url], { env: s.env }))) as Error & { stderr: string };
  t.regex(noauth.stderr, /401: invalid API token \(log in with: netimage login/);
  t.deepEqual(JSON.parse((await s.cli('client', 'list', '--json')).stdout).map((c: { id: string }) => c.id), ['pc01', 'pc02']);
});

test('`netimage jobs --job ID` follows live progress until the job ends', async (t) => {
  const s = await startServe(t);
  await s.cli('client', 'add', 'pc01', '--mac', '52:54:00:aa:bb:01');
  await s.cli('action', 'set', 'pc01', 'opsi-local-image-backup');
  const cfg = await (await fetch(`${s.url}/boot/grub/client/efi/mac-52:54:00:aa:bb:01/uuid-.cfg`)).text();
  const job = parseNetbootConfig(cfg)!;
  const follower = spawn(process.execPath, [CLI, 'jobs', '--job', job.jobId], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  follower.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise((r) => follower.once('exit', r));
  t.teardown(() => void follower.kill());
  // Report only once the CLI is following (its first event is the replayed config read).
  while (!/boot configuration read/.test(stdout)) await new Promise((r) => setTimeout(r, 50));
  await agentCall(s.url, job.token, 'GET', '/job');
  await agentCall(s.url, job.token, 'POST', '/job/progress', { percent: 50, message: 'backing up /dev/vda2' });
  await agentCall(s.url, job.token, 'POST', '/job/result', { result: 'successful' });
  await exited;
  t.regex(stdout, /pc01\s+opsi-local-image-backup\s+booting\s+boot configuration read/);
  t.regex(stdout, /pc01\s+opsi-local-image-backup\s+running\s+\[##########\.{10}\]\s+50% backing up \/dev\/vda2/);
  t.regex(stdout, /succeeded/);
  t.regex((await s.cli('jobs')).stdout, /pc01\s+opsi-local-image-backup\s+succeeded\s+1\/3\s+100/);
});

test('a serve that cannot start fails the start wait at once, with what it printed', async (t) => {
  const env = { ...process.env, NETIMAGE_HTTP_PORT: 'eighty', NETIMAGE_DATA_DIR: '/nonexistent/netimage-cli-test' };
  const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill());
  // The exit, not the deadline, ends the wait: its message says so and carries serve's output.
  const error = await t.throwsAsync(watchStart(child, /is running/).ready);
  t.regex(error!.message, /^exited \(code 1, signal null\) before it was ready; it printed:\nconfig error: http\.port: .*NETIMAGE_HTTP_PORT/);
});

test('a second serve on the same data dir refuses to start, naming the first, and changes nothing', async (t) => {
  const s = await startServe(t);
  const pidFile = join(s.dir, 'data', 'server.pid');
  const firstPid = (await readFile(pidFile, 'utf8')).split('\n')[0]!;
  t.regex(firstPid, /^\d+$/);
  // Another port, so only the data dir is shared (as a second terminal with NETIMAGE_HTTP_PORT would).
  const second = (await t.throwsAsync(exec(process.execPath, [CLI, 'serve'], { env: { ...s.env, NETIMAGE_HTTP_PORT: '0' }, timeout: 60_000 }))) as Error & { code: number; stdout: string; stderr: string };
  t.is(second.code, 1);
  t.is(second.stderr.split('\n').filter(Boolean).length, 1, second.stderr);
  t.regex(second.stderr, new RegExp(`^netimage: another netimage server \\(pid ${firstPid}\\) is using the data dir ${join(s.dir, 'data')}: stop it first`));
  t.notRegex(second.stdout, /is running/);
  t.is((await readFile(pidFile, 'utf8')).split('\n')[0], firstPid, 'the first server keeps its lock');
  t.regex((await s.cli('group', 'add', 'room101')).stdout, /added group room101/, 'the first server still answers');
});

test('a pid file whose process is gone (a server killed with -9) does not block the next start; a stop right after the banner removes it', async (t) => {
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.once('exit', r));
  const dir = await mkdtemp(join(tmpdir(), 'netimage-cli-stale-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'data', 'server.pid'), `${dead.pid}\n`);
  const child = spawn(process.execPath, [CLI, 'serve'], { env: serveEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill());
  t.regex(await watchStart(child, /is running/).ready, /is running/);
  t.is((await readFile(join(dir, 'data', 'server.pid'), 'utf8')).split('\n')[0], String(child.pid));
  // SIGTERM at once, as systemd or a script may: the handler is in place before the banner.
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(`${code} ${signal}`)));
  child.kill('SIGTERM');
  t.is(await exited, '0 null', `an orderly stop, not killed by the signal: ${stderr}`);
  await t.throwsAsync(readFile(join(dir, 'data', 'server.pid'), 'utf8'), { code: 'ENOENT' });
});

test('a stop does not wait for a download under way: it is cut after the grace, the stop is orderly (exit 0, pid file gone)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-cli-stop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A boot file far bigger than the socket buffers, fetched by a client that reads nothing: the
  // transfer stalls as one to a PC on a slow or dead link does.
  const bootRoot = join(dir, 'boot');
  await mkdir(join(bootRoot, 'netimage'), { recursive: true });
  await writeFile(join(bootRoot, 'netimage', 'stage2'), Buffer.alloc(64 << 20, 1));
  const child = spawn(process.execPath, [CLI, 'serve'], { env: serveEnv(dir, { NETIMAGE_BOOT_ROOT: bootRoot }), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const out = await watchStart(child, /is running/).ready;
  const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\/api\/v1/.exec(out)![1]);
  const stalled = createConnection({ host: '127.0.0.1', port });
  t.teardown(() => void stalled.destroy());
  stalled.pause();
  stalled.write('GET /boot/netimage/stage2 HTTP/1.1\r\nHost: x\r\n\r\n');
  const closedByServer = new Promise((r) => stalled.once('close', r));
  await new Promise((r) => setTimeout(r, 500));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(`${code} ${signal}`)));
  child.kill('SIGTERM');
  t.is(await exited, '0 null', `an orderly stop: ${stderr}`);
  await t.throwsAsync(readFile(join(dir, 'data', 'server.pid'), 'utf8'), { code: 'ENOENT' });
  stalled.resume();
  await closedByServer;
  t.pass();
});
