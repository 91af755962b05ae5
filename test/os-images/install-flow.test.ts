// The server side of an unattended install (issue 11) through the real server: the install plan
// and its one-time first-boot token, the laid-down state with the PC booting its disk, the
// first-boot report (installed only then, backup / setup_after_install queued), the timeout,
// and the root filesystem build started when the action is set (held boot meanwhile, a failed
// build fails the action). The root filesystem is a small stand-in entry in the server's own
// depot (the plan needs its hash, not real bytes); no test runs a real build (the builds here
// fail or stall against the loopback mini mirror within seconds).
// One server for the file (test.serial): the builder runs one build at a time.
import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { OsInstallPlanSchema } from '../../lib/agent-protocol.ts';
import { productFacts } from '../../lib/products.ts';
import { startTestServer, readBootConfig, parseNetbootConfig, type TestServer } from '../helpers/server.ts';
import { startMiniMirror } from './helpers/mini-mirror.ts';
import { CLI } from '../helpers/cli.ts';
import { verifyPassword } from '../../bootserver/os-images/passwords.ts';
import { localAddresses } from '../../bootserver/http/public-url.ts';

const DEBIAN = 'opsi-local-image-debian';
const BACKUP = 'opsi-local-image-backup';
const YESCRYPT = /^\$y\$j9T\$/;

// Stand-in until the boot image can install (h14 flips lib/products.ts inBootImage for debian):
// without it, setting the action is refused with the 409 that keeps PCs out of a half install.
// Per test file (ava runs each file in its own process), so no other test sees it.
(productFacts(DEBIAN) as { inBootImage: boolean }).inBootImage = true;

