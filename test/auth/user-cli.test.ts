// `netimage user`, `netimage audit` and the wipe confirmation of `action set --group` through the
// real binary against a real server (in this process). One server for the file.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { CLI } from '../helpers/cli.ts';
import { ProductId } from '../../lib/products.ts';

let ts: TestServer;
let home: string;

test.before(async () => {
  ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  home = await mkdtemp(join(tmpdir(), 'netimage-user-cli-'));
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  for (const [i, id] of ['pc01', 'pc02'].entries()) {
    await ts.api('POST', '/api/v1/clients', { id, mac: `52:54:00:00:50:0${i + 1}`, group: 'room1' });
    await ts.api('PUT', `/api/v1/clients/${id}/products/${ProductId.restore}/properties`, { values: { imagefiles_list: ['win11'], imagefile: 'win11' } });
  }
});
test.after.always(async () => {
  await ts?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

/** Run the CLI with stdin (not a terminal) fed `input`; never rejects. */
function cli(args: string[], input = '', token = ts.adminToken): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, XDG_CONFIG_HOME: home, NETIMAGE_URL: ts.url, NETIMAGE_TOKEN: token };
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

test.serial('user add reads the password from stdin; ls shows roles and groups; the user logs in to the UI with it', async (t) => {
  const added = await cli(['user', 'add', 'olga', '--role', 'operator', '--groups', 'room1'], 'a long password 1\n');
  t.is(added.code, 0, added.stderr);
  t.is(added.stdout, 'added operator olga for room1\n');
  const short = await cli(['user', 'add', 'bob', '--role', 'admin'], 'short\n');
  t.is(short.code, 1);
  t.regex(short.stderr, /^netimage: 400: the password: a password of at least 10 characters\n$/);
  const ls = await cli(['user', 'ls']);
  t.regex(ls.stdout, /^olga\s+operator\s+room1\s+set$/m);
  t.notRegex(ls.stdout, /bob/);
  const login = await fetch(`${ts.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'olga', password: 'a long password 1' }) });
  t.is(login.status, 201);
});

test.serial('user token create prints a token once; the operator logs in with it and restores their room after confirming', async (t) => {
  const created = await cli(['user', 'token', 'create', 'olga', 'laptop']);
  t.is(created.code, 0, created.stderr);
  const token = /^ {2}(nu_\S+)$/m.exec(created.stdout)?.[1];
  t.truthy(token);
  const login = await cli(['login', token!], '', '');
  t.is(login.stdout.split(' as ')[1]?.split(';')[0], 'olga (operator)');

  const unconfirmed = await cli(['action', 'set', '--group', 'room1', ProductId.restore], '', token);
  t.is(unconfirmed.code, 2);
  t.regex(unconfirmed.stderr, /wipes the disks of 2 PC\(s\) of room1: pc01, pc02; nothing set: add --yes/);
  t.is((await ts.api('GET', `/api/v1/clients/pc01/products`)).body.find((s: { productId: string }) => s.productId === ProductId.restore).actionRequest, 'none');
  const prepare = await cli(['action', 'set', '--group', 'room1', ProductId.prepare, '--yes'], '', token);
  t.is(prepare.code, 1);
  t.regex(prepare.stderr, /403: refused, nothing changed: an operator may request only/);
  const restored = await cli(['room', 'restore', 'room1', '--yes'], '', token);
  t.is(restored.code, 0, restored.stderr);
  t.regex(restored.stdout, /wipes the disks of 2 PC\(s\) of room1: pc01, pc02\nrestore of image win11 set for 2 PC\(s\) of room1/);
});

test.serial('audit lists who did what to which PCs, from where and how; operators may not read it', async (t) => {
  const audit = await cli(['audit', '--actor', 'olga']);
  t.is(audit.code, 0, audit.stderr);
  const lines = audit.stdout.split('\n');
  t.regex(lines[0]!, /^TIME\s+WHO\s+VIA\s+FROM\s+REQUEST\s+PCS\s+STATUS$/);
  t.regex(lines[2]!, /olga\s+cli\s+127\.0\.0\.1\s+POST \/groups\/:id\/action\s+pc01,pc02\s+200$/);
  t.regex(audit.stdout, /olga\s+cli\s+127\.0\.0\.1\s+POST \/groups\/:id\/action\s+pc01,pc02\s+403$/m);
  t.regex(audit.stdout, /olga\s+ui\s+127\.0\.0\.1\s+POST \/session\s+-\s+201$/m);
  const json = JSON.parse((await cli(['audit', '--limit', '1', '--json'])).stdout);
  t.is(json.length, 1);
  const token = (await ts.api('POST', '/api/v1/users/olga/tokens', { name: 'audit' })).body.token;
  const refused = await cli(['audit'], '', token);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /403: refused, nothing changed: GET \/api\/v1\/audit is for admins only/);
});

test.serial('an admin with rooms is refused (an admin sees every room): add and edit, CLI before the password prompt and API; nothing changed', async (t) => {
  const add = await cli(['user', 'add', 'adela', '--role', 'admin', '--groups', 'room1'], 'a long password 1\n');
  t.is(add.code, 2, 'refused before a password is asked for');
  t.is(add.stderr, 'netimage: --groups is for operators: an admin sees every room (give --role operator --groups ..., or --role admin alone)\n');
  const api = await ts.api('POST', '/api/v1/users', { name: 'adela', role: 'admin', groups: ['room1'], password: null });
  t.is(api.status, 400);
  t.is(api.body.message, 'groups are for operators: an admin sees every room; nothing changed');
  t.notRegex((await cli(['user', 'ls'])).stdout, /adela/);
  t.is((await cli(['user', 'add', 'adela', '--role', 'admin', '--token-only'])).code, 0);
  // A name taken is said before the password is asked for (twice, on a terminal), not after.
  const taken = await cli(['user', 'add', 'adela', '--role', 'admin']);
  t.is(taken.code, 1);
  t.is(taken.stderr, 'netimage: 409: user adela already exists\n');
  // An existing admin given rooms: the CLI cannot know the role, the server says it.
  const edit = await cli(['user', 'edit', 'adela', '--groups', 'room1']);
  t.is(edit.code, 1);
  t.is(edit.stderr, 'netimage: 400: groups are for operators: an admin sees every room; nothing changed\n');
  t.is((await cli(['user', 'edit', 'adela', '--role', 'admin', '--groups', 'room1'])).code, 2);
  t.deepEqual((await ts.api('GET', '/api/v1/users/adela')).body.groups, []);
  // Made operator with rooms: fine; back to admin drops the rooms (they would come back unasked on a later demotion).
  t.is((await cli(['user', 'edit', 'adela', '--role', 'operator', '--groups', 'room1'])).stdout, 'changed adela: operator for room1\n');
  t.is((await cli(['user', 'edit', 'adela', '--role', 'admin'])).stdout, 'changed adela: admin\n');
  t.is((await cli(['user', 'edit', 'adela', '--role', 'operator'])).stdout, 'changed adela: operator for no groups\n');
  t.is((await cli(['user', 'rm', 'adela'])).code, 0);
});

test.serial('user edit, passwd (ends sessions), token rm and rm', async (t) => {
  t.is((await cli(['user', 'edit', 'olga', '--role', 'admin'])).stdout, 'changed olga: admin\n');
  t.is((await cli(['user', 'passwd', 'olga'], 'another long password\n')).code, 0);
  t.is((await cli(['user', 'token', 'rm', 'olga', 'laptop'])).stdout, 'revoked token laptop of olga\n');
  t.regex((await cli(['user', 'token', 'ls', 'olga'])).stdout, /^audit\s/m);
  t.is((await cli(['user', 'rm', 'olga'])).code, 0);
  const gone = await cli(['user', 'rm', 'olga']);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /404: user olga not found/);
});
