// The bootserver's serving of the built UI (bootserver/http/web-ui.ts), on a temp build: exact
// routes for the built files only, cache and security headers, and a clear 503 without a build.
import test from 'ava';
import Fastify from 'fastify';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerWebUi } from '../../bootserver/http/web-ui.ts';

async function appOn(uiRoot: string) {
  const app = Fastify();
  await registerWebUi(app, { uiRoot });
  return app;
}

test('serves index.html at / and the hashed assets, with CSP and cache headers; nothing else', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-ui-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>netimage</title>');
  await writeFile(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
  await writeFile(join(dir, '.input-hash'), 'secret-ish\n');
  const app = await appOn(dir);
  t.teardown(() => app.close());
  const index = await app.inject({ url: '/' });
  t.is(index.statusCode, 200);
  t.is(index.body, '<!doctype html><title>netimage</title>');
  t.regex(String(index.headers['content-type']), /^text\/html/);
  t.is(index.headers['cache-control'], 'no-cache');
  t.regex(String(index.headers['content-security-policy']), /default-src 'self'.*script-src 'self'/);
  const js = await app.inject({ url: '/assets/index-abc.js' });
  t.is(js.statusCode, 200);
  t.regex(String(js.headers['content-type']), /^text\/javascript/);
  t.regex(String(js.headers['cache-control']), /immutable/);
  for (const url of ['/.input-hash', '/assets/../../../../etc/hostname', '/assets/%2e%2e/%2e%2e/%2e%2e/etc/hostname', '/assets/other.js', '/etc/passwd']) {
    t.is((await app.inject({ url })).statusCode, 404, url);
  }
});

test('without a build, / answers 503 and says how to build it', async (t) => {
  const app = await appOn(join(tmpdir(), 'ni-ui-does-not-exist'));
  t.teardown(() => app.close());
  const res = await app.inject({ url: '/' });
  t.is(res.statusCode, 503);
  t.regex(res.body, /web UI is not built.*bash run\.sh setup/);
});
