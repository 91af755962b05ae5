import test from 'ava';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig, ConfigError, envNameForKey } from '../../bootserver/config/load.ts';
import { dhcpConfigSchema } from '../../bootserver/dhcp/config.ts';

const exec = promisify(execFile);

const madeDirs: string[] = [];
test.after.always(() => Promise.all(madeDirs.map((d) => rm(d, { recursive: true, force: true }))));

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-cfg-'));
  madeDirs.push(dir);
  const file = join(dir, 'netimage.yaml');
  await writeFile(file, text);
  return file;
}

test('no file and no environment gives the documented defaults', (t) => {
  const c = loadConfig({ env: {}, file: null });
  t.is(c.http.port, 8080);
  t.is(c.tftp.port, 69);
  t.is(c.dhcp.port, 67);
  t.is(c.dhcp.pxePort, 4011);
  t.is(c.dhcp.mode, 'proxy');
  t.deepEqual(c.boot.hostIdentifiers, ['mac', 'uuid']);
  t.false(c.boot.bootUnknownClients);
  t.true(c.dataDir.endsWith('var/data'));
});

test('file values are read and the environment overrides them', async (t) => {
  const file = await configFile('http:\n  port: 9000\ndhcp:\n  mode: full\n  full:\n    rangeStart: 10.1.0.10\n    rangeEnd: 10.1.0.20\nboot:\n  maxAttempts: 5\n');
  const c = loadConfig({ file, env: { NETIMAGE_HTTP_PORT: '9100', NETIMAGE_BOOT_HOST_IDENTIFIERS: 'uuid,mac', NETIMAGE_BOOT_BOOT_UNKNOWN_CLIENTS: 'true' } });
  t.is(c.http.port, 9100);
  t.is(c.dhcp.mode, 'full');
  t.is(c.boot.maxAttempts, 5);
  t.deepEqual(c.boot.hostIdentifiers, ['uuid', 'mac']);
  t.true(c.boot.bootUnknownClients);
});

test('env names follow the key path', (t) => {
  t.is(envNameForKey(['http', 'port']), 'NETIMAGE_HTTP_PORT');
  t.is(envNameForKey(['boot', 'bootUnknownClients']), 'NETIMAGE_BOOT_BOOT_UNKNOWN_CLIENTS');
  t.is(envNameForKey(['dataDir']), 'NETIMAGE_DATA_DIR');
});

test('a wrong value names the key, the value, where it came from and what is allowed', (t) => {
  const e1 = t.throws(() => loadConfig({ env: { NETIMAGE_HTTP_PORT: '70000' }, file: null }), { instanceOf: ConfigError });
  t.regex(e1!.message, /^config error: http\.port: .*65535.*got 70000 \(from NETIMAGE_HTTP_PORT\)$/);
  t.is(e1!.message.split('\n').length, 1);
  const e2 = t.throws(() => loadConfig({ env: { NETIMAGE_DHCP_MODE: 'sometimes' }, file: null }), { instanceOf: ConfigError });
  t.regex(e2!.message, /dhcp\.mode: .*"proxy".*"full".*"off".*got "sometimes"/);
  const e3 = t.throws(() => loadConfig({ env: { NETIMAGE_ADVERTISED_IP: '10.0.0.300' }, file: null }), { instanceOf: ConfigError });
  t.regex(e3!.message, /advertisedIp/);
  // The public URL goes into installed PCs: a base URL only, never a password in it.
  for (const bad of ['ftp://netimage.example/', 'http://admin:pw@netimage.example:8080', 'http://netimage.example/?x=1', 'netimage.example']) {
    const e = t.throws(() => loadConfig({ env: { NETIMAGE_HTTP_PUBLIC_URL: bad }, file: null }), { instanceOf: ConfigError });
    t.regex(e!.message, /^config error: http\.publicUrl: /, bad);
    t.false(e!.message.includes(':pw@'), 'the refused URL\'s password is not echoed');
  }
  t.is(loadConfig({ env: { NETIMAGE_HTTP_PUBLIC_URL: 'https://netimage.school.example' }, file: null }).http.publicUrl, 'https://netimage.school.example');
});

