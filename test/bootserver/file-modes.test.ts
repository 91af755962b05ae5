// The data dir holds the server secret (every job token derives from it) and admin token hashes:
// it must be readable by the server's user only, whatever umask the server was started with.
// Runs the real `netimage serve` as a child process under umask 000.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { tempDir } from '../helpers/tempdir.ts';
import { watchStart } from '../helpers/serve-process.ts';
import { envNameForKey } from '../../bootserver/config/load.ts';

const CLI = 'bootserver/cli/main.ts';

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** `umask 000; netimage serve` with full DHCP on loopback test ports (so the leases file exists too). */
async function serveWithOpenUmask(t: ExecutionContext, dir: string): Promise<{ stop(): Promise<void>; output(): string }> {
  const [server, pxe, client] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const settings: Record<string, string | number | boolean> = {
    dataDir: join(dir, 'data'),
    'http.host': '127.0.0.1',
    'http.port': 0,
    'tftp.enabled': false,
    advertisedIp: '127.0.0.1',
    'dhcp.mode': 'full',
    'dhcp.subnet': '127.0.0.0/8',
    'dhcp.port': server,
    'dhcp.pxePort': pxe,
    'dhcp.clientPort': client,
    'dhcp.full.rangeStart': '127.89.0.10',
    'dhcp.full.rangeEnd': '127.89.0.20',
    'dhcp.full.subnetMask': '255.0.0.0',
    'log.level': 'info',
  };
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') };
  for (const [key, value] of Object.entries(settings)) env[envNameForKey(key.split('.'))] = String(value);
  const child = spawn('/bin/sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const watched = watchStart(child, /is running/);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  t.teardown(stop);
  await watched.ready;
  return { stop, output: watched.output };
}

async function modes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = { '.': ((await stat(dir)).mode & 0o777).toString(8) };
  for (const name of (await readdir(dir)).sort()) out[name] = ((await stat(join(dir, name))).mode & 0o777).toString(8);
  return out;
}

test('a fresh data dir is 0700 and every file in it 0600, even under umask 000', async (t) => {
  const dir = await tempDir(t, 'modes');
  const server = await serveWithOpenUmask(t, dir);
  const data = join(dir, 'data');
  const names = await readdir(data);
  for (const name of ['netimage.sqlite', 'netimage.sqlite-wal', 'netimage.sqlite-shm', 'dhcp-leases.sqlite']) t.true(names.includes(name), `${name} exists`);
  const seen = await modes(data);
  t.is(seen['.'], '700', 'data dir');
  for (const name of names) t.is(seen[name], (await stat(join(data, name))).isDirectory() ? '700' : '600', name);
  await server.stop();
  t.notRegex(server.output(), /tightened/, 'nothing to tighten on a fresh install');
});

test('an existing install with open modes is tightened at start and says so in one log line', async (t) => {
  const dir = await tempDir(t, 'modes');
  const data = join(dir, 'data');
  const first = await serveWithOpenUmask(t, dir);
  await first.stop();
  // What an older netimage (or a careless copy) left behind.
  await chmod(data, 0o755);
  const names = await readdir(data);
  for (const name of names) await chmod(join(data, name), 0o644);
  await mkdir(join(data, 'old'), { mode: 0o777 });
  await chmod(join(data, 'old'), 0o777);
  await writeFile(join(data, 'old', 'backup.sqlite'), 'x', { mode: 0o666 });
  await chmod(join(data, 'old', 'backup.sqlite'), 0o666);

  const second = await serveWithOpenUmask(t, dir);
  const seen = await modes(data);
  t.is(seen['.'], '700');
  for (const name of names) t.is(seen[name], (await stat(join(data, name))).isDirectory() ? '700' : '600', name);
  t.is(seen['old'], '700');
  t.is(((await stat(join(data, 'old', 'backup.sqlite'))).mode & 0o777).toString(8), '600');
  await second.stop();
  const lines = second.output().split('\n').filter((l) => /tightened/.test(l));
  t.is(lines.length, 1, second.output());
  const line = lines[0]!;
  for (const name of ['netimage.sqlite', 'dhcp-leases.sqlite', 'backup.sqlite']) t.true(line.includes(join(data, name === 'backup.sqlite' ? 'old/backup.sqlite' : name)), `${name} named in ${line}`);
  t.true(line.includes(`${data}`), 'the data dir itself is named');
});
