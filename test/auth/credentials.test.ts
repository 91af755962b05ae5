// Password hashes (scrypt) and the failed-login limiter, pure or nearly (the KDF is real).
import test from 'ava';
import { DEFAULT_SCRYPT, dummyHash, hashPassword, verifyPassword } from '../../bootserver/auth/passwords.ts';
import { LoginLimiter } from '../../bootserver/auth/login-limiter.ts';
import { sessionCookie, sessionSetCookie } from '../../bootserver/auth/sessions.ts';
import { auditDetail } from '../../bootserver/auth/audit.ts';

test('a password hash verifies its password only, names its parameters and is salted', async (t) => {
  const cheap = { ...DEFAULT_SCRYPT, log2N: 10 };
  const a = await hashPassword('correct horse battery', cheap);
  const b = await hashPassword('correct horse battery', cheap);
  t.regex(a, /^scrypt\$10\$8\$3\$[\w-]{22}\$[\w-]{43}$/);
  t.not(a, b, 'salted');
  t.true(await verifyPassword('correct horse battery', a));
  t.false(await verifyPassword('correct horse batterY', a));
  t.false(await verifyPassword('', a));
  for (const bad of ['', 'plain', 'scrypt$99$8$3$AAAA$AAAA', a.replace('scrypt', 'bcrypt'), dummyHash(cheap)]) t.false(await verifyPassword('correct horse battery', bad), bad);
});

test('the default cost is an OWASP scrypt minimum (N=2^15, r=8, p=3) and verifies', async (t) => {
  const h = await hashPassword('x'.repeat(12));
  t.true(h.startsWith('scrypt$15$8$3$'));
  t.true(await verifyPassword('x'.repeat(12), h));
});

test('failed logins: the 6th try of a name within the window waits, other names do not; the window frees it', (t) => {
  let now = 1_000_000;
  const limiter = new LoginLimiter({ perUser: 5, perSource: 8, windowSeconds: 900 }, () => now);
  for (let i = 0; i < 5; i++) {
    t.is(limiter.retryAfter('olga', '10.0.0.1'), 0);
    limiter.fail('olga', '10.0.0.1');
    now += 1000;
  }
  t.is(limiter.retryAfter('olga', '10.0.0.1'), 895, 'until the first failure leaves the window');
  t.is(limiter.retryAfter('OLGA', '10.0.0.2'), 895, 'per name, whatever the address or case');
  t.is(limiter.retryAfter('alice', '10.0.0.1'), 0, 'another name from the same address');
  now += 895_000;
  t.is(limiter.retryAfter('olga', '10.0.0.1'), 0);
});

test('failed logins: per source address across names; a good login clears its name only', (t) => {
  let now = 0;
  const limiter = new LoginLimiter({ perUser: 5, perSource: 8, windowSeconds: 60 }, () => now);
  for (let i = 0; i < 8; i++) limiter.fail(`user${i}`, '10.0.0.9');
  t.is(limiter.retryAfter('fresh', '10.0.0.9'), 60, 'a spray of names from one address');
  t.is(limiter.retryAfter('fresh', '10.0.0.8'), 0);
  for (let i = 0; i < 5; i++) limiter.fail('bob', '10.0.0.7');
  limiter.succeed('bob');
  t.is(limiter.retryAfter('bob', '10.0.0.6'), 0);
  now = 61_000;
  t.is(limiter.retryAfter('fresh', '10.0.0.9'), 0);
});

test('the session cookie: __Host- prefixed and Secure with auth.secureCookie, plain over HTTP; read back by either name', (t) => {
  t.is(sessionSetCookie('ns_abc', 3600, true), '__Host-netimage_session=ns_abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600; Secure');
  t.is(sessionSetCookie('ns_abc', 3600, false), 'netimage_session=ns_abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600');
  t.is(sessionCookie('a=1; netimage_session=ns_x; b=2'), 'ns_x');
  t.is(sessionCookie('netimage_session=ns_plain; __Host-netimage_session=ns_secure'), 'ns_secure');
  t.is(sessionCookie('netimage_session=; other=1'), null);
  t.is(sessionCookie(undefined), null);
});

test('audit details mask anything named like a password, token or secret, and cut long values', (t) => {
  const d = auditDetail({ name: 'olga' }, { name: 'olga', password: 'hunter2hunter2', nested: { api_token: 'x', list: ['a'] }, csv: 'x'.repeat(600) });
  t.deepEqual(d['params'], { name: 'olga' });
  const body = d['body'] as Record<string, unknown>;
  t.is(body['password'], '***');
  t.deepEqual(body['nested'], { api_token: '***', list: ['a'] });
  t.regex(String(body['csv']), /^x{500}… \(600 chars\)$/);
  t.deepEqual(auditDetail({}, undefined), {});
  // A URL's password under any key (an os build's or a product property's proxy).
  t.deepEqual(auditDetail({}, { os: 'debian-12', proxy: 'http://squid:s3cret@192.0.2.1:3128', properties: { online_repository: 'https://u:pw@mirror.example/debian' } })['body'], {
    os: 'debian-12',
    proxy: 'http://squid:***@192.0.2.1:3128',
    properties: { online_repository: 'https://u:***@mirror.example/debian' },
  });
});