let ts: TestServer;
let stalledUrl = '';
let mac = 0x10;
// The mini mirrors live for the whole file: their teardowns run after the last test.
const teardowns: (() => unknown)[] = [];
const fileScope = { teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as ExecutionContext;

let mirrorAptDir = '';

/** A server whose depot has the root filesystem of the default properties, as a build would leave it (stand-in bytes). */
async function serverWithRootfs(overrides: Record<string, unknown> = {}): Promise<TestServer> {
  const server = await startTestServer({ overrides: { 'osImages.aptSources': mirrorAptDir, ...overrides } });
  const defaults = Object.fromEntries((await server.server.service.requireProduct(DEBIAN)).properties.map((p) => [p.name, p.default]));
  const entry = server.server.osImages.policy.resolveProduct(DEBIAN, defaults).entryId.split('/')[1]!;
  await server.server.osImages.depot.create('rootfs', entry, { standIn: true }, async (dir) => {
    await writeFile(join(dir, 'image.pcl.zst'), Buffer.from('stand-in root filesystem'));
    await writeFile(join(dir, 'chunks.json'), Buffer.from('stand-in chunk index'));
    await writeFile(join(dir, 'metadata.json'), Buffer.from('{}'));
  });
  return server;
}

test.before(async () => {
  const mirror = await startMiniMirror(fileScope);
  mirrorAptDir = mirror.aptDir;
  stalledUrl = (await startMiniMirror(fileScope, { stallApt: true })).url;
  ts = await serverWithRootfs();
});
test.after.always(async () => {
  await ts?.stop();
  for (const fn of teardowns.reverse()) await fn();
});

async function newClient(id: string, group?: string, server = ts): Promise<string> {
  const m = `52:54:00:00:72:${(mac++).toString(16).padStart(2, '0')}`;
  const r = await server.api('POST', '/api/v1/clients', { id, mac: m, ...(group ? { group } : {}) });
  if (r.status !== 201) throw new Error(r.text);
  return m;
}

async function state(clientId: string, productId = DEBIAN) {
  return (await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body.find((p: { productId: string }) => p.productId === productId) as Record<string, unknown>;
}

const agent = (token: string, method: string, path: string, body?: unknown, server = ts) =>
  fetch(`${server.url}/agent/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const REPORT = { hostname: 'pc01', kernelRelease: '6.1.0-28-amd64', secureBoot: true, bootMode: 'uefi' };

/** Set the install, boot into it, fetch the plan: what the agent would have. */
async function startInstall(clientId: string, properties: Record<string, unknown> = {}, server = ts) {
  const m = await newClient(clientId, undefined, server);
  const set = await server.api('PUT', `/api/v1/clients/${clientId}/products/${DEBIAN}/action`, { actionRequest: 'setup', properties });
  if (set.status !== 200) throw new Error(set.text);
  const issued = parseNetbootConfig(await readBootConfig(server, m, null));
  if (!issued) throw new Error('no netboot config');
  const res = await agent(issued.token, 'GET', '/os-install', undefined, server);
  if (res.status !== 200) throw new Error(await res.text());
  return { mac: m, jobToken: issued.token, jobId: issued.jobId, plan: OsInstallPlanSchema.parse(await res.json()) };
}

/** Everything a refused call must leave as it was (untouched products are listed with modified = now: left out). */
async function snapshot(clientId: string) {
  const states = ((await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body as Record<string, unknown>[]).map(({ modified: _m, ...rest }) => rest);
  return JSON.stringify({ states, jobs: (await ts.api('GET', `/api/v1/jobs?client=${clientId}`)).body });
}

test.serial('the install plan: rootfs, host name, settings, hashes, apt sources, a fresh first-boot token per call; the rootfs reads with the job token', async (t) => {
  const { plan, jobToken } = await startInstall('pc01', { root_password: 'r00t"pw', timezone: 'Europe/Vienna' });
  t.is(plan.productId, DEBIAN);
  t.is(plan.os, 'debian-12');
  t.regex(plan.rootfs.image.path, /^\/depot\/v1\/rootfs\/debian-12-[0-9a-f]{16}\/image\.pcl\.zst$/);
  t.is(plan.rootfs.image.size, 'stand-in root filesystem'.length);
  t.regex(plan.rootfs.index.path, /^\/depot\/v1\/rootfs\/debian-12-[0-9a-f]{16}\/chunks\.json$/);
  t.is(plan.rootfs.index.sha256, createHash('sha256').update('stand-in chunk index').digest('hex'));
  t.is(plan.hostname, 'pc01');
  t.like(plan, { language: 'de', consoleKeymap: 'de-latin1-nodeadkeys', timezone: 'Europe/Vienna', proxy: null });
  t.true(plan.aptSources.some((l) => /^deb http:\/\/127\.0\.0\.1:\d+\/debian bookworm main$/.test(l)), plan.aptSources.join('\n'));
  t.true(plan.aptSources.some((l) => / bookworm-security main$/.test(l)));
  t.regex(plan.rootPasswordHash, YESCRYPT);
  t.true(await verifyPassword('r00t"pw', plan.rootPasswordHash));
  t.true(await verifyPassword('linux123', plan.userPasswordHash), 'the default, hashed');
  t.is(plan.firstBoot.url, `${ts.url}/agent/v1/first-boot`);
  t.true(Date.parse(plan.firstBoot.expiresAt) > Date.now() + 30 * 60_000);

  const rootfs = await fetch(ts.url + plan.rootfs.image.path, { headers: { authorization: `Bearer ${jobToken}` } });
  t.is(rootfs.status, 200);
  t.is(await rootfs.text(), 'stand-in root filesystem');
  const depotWithFirstBoot = await fetch(ts.url + plan.rootfs.image.path, { headers: { authorization: `Bearer ${plan.firstBoot.token}` } });
  t.is(depotWithFirstBoot.status, 401, 'the first-boot token reads no depot');

  const again = OsInstallPlanSchema.parse(await (await agent(jobToken, 'GET', '/os-install')).json());
  t.not(again.firstBoot.token, plan.firstBoot.token);
  const before = await snapshot('pc01');
  const old = await agent(plan.firstBoot.token, 'POST', '/first-boot', REPORT);
  t.is(old.status, 401, 'the replaced token no longer works');
  t.is(await snapshot('pc01'), before);
});

test.serial('the first-boot URL written into the PC: the Host header only when it names an address of this server, else the address the request arrived at; http.publicUrl when set', async (t) => {
  const { jobToken } = await startInstall('pc-host');
  const port = new URL(ts.url).port;
  const firstBootUrl = async (host: string) => {
    const res = await ts.server.http.inject({ method: 'GET', url: '/agent/v1/os-install', headers: { authorization: `Bearer ${jobToken}`, host } });
    t.is(res.statusCode, 200, res.body);
    return OsInstallPlanSchema.parse(res.json()).firstBoot.url;
  };
  t.is(await firstBootUrl(`127.0.0.1:${port}`), `${ts.url}/agent/v1/first-boot`, 'an address of this server on its port: used');
  const own = new Set(localAddresses());
  for (const spoofed of ['evil.example', `evil.example:${port}`, `203.0.113.9:${port}`, '127.0.0.1:1', `127.0.0.1:${port}@evil.example`, `127.0.0.1:${port}/x`]) {
    const url = new URL(await firstBootUrl(spoofed));
    t.true(own.has(url.hostname.replace(/^\[|\]$/g, '')) && url.port === port, `Host ${spoofed}: ${url.href} is an address of this server`);
    t.is(url.pathname, '/agent/v1/first-boot');
  }
  // Over a real connection the fallback is the address it arrived at.
  const real = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(`${ts.url}/agent/v1/os-install`, { headers: { authorization: `Bearer ${jobToken}`, host: 'evil.example' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(OsInstallPlanSchema.parse(JSON.parse(real)).firstBoot.url, `${ts.url}/agent/v1/first-boot`);

  const named = await serverWithRootfs({ 'http.publicUrl': 'http://netimage.school.example:8080/' });
  t.teardown(() => named.stop());
  const { plan } = await startInstall('pc-named', {}, named);
  t.is(plan.firstBoot.url, 'http://netimage.school.example:8080/agent/v1/first-boot', 'the configured public URL, whatever the Host');
});

test.serial('first boot: laid down → local disk (installed Linux first) → report once → installed, backup queued with imagefile; every other token refused, nothing changed', async (t) => {
  const { plan, jobToken, mac: m } = await startInstall('pc02', { setup_after_install: ['hwinvent', 'l-opsi-client-agent'] });
  const before = await snapshot('pc02');
  for (const [token, why] of [
    [jobToken, 'the job token is not a first-boot token'],
    ['0'.repeat(64), 'an unknown token'],
    ['nonsense', 'a malformed token'],
  ] as const) {
    t.is((await agent(token, 'POST', '/first-boot', REPORT)).status, 401, why);
  }
  t.is((await agent(plan.firstBoot.token, 'GET', '/job')).status, 401, 'the first-boot token is no job token');
  t.is((await agent(plan.firstBoot.token, 'POST', '/first-boot', { ...REPORT, bootMode: 'floppy' })).status, 400);
  t.is(await snapshot('pc02'), before, 'refused reports changed nothing');

  t.is((await agent(jobToken, 'POST', '/job/result', { result: 'successful' })).status, 200);
  t.like(await state('pc02'), { actionRequest: 'none', installationStatus: 'unknown', actionResult: 'none' });
  t.regex(String((await state('pc02'))['actionProgress']), /waiting for the first boot report/);
  const uefi = await readBootConfig(ts, m, null, 'efi');
  t.regex(uefi, /for netimage_loader in \/EFI\/debian\/shimx64\.efi \/EFI\/ubuntu\/shimx64\.efi \/EFI\/BOOT\/BOOTX64\.EFI \/EFI\/Microsoft/);
  const bios = await readBootConfig(ts, m, null, 'pc');
  t.regex(bios, /search --no-floppy --file --set=netimage_root \/boot\/grub\/i386-pc\/core\.img/);
  t.is((await ts.api('GET', '/api/v1/jobs?client=pc02')).body.length, 1, 'no new job: the install is never run again');

  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'os', 'installs', '--state', 'waiting', '--url', ts.url, '--token', ts.adminToken]);
  t.regex(stdout, /pc02\s+opsi-local-image-debian\s+waiting\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, stdout);
  const ok = await agent(plan.firstBoot.token, 'POST', '/first-boot', { ...REPORT, hostname: 'pc02' });
  t.is(ok.status, 200, await ok.text());
  t.like(await state('pc02'), { installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup' });
  t.regex(String((await state('pc02'))['actionProgress']), /first boot of pc02 \(kernel 6\.1\.0-28-amd64, UEFI, Secure Boot on\)/);
  t.like(await state('pc02', BACKUP), { actionRequest: 'setup' });
  const backupProps = (await ts.api('GET', `/api/v1/clients/pc02/products/${BACKUP}/properties`)).body;
  t.is(backupProps.imagefile, DEBIAN);
  t.deepEqual(backupProps.setup_after_install, ['hwinvent'], 'catalogue products run after the backup');
  const foreign = (await ts.api('GET', '/api/v1/clients/pc02/products')).body.find((p: { productId: string }) => p.productId === 'l-opsi-client-agent');
  t.like(foreign, { actionRequest: 'setup' }, 'an opsi localboot product is recorded for the installed OS');

  const after = await snapshot('pc02');
  t.is((await agent(plan.firstBoot.token, 'POST', '/first-boot', REPORT)).status, 401, 'works once');
  t.is(await snapshot('pc02'), after);
});

test.serial('without backup_after_install, setup_after_install is queued at the first boot', async (t) => {
  const { plan, jobToken } = await startInstall('pc03', { backup_after_install: false, setup_after_install: ['hwinvent'] });
  t.is((await agent(jobToken, 'POST', '/job/result', { result: 'successful' })).status, 200);
  t.is((await agent(plan.firstBoot.token, 'POST', '/first-boot', { ...REPORT, secureBoot: null, bootMode: 'bios' })).status, 200);
  t.like(await state('pc03'), { installationStatus: 'installed' });
  t.like(await state('pc03', 'hwinvent'), { actionRequest: 'setup' });
  t.like(await state('pc03', BACKUP), { actionRequest: 'none' });
});

test.serial('no first-boot report by the deadline: the product failed with the reason, and the token is dead', async (t) => {
  const { plan, jobToken } = await startInstall('pc04');
  t.is((await agent(jobToken, 'POST', '/job/result', { result: 'successful' })).status, 200);
  const installs = ts.server.osImages.installs!;
  t.is(await installs.sweep(new Date(Date.now() + 29 * 60_000)), 0, 'not yet due');
  t.true((await installs.sweep(new Date(Date.now() + 31 * 60_000))) >= 1);
  t.like(await state('pc04'), { installationStatus: 'unknown', actionResult: 'failed', actionRequest: 'none' });
  t.regex(String((await state('pc04'))['actionProgress']), /failed: no first-boot report within 30 min after the system was laid down/);
  const before = await snapshot('pc04');
  t.is((await agent(plan.firstBoot.token, 'POST', '/first-boot', REPORT)).status, 401);
  t.is(await snapshot('pc04'), before);
  const listed = (await ts.api('GET', '/api/v1/os/installs?client=pc04')).body as Record<string, unknown>[];
  t.like(listed, [{ clientId: 'pc04', productId: DEBIAN, state: 'timed_out' }]);
  t.false('tokenHash' in listed[0]!, 'no token hash leaves the store');
});

test.serial('setup_after_install naming the install itself or no product id is refused when the action is set (400), nothing changed', async (t) => {
  await newClient('pc11');
  const before = await snapshot('pc11');
  for (const names of [[DEBIAN], ['hwinvent', 'not a product!']]) {
    const r = await ts.api('PUT', `/api/v1/clients/pc11/products/${DEBIAN}/action`, { actionRequest: 'setup', properties: { setup_after_install: names } });
    t.is(r.status, 400, r.text);
    t.regex(r.body.message, /opsi-local-image-debian\.setup_after_install: .* cannot be queued after the install/);
  }
  t.is(await snapshot('pc11'), before);
});

test.serial('the plan is refused for a job of another product (403) and for a finished install job (409)', async (t) => {
  const m = await newClient('pc05');
  await ts.api('PUT', '/api/v1/clients/pc05/products/hwinvent/action', { actionRequest: 'setup' });
  const hw = parseNetbootConfig(await readBootConfig(ts, m, null))!;
  const refused = await agent(hw.token, 'GET', '/os-install');
  t.is(refused.status, 403);
  t.regex(((await refused.json()) as { message: string }).message, /a hwinvent job has no OS install plan/);
  t.is((await agent(hw.token, 'POST', '/job/result', { result: 'successful' })).status, 200);

  const { jobToken } = await startInstall('pc06');
  t.is((await agent(jobToken, 'POST', '/job/result', { result: 'failed', error: 'disk gone' })).status, 200);
  t.is((await agent(jobToken, 'GET', '/os-install')).status, 409);
});

test.serial('a failing root filesystem build started by the action fails the action with its reason; the PC never gets the install', async (t) => {
  const m = await newClient('pc07');
  // Another package list: no entry in the depot, so setting the action starts a build, which
  // mmdebstrap fails within seconds (the mini mirror has no signed Release).
  const set = await ts.api('PUT', `/api/v1/clients/pc07/products/${DEBIAN}/action`, { actionRequest: 'setup', properties: { additional_packages: 'vim' } });
  t.is(set.status, 200, set.text);
  const builds = (await ts.api('GET', '/api/v1/os/builds')).body as { entryId: string; state: string }[];
  t.true(builds.some((b) => b.state === 'queued' || b.state === 'running' || b.state === 'failed'), 'the build is listed');
  const held = await readBootConfig(ts, m, null);
  t.regex(held, /booting the local disk \(setup of opsi-local-image-debian waits: (the root filesystem rootfs\/debian-12-[0-9a-f]{16} is being built|the root filesystem build .* failed)/);
  const deadline = Date.now() + 120_000;
  while ((await state('pc07'))['actionResult'] !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.like(await state('pc07'), { actionResult: 'failed', actionRequest: 'none' });
  t.regex(String((await state('pc07'))['actionProgress']), /failed: the root filesystem build [0-9a-f-]{36} failed: mmdebstrap failed: .*not signed/);
  t.regex(await readBootConfig(ts, m, null), /no pending netboot action/);
  t.is((await ts.api('GET', '/api/v1/jobs?client=pc07')).body.length, 0);
});

test.serial('while its root filesystem is being built, the install is held: the PC boots locally, no job, the build and the wait are visible', async (t) => {
  const m = await newClient('pc08');
  const set = await ts.api('PUT', `/api/v1/clients/pc08/products/${DEBIAN}/action`, { actionRequest: 'setup', properties: { online_repository: stalledUrl } });
  t.is(set.status, 200, set.text);
  const builds = (await ts.api('GET', '/api/v1/os/builds')).body as { id: string; entryId: string; state: string }[];
  const build = builds.at(-1)!;
  t.true(build.state === 'queued' || build.state === 'running', build.state);
  const cfg = await readBootConfig(ts, m, null);
  t.regex(cfg, new RegExp(`setup of opsi-local-image-debian waits: the root filesystem ${build.entryId.replace('/', '\\/')} is being built`));
  t.regex(String((await state('pc08'))['actionProgress']), /is being built \(build [0-9a-f-]{36}, \d+%\)/);
  t.like(await state('pc08'), { actionRequest: 'setup' });
  t.is((await ts.api('GET', '/api/v1/jobs?client=pc08')).body.length, 0);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'os', 'builds', '--url', ts.url, '--token', ts.adminToken]);
  t.regex(stdout, new RegExp(`${build.entryId.replace('/', '\\/')}\\s+(running|queued)\\s+\\d+%`), stdout);

  // A group with the same properties joins that build: no second one; each PC waits for it.
  t.is((await ts.api('POST', '/api/v1/groups', { id: 'room9' })).status, 201);
  const macs = [await newClient('pc09', 'room9'), await newClient('pc10', 'room9')];
  const group = await ts.api('POST', '/api/v1/groups/room9/action', { productId: DEBIAN, actionRequest: 'setup', properties: { online_repository: stalledUrl }, confirm: 2 });
  t.is(group.status, 200, group.text);
  t.is((await ts.api('GET', '/api/v1/os/builds')).body.length, builds.length, 'joined, not started again');
  for (const m of macs) t.regex(await readBootConfig(ts, m, null), new RegExp(`waits: the root filesystem ${build.entryId.replace('/', '\\/')} is being built \\(build ${build.id}`));
});
