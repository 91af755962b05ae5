// `netimage token reset` through the real binary beside a running server on the same data dir:
// it replaces the first-start admin token, which every saved login and script of it depends on,
// so it asks first (typed on a terminal, --yes in scripts) and says what stops working.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, startServe, type CliFailure } from '../helpers/cli.ts';

/** Status of an admin API call with this token. */
async function statusWith(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/api/v1/groups`, { headers: { authorization: `Bearer ${token}` } })).status;
}

test('token reset without a terminal and without --yes changes nothing and says what a reset breaks; --yes replaces the token', async (t) => {
  const s = await startServe(t);
  const saved = join(s.dir, 'config', 'netimage', 'credentials.json');
  const before = await readFile(saved, 'utf8');

  const refused = (await t.throwsAsync(s.cli('token', 'reset'))) as CliFailure;
  t.is(refused.code, 2);
  t.is(refused.stdout, '');
  t.is(
    refused.stderr,
    'netimage: token reset replaces the admin token: every CLI login, script (NETIMAGE_TOKEN) and web UI sign-in with the current one stops working (user accounts and their tokens keep working); nothing changed: add --yes to confirm (no terminal to ask on)\n',
  );
  t.is(await statusWith(s.url, s.token), 200, 'the old token still works');
  t.is(await readFile(saved, 'utf8'), before, 'the saved login is untouched');

  // On a terminal (script gives it one) it asks; an answer other than "reset" is no.
  const typed = spawn('script', ['-qec', `${process.execPath} ${CLI} token reset`, '/dev/null'], { env: s.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  typed.stdout.on('data', (c: Buffer) => (out += c.toString()));
  typed.stdout.once('data', () => typed.stdin.end('y\n'));
  t.is(await new Promise((r) => typed.once('close', r)), 1, out);
  t.regex(out, /stops working[^]*Type reset to go ahead: [^]*\nnetimage: not confirmed \(typed "y", not reset\): nothing changed\r?\n$/);
  t.is(await statusWith(s.url, s.token), 200);

  const reset = await s.cli('token', 'reset', '--yes');
  const token = /^ {2}(ni_\S+)$/m.exec(reset.stdout)?.[1];
  t.truthy(token, reset.stdout);
  t.is(await statusWith(s.url, s.token), 401, 'the old token no longer works');
  t.is(await statusWith(s.url, token!), 200);
  t.deepEqual(JSON.parse(await readFile(saved, 'utf8')), { url: s.url, token }, 'saved with the URL serve saved (its real port), not the configured one');
  t.deepEqual(JSON.parse((await s.cli('group', 'list', '--json')).stdout), [], 'the CLI uses the saved new token');
  // The reset is in the audit log (it bypasses the API, whose hook writes the others), once: the
  // refused and unconfirmed attempts changed nothing and left no entry.
  const audit = JSON.parse((await s.cli('audit', '--json')).stdout) as Array<{ route: string; actor: string; detail: unknown }>;
  const resets = audit.filter((e) => e.route === 'netimage token reset');
  t.is(resets.length, 1, JSON.stringify(audit));
  t.regex(resets[0]!.actor, /^local:\S+$/);
  t.false(JSON.stringify(audit).includes(token!), 'the new token is in no audit entry');
});
