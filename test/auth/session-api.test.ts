// The UI's login over real HTTP: cookie attributes, who-am-I, CSRF on state-changing requests,
// logout, expiry (idle and absolute) and the failed-login limit. One server for the file.
import test from 'ava';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { sha256Hex } from '../../bootserver/service/tokens.ts';

let ts: TestServer;
const PASSWORD = 'correct horse battery';

test.before(async () => {
  // A cheap KDF: the cost is the point of production, not of these tests (passwords.test.ts checks the default).
  ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  const created = await ts.api('POST', '/api/v1/users', { name: 'alice', role: 'admin', password: PASSWORD });
  if (created.status !== 201) throw new Error(created.text);
  await ts.api('POST', '/api/v1/users', { name: 'limited', role: 'operator', groups: ['room1'], password: PASSWORD });
});
test.after.always(() => ts?.stop());

async function login(username: string, password: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${ts.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });
  const body = (await res.json()) as any;
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { status: res.status, body, setCookie, cookie: setCookie.split(';')[0]!, retryAfter: res.headers.get('retry-after') };
}

const withCookie = (cookie: string, method: string, path: string, extra: Record<string, string> = {}, body?: unknown) =>
  fetch(ts.url + path, { method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

test.serial('login sets an HttpOnly SameSite=Strict cookie and answers the user and a CSRF token; GET /session says who', async (t) => {
  const s = await login('alice', PASSWORD);
  t.is(s.status, 201);
  t.regex(s.setCookie, /^netimage_session=ns_[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
  t.deepEqual(s.body.user, { ...s.body.user, name: 'alice', role: 'admin', groups: [] });
  t.is(typeof s.body.csrfToken, 'string');
  const me = await withCookie(s.cookie, 'GET', '/api/v1/session');
  t.is(me.status, 200);
  const body = (await me.json()) as any;
  t.is(body.user.name, 'alice');
  t.is(body.via, 'ui');
  t.is(body.csrfToken, s.body.csrfToken);
  const byToken = await ts.api('GET', '/api/v1/session');
  t.like(byToken.body, { user: { name: 'admin-token', role: 'admin' }, via: 'cli' });
  t.is(byToken.body.csrfToken, undefined);
});

test.serial('a cookie-authenticated write without or with a wrong X-CSRF-Token is refused and changes nothing', async (t) => {
  const s = await login('alice', PASSWORD);
  const none = await withCookie(s.cookie, 'POST', '/api/v1/groups', {}, { id: 'csrf1' });
  t.is(none.status, 403);
  const refusal = (await none.json()) as any;
  t.like(refusal, { statusCode: 403, error: 'Forbidden' }, 'the shape of every error answer');
  t.regex(refusal.message, /X-CSRF-Token/);
  const wrong = await withCookie(s.cookie, 'POST', '/api/v1/groups', { 'x-csrf-token': s.body.csrfToken.slice(0, -1) + (s.body.csrfToken.endsWith('x') ? 'y' : 'x') }, { id: 'csrf1' });
  t.is(wrong.status, 403);
  const otherSession = await login('alice', PASSWORD);
  t.is((await withCookie(s.cookie, 'POST', '/api/v1/groups', { 'x-csrf-token': otherSession.body.csrfToken }, { id: 'csrf1' })).status, 403, "another session's token");
  t.is((await ts.api('GET', '/api/v1/groups')).body.some((g: { id: string }) => g.id === 'csrf1'), false, 'nothing created');
  const ok = await withCookie(s.cookie, 'POST', '/api/v1/groups', { 'x-csrf-token': s.body.csrfToken }, { id: 'csrf1' });
  t.is(ok.status, 201);
  const audit = await ts.api('GET', '/api/v1/audit?actor=alice&limit=10');
  t.like(audit.body[0], { actor: 'alice', via: 'ui', method: 'POST', route: '/api/v1/groups', status: 201, source: '127.0.0.1', detail: { body: { id: 'csrf1' } } });
  t.like(audit.body[1], { actor: 'alice', status: 403 }, 'the refused attempt is recorded too');
  const created = (await ts.api('GET', '/api/v1/audit?actor=admin-token')).body.find((e: { route: string; detail: any }) => e.route === '/api/v1/users' && e.detail.body.name === 'alice');
  t.like(created, { via: 'cli', status: 201, detail: { body: { role: 'admin', password: '***' } } }, 'the password is not in the log');
});

test.serial('logout needs the CSRF token, ends the session and clears the cookie', async (t) => {
  const s = await login('alice', PASSWORD);
  t.is((await withCookie(s.cookie, 'DELETE', '/api/v1/session')).status, 403);
  const out = await withCookie(s.cookie, 'DELETE', '/api/v1/session', { 'x-csrf-token': s.body.csrfToken });
  t.is(out.status, 204);
  t.regex(out.headers.get('set-cookie') ?? '', /^netimage_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/);
  t.is((await withCookie(s.cookie, 'GET', '/api/v1/session')).status, 401);
  const ended = await withCookie(s.cookie, 'GET', '/api/v1/groups');
  t.is(ended.status, 401);
  t.is(ended.headers.get('www-authenticate'), 'Bearer realm="netimage"');
  t.like(await ended.json(), { statusCode: 401, error: 'Unauthorized' }, 'the shape of every error answer');
});

test.serial('a session idle too long or past its absolute end is refused (401) and deleted', async (t) => {
  const idle = await login('alice', PASSWORD);
  const hash = sha256Hex(idle.cookie.split('=')[1]!);
  await ts.server.store.touchSession(hash, new Date(Date.now() - 61 * 60_000).toISOString());
  const write = await withCookie(idle.cookie, 'POST', '/api/v1/groups', { 'x-csrf-token': idle.body.csrfToken }, { id: 'expired1' });
  t.is(write.status, 401, 'a write with the expired session and its CSRF token');
  t.regex(((await write.json()) as any).message, /session expired/);
  t.is(await ts.server.store.getSession(hash), null);
  t.is((await ts.api('GET', '/api/v1/groups')).body.some((g: { id: string }) => g.id === 'expired1'), false, 'nothing created');
  t.is((await withCookie(idle.cookie, 'GET', '/api/v1/groups')).status, 401, 'and it stays refused');

  const now = new Date().toISOString();
  const old = new Date(Date.now() - 13 * 3_600_000).toISOString();
  await ts.server.store.createSession({ hash: sha256Hex('ns_old'), userName: 'alice', csrfToken: 'c', created: old, lastSeen: now, idleSeconds: 3600, expires: new Date(Date.now() - 1000).toISOString(), source: '127.0.0.1' });
  t.is((await withCookie('netimage_session=ns_old', 'GET', '/api/v1/groups')).status, 401, 'past its absolute end although just active');
  t.is((await withCookie('netimage_session=ns_unknown', 'GET', '/api/v1/groups')).status, 401, 'an unknown session');
});

test.serial('wrong passwords: 401, then 429 with Retry-After per user name (even for the right password)', async (t) => {
  const wrong = await login('alice', 'wrong password 1');
  t.is(wrong.status, 401);
  t.is(wrong.setCookie, '', 'no session');
  t.is((await login('nobody', PASSWORD)).status, 401, 'an unknown user: the same answer');
  for (let i = 2; i <= 5; i++) t.is((await login('limited', `wrong password ${i}`)).status, 401);
  t.is((await login('limited', 'wrong password 6')).status, 401, 'the fifth failure of this name');
  const locked = await login('limited', PASSWORD);
  t.is(locked.status, 429);
  t.is(locked.setCookie, '', 'the right password while limited: no session either');
  t.true(Number(locked.retryAfter) > 0 && Number(locked.retryAfter) <= 900, `Retry-After ${locked.retryAfter}`);
  t.like(locked.body, { statusCode: 429, error: 'Too Many Requests' });
  t.regex(locked.body.message, /too many failed logins/);
  t.is((await login('alice', PASSWORD)).status, 201, 'another name from the same address still logs in');
  const audit = await ts.api('GET', '/api/v1/audit?actor=limited&limit=1');
  t.like(audit.body[0], { actor: 'limited', via: 'none', status: 429 });
});

test.serial('the event stream takes the session cookie (EventSource sends cookies)', async (t) => {
  const s = await login('alice', PASSWORD);
  const controller = new AbortController();
  const res = await fetch(`${ts.url}/api/v1/events`, { headers: { cookie: s.cookie }, signal: controller.signal });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /text\/event-stream/);
  controller.abort();
});

test('a server without user accounts says how to get in: the admin token, then netimage user add', async (t) => {
  const fresh = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => fresh.stop());
  const res = await fetch(`${fresh.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin' }) });
  t.is(res.status, 401);
  t.regex(((await res.json()) as { message: string }).message, /^wrong user name or password: this server has no user accounts yet; use the admin token .*netimage user add$/);
  // Once a user exists, a failed login says no more than that (nothing about which accounts exist).
  t.is((await fresh.api('POST', '/api/v1/users', { name: 'alice', role: 'admin', password: PASSWORD })).status, 201);
  const wrong = await fetch(`${fresh.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin' }) });
  t.is(((await wrong.json()) as { message: string }).message, 'wrong user name or password');
});
