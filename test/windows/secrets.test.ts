// The Windows passwords at rest (issue 13): administrator_password and domain_password are stored
// sealed with AES-256-GCM under the server key (<dataDir>/secret-properties.key, 0600, made on
// first use), opened only for the job's staging plan, shown as ******** everywhere else (admin
// API, `netimage props`, the agent's job description), never in the store's files or the log.
// Real server, real SQLite store, real CLI process; the media are the stand-in (helpers/fake-media.ts).
import test from 'ava';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from '../../lib/process.ts';
import { startTestServer, issueJob, agentCall, type TestServer } from '../helpers/server.ts';
import { ROOT } from '../imaging/helpers/loop.ts';
import { addFakeMedia, EDITIONS } from './helpers/fake-media.ts';
import { MASKED, SECRET_KEY_FILE, PropertySecrets } from '../../bootserver/products/secret-properties.ts';

const WIN11 = 'opsi-local-image-win11-x64';
const ADMIN_PW = 'Clear-Admin-Pw-4711 ü';
const DOMAIN_PW = 'Clear-Domain-Pw-0815';
const PROPS = { imagename: EDITIONS[0]!.name, administrator_password: ADMIN_PW, domain_name: 'lab.example.org', domain_user: 'joiner', domain_password: DOMAIN_PW, language: 'de-DE' };

let ts: TestServer;
let mac = 0x10;
test.before(async () => {
  ts = await startTestServer();
  await addFakeMedia(ts.server.osImages.depot, WIN11);
});
test.after.always(async () => ts?.stop());

async function newClient(id: string): Promise<string> {
  const m = `52:54:00:00:74:${(mac++).toString(16).padStart(2, '0')}`;
  const r = await ts.api('POST', '/api/v1/clients', { id, mac: m });
  if (r.status !== 201) throw new Error(r.text);
  return m;
}

/** Every file of the data dir (the SQLite database with its -wal, the key...), as bytes. */
async function dataDirBytes(): Promise<Buffer> {
  const parts: Buffer[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.isFile()) parts.push(await readFile(join(dir, e.name)));
    }
  };
  await walk(ts.dataDir);
  return Buffer.concat(parts);
}

const contains = (b: Buffer, s: string) => b.includes(Buffer.from(s, 'utf8')) || b.includes(Buffer.from(s, 'utf16le'));

test.serial('stored sealed, shown masked (API, CLI, agent job), opened only in the staging plan', async (t) => {
  const m = await newClient('pc-secret-01');
  const set = await ts.api('PUT', `/api/v1/clients/pc-secret-01/products/${WIN11}/action`, { actionRequest: 'setup', properties: PROPS });
  t.is(set.status, 200, set.text);

  // The store's rows: sealed, not the typed text; the key file is 0600.
  const raw = await ts.server.store.getPropertyValues('pc-secret-01', WIN11);
  t.regex(String(raw['administrator_password']), /^netimage-sealed:v1:[A-Za-z0-9+/=]+$/);
  t.regex(String(raw['domain_password']), /^netimage-sealed:v1:/);
  t.false(JSON.stringify(raw).includes(ADMIN_PW));
  t.false(JSON.stringify(raw).includes(DOMAIN_PW));
  t.is((await stat(join(ts.dataDir, SECRET_KEY_FILE))).mode & 0o777, 0o600);
  const bytes = await dataDirBytes();
  t.false(contains(bytes, ADMIN_PW) || contains(bytes, 'Clear-Admin-Pw'), 'no file of the data dir holds the administrator password');
  t.false(contains(bytes, DOMAIN_PW), 'nor the domain password');

  // Admin views: masked.
  const props = (await ts.api('GET', `/api/v1/clients/pc-secret-01/products/${WIN11}/properties`)).body;
  t.is(props.administrator_password, MASKED);
  t.is(props.domain_password, MASKED);
  t.is(props.domain_user, 'joiner');
  const cli = await execa(process.execPath, ['bootserver/cli/main.ts', 'props', 'pc-secret-01', WIN11], { cwd: ROOT, env: { NETIMAGE_URL: ts.url, NETIMAGE_TOKEN: ts.adminToken } });
  t.regex(cli.stdout, /administrator_password +"\*{8}"/);
  t.false(cli.stdout.includes('Clear-') || cli.stdout.includes('netimage-sealed'), cli.stdout);
  const states = await execa(process.execPath, ['bootserver/cli/main.ts', 'states', 'pc-secret-01'], { cwd: ROOT, env: { NETIMAGE_URL: ts.url, NETIMAGE_TOKEN: ts.adminToken } });
  t.false(states.stdout.includes('Clear-') || states.stdout.includes('netimage-sealed'));
  for (const path of ['/api/v1/jobs', '/api/v1/product-states', `/api/v1/clients/pc-secret-01/products`]) {
    const r = await ts.api('GET', path);
    t.false(r.text.includes('Clear-') || r.text.includes('netimage-sealed'), path);
  }

  // The masked value sent back (a form round trip) keeps the stored one.
  t.is((await ts.api('PUT', `/api/v1/clients/pc-secret-01/products/${WIN11}/properties`, { values: { administrator_password: MASKED, orgname: 'Lab' } })).status, 200);
  t.is((await ts.server.store.getPropertyValues('pc-secret-01', WIN11))['administrator_password'], raw['administrator_password']);

  // The agent: its job description masked, the staging plan in clear text.
  const job = await issueJob(ts, { clientId: 'pc-secret-01', mac: m, productId: WIN11 });
  const agentJob = await agentCall(ts.url, job.token, 'GET', '/job');
  t.is(agentJob.status, 200);
  t.is(agentJob.body.properties.administrator_password, MASKED);
  t.false(JSON.stringify(agentJob.body).includes('Clear-'));
  const plan = await agentCall(ts.url, job.token, 'GET', '/windows-install');
  t.is(plan.status, 200, JSON.stringify(plan.body));
  t.is(plan.body.unattend.administrator_password, ADMIN_PW);
  t.is(plan.body.unattend.domain_password, DOMAIN_PW);
  // The job log (what the admin reads) does not carry it either.
  const log = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.false(log.text.includes('Clear-'));
  t.is((await ts.api('PUT', `/api/v1/clients/pc-secret-01/products/${WIN11}/action`, { actionRequest: 'none' })).status, 200);
});

