// Setting opsi-local-image-debian: bad input fails at action-set time with a clear message and
// changes nothing; good input passes every check and then meets the 409 that stands until the
// boot image can install (issue 11). Mirrors are loopback only: a mini mirror, a closed port.
import test from 'ava';
import { MASKED } from '../../bootserver/products/secret-properties.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startMiniMirror, closedPort } from './helpers/mini-mirror.ts';
import { verifyPassword } from '../../bootserver/os-images/passwords.ts';
import { productFacts } from '../../lib/products.ts';

const DEBIAN = 'opsi-local-image-debian';
// The boot image installs Debian and Ubuntu now; this file keeps checking the 409 a product the
// boot image cannot run gets after every check passed, so it pretends neither is in the boot image
// (per test file: ava runs each file in its own process). The
// accepted path (action set, build started) is test/os-images/install-flow.test.ts.
(productFacts(DEBIAN) as { inBootImage: boolean }).inBootImage = false;
(productFacts('opsi-local-image-ubuntu') as { inBootImage: boolean }).inBootImage = false;
const YESCRYPT = /^\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$/;

async function setup(t: import('ava').ExecutionContext) {
  const mirror = await startMiniMirror(t);
  const ts = await startTestServer({ overrides: { 'osImages.aptSources': mirror.aptDir } });
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'room1' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:00:71:01', group: 'room1' });
  return { ts, mirror };
}

async function snapshot(ts: TestServer) {
  const props = (await ts.api('GET', `/api/v1/clients/pc01/products/${DEBIAN}/properties`)).body;
  const states = (await ts.api('GET', '/api/v1/product-states')).body;
  const jobs = (await ts.api('GET', '/api/v1/jobs')).body;
  return JSON.stringify({ props, states, jobs });
}

const setAction = (ts: TestServer, properties: Record<string, unknown>) => ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/action`, { actionRequest: 'setup', properties });

test('bad release, mirror, package or password: 400 with a clear message, nothing changed', async (t) => {
  const { ts, mirror } = await setup(t);
  const before = await snapshot(ts);
  const port = await closedPort();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ release: 'sid' }, /opsi-local-image-debian\.release must be one of: "bookworm"/],
    [{ online_repository: `http://127.0.0.1:${port}/debian` }, new RegExp(`the mirror cannot be used: http://127\\.0\\.0\\.1:${port}/debian/dists/bookworm/InRelease: curl: \\(7\\) Failed to connect`)],
    [{ online_repository: mirror.url.replace('/debian', '/nomirror') }, /the mirror cannot be used: .*\/nomirror\/dists\/bookworm\/InRelease: .*404/],
    [{ online_repository: 'ftp://127.0.0.1/debian' }, /online_repository must be an http:\/\/ or https:\/\/ URL, not ftp:/],
    [{ proxy: `http://127.0.0.1:${port}` }, new RegExp(`the mirror cannot be used: .*\\(through proxy http://127\\.0\\.0\\.1:${port}\\)`)],
    // A proxy's password never reaches a message (nor the logs it goes to).
    [{ proxy: `http://squid:s3cret@127.0.0.1:${port}` }, new RegExp(`^(?!.*s3cret).*the mirror cannot be used: .*\\(through proxy http://squid:\\*\\*\\*@127\\.0\\.0\\.1:${port}\\)`)],
    [{ additional_packages: 'vim nosuchpkg-xyz htop also-missing' }, /additional_packages: not on the mirror http:\/\/127\.0\.0\.1:\d+\/debian \(bookworm main\): also-missing, nosuchpkg-xyz/],
    [{ additional_packages: 'vim;reboot' }, /additional_packages: not a Debian package name: "vim;reboot"/],
    [{ root_password: 'a\u0000b' }, /root_password contains a NUL character/],
    [{ root_password: `it's "root"\nnext line` }, /root_password contains a line break, which cannot be typed at a login prompt/],
    [{ user_password: 'x'.repeat(300) }, /user_password is too long \(300 bytes, at most 256\)/],
    [{ root_password: '' }, /root_password is empty/],
    // The PC found it only after the root filesystem was built and laid down (its tzdata has no such zone).
    [{ timezone: 'Mars/Olympus' }, /^opsi-local-image-debian\.timezone: "Mars\/Olympus" is not a time zone \(an IANA name like Europe\/Berlin\); nothing was changed$/],
  ];
  for (const [properties, message] of cases) {
    const r = await setAction(ts, properties);
    t.is(r.status, 400, `${JSON.stringify(properties).slice(0, 80)}: ${r.text}`);
    t.regex(r.body.message, message);
  }
  t.is(await snapshot(ts), before, 'no refused request changed anything');
});