test('the dhcp section is the DHCP module\'s own schema: same limits for the file and the standalone runner', async (t) => {
  const lease = 8 * 24 * 3600; // over the 7-day limit
  const e1 = t.throws(() => loadConfig({ env: { NETIMAGE_DHCP_FULL_LEASE_SECONDS: String(lease) }, file: null }), { instanceOf: ConfigError });
  t.regex(e1!.message, /^config error: dhcp\.full\.leaseSeconds: .*604800.*got 691200 \(from NETIMAGE_DHCP_FULL_LEASE_SECONDS\)$/);
  const standalone = dhcpConfigSchema.safeParse({ serverIp: '10.1.0.1', full: { leaseSeconds: lease } });
  t.false(standalone.success);
  t.is(loadConfig({ env: { NETIMAGE_DHCP_FULL_LEASE_SECONDS: String(7 * 24 * 3600) }, file: null }).dhcp.full.leaseSeconds, 604800);
});

test('full mode without a range, or with a range across subnets, stops at load with the key named', async (t) => {
  const e1 = t.throws(() => loadConfig({ env: { NETIMAGE_DHCP_MODE: 'full' }, file: null }), { instanceOf: ConfigError });
  t.regex(e1!.message, /^config error: dhcp\.full\.rangeStart: required when dhcp\.mode is full/);
  t.regex(e1!.message, /\nconfig error: dhcp\.full\.rangeEnd: required/);
  const file = await configFile('dhcp:\n  mode: full\n  full:\n    rangeStart: 10.1.0.10\n    rangeEnd: 10.2.0.20\n');
  const e2 = t.throws(() => loadConfig({ file, env: {} }), { instanceOf: ConfigError });
  t.regex(e2!.message, /dhcp\.full\.rangeEnd: must lie in the same subnet/);
  // proxy mode does not need a range
  t.is(loadConfig({ env: { NETIMAGE_DHCP_MODE: 'proxy' }, file: null }).dhcp.full.rangeStart, null);
});

test('a misspelt key in the file is refused, naming it and the file', async (t) => {
  const file = await configFile('htpp:\n  port: 1\n');
  const e = t.throws(() => loadConfig({ file, env: {} }), { instanceOf: ConfigError });
  t.regex(e!.message, /unknown key htpp/);
  const nested = await configFile('tftp:\n  windowsize: 4\n');
  t.regex(t.throws(() => loadConfig({ file: nested, env: {} }))!.message, /unknown key tftp\.windowsize/);
});

test('broken YAML and a missing explicit file are clear errors', async (t) => {
  const file = await configFile('http: [port: 1\n');
  t.regex(t.throws(() => loadConfig({ file, env: {} }))!.message, /not valid YAML/);
  t.regex(t.throws(() => loadConfig({ file: '/nonexistent/netimage.yaml', env: {} }))!.message, /cannot read config file \/nonexistent/);
});

test('the server process exits non-zero with one clear line on a bad config', async (t) => {
  const error = await t.throwsAsync(
    exec(process.execPath, ['bootserver/cli/main.ts', 'serve'], { env: { ...process.env, NETIMAGE_HTTP_PORT: 'eighty' } }),
  );
  const e = error as Error & { code: number; stderr: string };
  t.is(e.code, 1);
  t.is(e.stderr.trim().split('\n').length, 1);
  t.regex(e.stderr, /^config error: http\.port: .*got "eighty" \(from NETIMAGE_HTTP_PORT\)/);
});

test('NETIMAGE_BOOT_ROOT (shared with the set-up scripts) sets paths.bootRoot; the long name wins', (t) => {
  t.is(loadConfig({ env: { NETIMAGE_BOOT_ROOT: '/srv/boot' }, file: null }).paths.bootRoot, '/srv/boot');
  t.is(loadConfig({ env: { NETIMAGE_BOOT_ROOT: '/srv/boot', NETIMAGE_PATHS_BOOT_ROOT: '/x' }, file: null }).paths.bootRoot, '/x');
});