test.serial('a bad password is refused naming the property, not the value; nothing stored', async (t) => {
  await newClient('pc-secret-02');
  const r = await ts.api('PUT', `/api/v1/clients/pc-secret-02/products/${WIN11}/properties`, { values: { administrator_password: `Zq7\u0007Pw-${'x'.repeat(10)}` } });
  t.is(r.status, 400, r.text);
  t.regex(r.body.message, /administrator_password must not contain control characters/);
  t.false(r.text.includes('Zq7'), 'the value is not echoed');
  const long = await ts.api('PUT', `/api/v1/clients/pc-secret-02/products/${WIN11}/action`, { actionRequest: 'setup', properties: { ...PROPS, administrator_password: 'y'.repeat(128) } });
  t.is(long.status, 400, long.text);
  t.regex(long.body.message, /administrator_password/);
  t.deepEqual(await ts.server.store.getPropertyValues('pc-secret-02', WIN11), {});
});

test.serial('a schedule cannot carry a password (it stores and shows its properties as given): 400, nothing stored', async (t) => {
  await newClient('pc-secret-04');
  const r = await ts.api('POST', '/api/v1/schedules', { name: 'win-night', every: 'daily 22:00', productId: WIN11, target: { kind: 'client', id: 'pc-secret-04' }, properties: { imagename: EDITIONS[0]!.name, administrator_password: 'Sched-Pw-1' } });
  t.is(r.status, 400, r.text);
  t.regex(r.body.message, /^administrator_password cannot be part of a schedule .*set it on the clients first/);
  t.false(r.text.includes('Sched-Pw-1'));
  t.deepEqual((await ts.api('GET', '/api/v1/schedules')).body, []);
  const ok = await ts.api('POST', '/api/v1/schedules', { name: 'win-night', every: 'daily 22:00', productId: WIN11, target: { kind: 'client', id: 'pc-secret-04' }, properties: { imagename: EDITIONS[0]!.name } });
  t.is(ok.status, 201, ok.text);
});

test.serial('sealing: each value its own nonce, bound to its property; another key cannot open it', async (t) => {
  const secrets = new PropertySecrets(join(ts.dataDir, SECRET_KEY_FILE));
  const a = await secrets.seal({ administrator_password: 'same', domain_password: 'same', orgname: 'plain' });
  const b = await secrets.seal({ administrator_password: 'same' });
  t.not(a['administrator_password'], b['administrator_password']);
  t.is(a['orgname'], 'plain');
  t.deepEqual(await secrets.open(a), { administrator_password: 'same', domain_password: 'same', orgname: 'plain' });
  // Moved onto the other property: refused (the property name is authenticated data).
  await t.throwsAsync(secrets.open({ domain_password: a['administrator_password']! }), { message: /the stored domain_password cannot be opened .*set it again/ });
  const other = new PropertySecrets(join(ts.dataDir, 'other.key'));
  await t.throwsAsync(other.open(a), { message: /cannot be opened with .*other\.key/ });
});

test.serial('a key file readable by others is refused at use, with a clear message', async (t) => {
  const key = join(ts.dataDir, SECRET_KEY_FILE);
  await chmod(key, 0o644);
  try {
    // A fresh reader (the running server has the key in memory already).
    await t.throwsAsync(new PropertySecrets(key).seal({ administrator_password: 'x' }), { message: new RegExp(`secret property key ${key} has mode 644: it must be readable by the server's user only \\(chmod 600`) });
  } finally {
    await chmod(key, 0o600);
  }
});

test('a fresh data dir: the key is made 0600 on first use; a server start tightens a key left open (with a warning) and the passwords still open', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-secrets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let other = await startTestServer({ dataDir: dir });
  const key = join(dir, SECRET_KEY_FILE);
  try {
    await t.throwsAsync(stat(key), { code: 'ENOENT' }, 'not before a secret is stored');
    await addFakeMedia(other.server.osImages.depot, WIN11);
    const r = await other.api('PUT', `/api/v1/clients/pc-k/products/${WIN11}/action`, { actionRequest: 'setup', properties: PROPS });
    t.is(r.status, 404, 'no such client yet');
    await other.api('POST', '/api/v1/clients', { id: 'pc-k', mac: '52:54:00:00:75:01' });
    t.is((await other.api('PUT', `/api/v1/clients/pc-k/products/${WIN11}/properties`, { values: { administrator_password: 'first' } })).status, 200);
    t.is((await stat(key)).mode & 0o777, 0o600);
    t.regex((await readFile(key, 'utf8')).trim(), /^[0-9a-f]{64}$/);
    await other.stop();
    await chmod(key, 0o640);
    other = await startTestServer({ dataDir: dir });
    t.is((await stat(key)).mode & 0o777, 0o600, 'tightened at start (bootserver/store/private-files.ts)');
    const job = await issueJob(other, { clientId: 'pc-k', mac: '52:54:00:00:75:01', productId: WIN11, properties: { imagename: EDITIONS[0]!.name } });
    const plan = await agentCall(other.url, job.token, 'GET', '/windows-install');
    t.is(plan.body.unattend?.administrator_password, 'first', JSON.stringify(plan.body));
  } finally {
    await other.stop();
  }
});