test('good input with quotes and backslashes in passwords passes every check, then gets the clear 409 (no installer in the boot image yet); nothing changed', async (t) => {
  const { ts, mirror } = await setup(t);
  const before = await snapshot(ts);
  const r = await setAction(ts, { root_password: `it's "root" 'ok'`, user_password: 'back\\slash', additional_packages: 'vim htop mail-transport-agent', proxy: '' });
  t.is(r.status, 409, r.text);
  t.regex(r.body.message, /opsi-local-image-debian cannot be set yet: the boot image has no installer for it .*rootfs\/debian-12-[0-9a-f]{16} can be built already: netimage os build debian-12\)\. Nothing was changed\./);
  t.is(await snapshot(ts), before);
  t.true(mirror.requests.includes('/debian/dists/bookworm/main/binary-amd64/Packages.xz'), 'the packages were checked against the mirror');
  t.true(mirror.requests.includes('/security/dists/bookworm-security/InRelease'), 'the security archive of this server\'s apt was checked too');

  const group = await ts.api('POST', '/api/v1/groups/room1/action', { productId: DEBIAN, actionRequest: 'setup', properties: {}, confirm: 1 });
  t.is(group.status, 409);
  t.is(await snapshot(ts), before);

});

test('Ubuntu (untested end to end): its own mirror with -updates and -security, main + universe; its bad input is refused as Debian\'s', async (t) => {
  const { ts, mirror } = await setup(t);
  const before = await snapshot(ts);
  const setUbuntu = (properties: Record<string, unknown>) => ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-ubuntu/action', { actionRequest: 'setup', properties });
  const unknown = await setUbuntu({ online_repository: mirror.ubuntuUrl, additional_packages: 'htop nosuchpkg-xyz' });
  t.is(unknown.status, 400, unknown.text);
  t.regex(unknown.body.message, /opsi-local-image-ubuntu\.additional_packages: not on the mirror http:\/\/127\.0\.0\.1:\d+\/ubuntu \(jammy main universe\): nosuchpkg-xyz$/);
  t.regex((await setUbuntu({ release: 'bookworm' })).body.message, /opsi-local-image-ubuntu\.release must be one of: "jammy", "noble"|release "bookworm" is unknown/);
  const good = await setUbuntu({ online_repository: mirror.ubuntuUrl, additional_packages: 'htop', root_password: `it's "x"` });
  t.is(good.status, 409, good.text);
  t.regex(good.body.message, /opsi-local-image-ubuntu cannot be set yet: .*rootfs\/ubuntu-22\.04-[0-9a-f]{16} .*netimage os build ubuntu-22\.04\)\. Nothing was changed\./);
  for (const path of ['/ubuntu/dists/jammy-security/InRelease', '/ubuntu/dists/jammy-updates/InRelease', '/ubuntu/dists/jammy/universe/binary-amd64/Packages.xz']) t.true(mirror.requests.includes(path), path);
  t.false(mirror.requests.some((r) => r.startsWith('/security/')), 'not the Debian security archive of this server\'s apt');
  t.is(await snapshot(ts), before);
});

test('passwords are stored as yescrypt hashes (defaults too); a hash sent back is kept, not hashed again', async (t) => {
  const { ts } = await setup(t);
  const clear = `pa"ss' \\word`;
  const put = await ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/properties`, { values: { root_password: clear } });
  t.is(put.status, 200, put.text);
  t.is(put.body.root_password, MASKED, 'a secret property is shown as set, not as stored');
  const stored = async () => (await ts.server.store.getPropertyValues('pc01', DEBIAN))['root_password'] as string;
  const hash = await stored();
  t.regex(hash, YESCRYPT);
  t.true(await verifyPassword(clear, hash));
  t.false(JSON.stringify((await ts.api('GET', `/api/v1/clients/pc01/products/${DEBIAN}/properties`)).body).includes('pa\\"ss'));
  const back = await ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/properties`, { values: { root_password: hash } });
  t.is(back.status, 200, back.text);
  t.is(await stored(), hash, 'a hash is kept, not hashed again');
  // The masked value sent back (a form round trip) keeps the stored hash.
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/properties`, { values: { root_password: MASKED } })).status, 200);
  t.is(await stored(), hash);
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${DEBIAN}/properties`, { values: { user_password: 'a\u0000' } })).status, 400);
  // Other products' text properties keep the general rule: no control characters.
  t.is((await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-backup/properties', { values: { imagefile: 'a\nb' } })).status, 400);
});

test('hashPasswords: clear values become yescrypt hashes, hashes stay as they are; the defaults name a root filesystem entry', async (t) => {
  const { ts } = await setup(t);
  const policy = ts.server.osImages.policy;
  const product = await ts.server.service.requireProduct(DEBIAN);
  // beforeActionSet up to the mirror check: the values it would store, by the same code path.
  const hashed = await policy.hashPasswords(DEBIAN, { root_password: 'linux123', user_password: '$y$j9T$abcdefghijklmnopqrstu.$6moJJGPJEAUGPpWSgfi.4LadtIyE7GRHxeHlaBawKgD', language: 'de' });
  t.regex(hashed['root_password'] as string, YESCRYPT);
  t.true(await verifyPassword('linux123', hashed['root_password'] as string));
  t.is(hashed['user_password'], '$y$j9T$abcdefghijklmnopqrstu.$6moJJGPJEAUGPpWSgfi.4LadtIyE7GRHxeHlaBawKgD');
  t.is(hashed['language'], 'de');
  const defaults = Object.fromEntries(product.properties.map((p) => [p.name, p.default]));
  t.is(defaults['root_password'], 'linux123', 'opsi default, documented as to be changed');
  t.regex(policy.resolveProduct(DEBIAN, defaults).entryId, /^rootfs\/debian-12-[0-9a-f]{16}$/);
});
