import test from 'ava';
import { parseDeb822Sources, parseOneLineSources, sourceForSuite } from '../../bootserver/os-images/apt-sources.ts';
import { OS_DEFINITIONS, basePackagesFor, makeSpec, parsePackageList, rootfsEntryName, specHash } from '../../bootserver/os-images/spec.ts';
import { initialProgress, progressAfter } from '../../bootserver/os-images/progress.ts';
import { aptProxyConf } from '../../lib/apt-proxy.ts';
import { mmdebstrapArgs } from '../../bootserver/os-images/build.ts';
import { curlInvocation, parsePackageNames } from '../../bootserver/os-images/mirror.ts';
import { encode64, hashPassword, isPasswordHash, verifyPassword, checkClearPassword, PASSWORD_MAX_BYTES } from '../../bootserver/os-images/passwords.ts';

const debian = OS_DEFINITIONS['debian-12']!;

test('apt sources: deb822 and one-line files give the mirror apt uses per suite; disabled and deb-src are skipped', (t) => {
  const deb822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://off.example/debian
Suites: bookworm
Components: main
`;
  const sources = parseDeb822Sources(deb822);
  t.deepEqual(sources, [
    { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: ['main'] },
    { uri: 'http://deb.debian.org/debian', suite: 'bookworm-updates', components: ['main'] },
    { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security', components: ['main'] },
  ]);
  t.deepEqual(parseOneLineSources('# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib\ndeb-src http://m.example/debian bookworm main\n#deb http://x/ y z\n'), [
    { uri: 'http://m.example/debian', suite: 'bookworm', components: ['main', 'contrib'] },
  ]);
  t.is(sourceForSuite(sources, 'bookworm-security')?.uri, 'http://deb.debian.org/debian-security');
  t.is(sourceForSuite(sources, 'trixie'), null);
});

test('spec: the input hash covers mirror, packages and recipe, not their order; entry names carry the OS', (t) => {
  const a = makeSpec({ os: debian, mirror: 'http://m.example/debian/', security: null, additionalPackages: ['vim', 'htop'] });
  const b = makeSpec({ os: debian, mirror: 'http://m.example/debian', security: null, additionalPackages: ['htop', 'vim', 'vim'] });
  t.is(specHash(a), specHash(b), 'order, duplicates and a trailing slash do not matter');
  t.deepEqual(a.packages, [...new Set([...basePackagesFor(debian), 'vim', 'htop'])].sort());
  t.true(a.packages.includes('linux-image-amd64') && a.packages.includes('systemd-resolved'));
  t.not(specHash(a), specHash(makeSpec({ os: debian, mirror: 'http://other.example/debian', security: null, additionalPackages: ['vim', 'htop'] })));
  t.not(specHash(a), specHash(makeSpec({ os: debian, mirror: 'http://m.example/debian', security: null, additionalPackages: ['vim'] })));
  t.not(specHash(a), specHash({ ...a, builder: 'netimage-rootfs/999' }));
  t.regex(rootfsEntryName(a), /^debian-12-[0-9a-f]{16}$/);
  t.deepEqual(a.sources.map((s) => s.suite), ['bookworm', 'bookworm-updates']);
  t.deepEqual(parsePackageList(' vim,htop  git\n'), ['vim', 'htop', 'git']);
  t.throws(() => parsePackageList('vim; rm -rf /'), { message: /not a Debian package name: "vim;", "-rf", "\/" \(/ });
});

test('mmdebstrap arguments: packages, sources, a directory tree; the proxy only as an apt option', (t) => {
  const spec = makeSpec({ os: debian, mirror: 'http://m.example/debian', security: { uri: 'http://s.example/debian-security', suite: 'bookworm-security', components: ['main'] }, additionalPackages: ['vim'] });
  const args = mmdebstrapArgs(spec, null, '/srv/scratch/tree');
  t.true(args.includes('--format=directory'));
  t.true(args.includes('--variant=important'));
  t.true(args.includes(`--include=${spec.packages.join(',')}`));
  t.deepEqual(args.slice(-5), ['bookworm', '/srv/scratch/tree', 'deb http://m.example/debian bookworm main', 'deb http://m.example/debian bookworm-updates main', 'deb http://s.example/debian-security bookworm-security main']);
  t.false(args.some((a) => a.includes('Proxy')));
  t.true(mmdebstrapArgs(spec, '/srv/scratch/apt-proxy.conf', '/t').includes('--aptopt=/srv/scratch/apt-proxy.conf'));
});

test('a proxy password is never on a command line (world-readable /proc/<pid>/cmdline): apt gets a config file, curl a config on stdin', (t) => {
  const proxy = 'http://squid:s3cret@192.0.2.1:3128';
  const spec = makeSpec({ os: debian, mirror: 'http://m.example/debian', security: null, additionalPackages: [] });
  t.false(mmdebstrapArgs(spec, '/srv/scratch/apt-proxy.conf', '/t').some((a) => a.includes('s3cret') || a.includes('Proxy')));
  t.is(aptProxyConf(proxy), 'Acquire::http::Proxy "http://squid:s3cret@192.0.2.1:3128";\nAcquire::https::Proxy "http://squid:s3cret@192.0.2.1:3128";\n');
  // A quote or line break would end apt's string and smuggle in options of its own.
  t.throws(() => aptProxyConf('http://p:a"b@x:1'), { message: /not an http\(s\) URL/ });
  t.throws(() => aptProxyConf('http://x:1\nAPT::Get::AllowUnauthenticated "true"'), { message: /not an http\(s\) URL/ });

  const curl = curlInvocation('http://m.example/debian/dists/bookworm/InRelease', '/tmp/f', { proxy: 'http://squid:s3"cret@192.0.2.1:3128' });
  t.false(curl.args.some((a) => a.includes('s3')), 'no proxy in curl\'s argv');
  t.true(curl.args.includes('--config'));
  t.is(curl.input, 'proxy = "http://squid:s3\\"cret@192.0.2.1:3128"\n');
  // No proxy: an empty one, so curl does not take one from the environment either.
  t.is(curlInvocation('http://m/x', '/tmp/f', { proxy: null }).input, 'proxy = ""\n');
});

test('Ubuntu (untested end to end, no Ubuntu mirror here): what differs from Debian in the build inputs and the mmdebstrap call', (t) => {
  const jammy = OS_DEFINITIONS['ubuntu-22.04']!;
  const noble = OS_DEFINITIONS['ubuntu-24.04']!;
  const mirror = 'http://de.archive.ubuntu.com/ubuntu';
  const serverSecurity = { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security', components: ['main'] };
  const j = makeSpec({ os: jammy, mirror, security: serverSecurity, additionalPackages: [] });
  // -updates and -security from the same mirror, main + universe; the server's Debian security archive is not used.
  t.deepEqual(j.sources, ['jammy', 'jammy-updates', 'jammy-security'].map((suite) => ({ uri: mirror, suite, components: ['main', 'universe'] })));
  t.true(j.packages.includes('linux-image-generic'));
  t.false(j.packages.includes('linux-image-amd64'));
  t.false(j.packages.includes('systemd-resolved'), 'jammy: resolved is part of systemd');
  t.true(makeSpec({ os: noble, mirror, security: null, additionalPackages: [] }).packages.includes('systemd-resolved'), 'noble: a package of its own');
  for (const p of ['shim-signed', 'grub-efi-amd64-signed', 'grub-pc-bin', 'openssh-server', 'locales']) t.true(j.packages.includes(p), p);
  t.regex(rootfsEntryName(j), /^ubuntu-22\.04-[0-9a-f]{16}$/);
  const args = mmdebstrapArgs(j, null, '/t');
  t.true(args.includes('--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg'), 'the archive is checked with Ubuntu\'s keys');
  t.deepEqual(args.slice(-5), ['jammy', '/t', ...['jammy', 'jammy-updates', 'jammy-security'].map((s) => `deb ${mirror} ${s} main universe`)]);
  t.false(mmdebstrapArgs(makeSpec({ os: debian, mirror: 'http://m.example/debian', security: null, additionalPackages: [] }), null, '/t').some((a) => a.startsWith('--keyring')), 'Debian: the build host\'s keyring');
});

test('progress: stage lines move through bands, package lines inside them, never backwards', (t) => {
  let p = initialProgress();
  const seen: number[] = [];
  const feed = (line: string) => {
    p = progressAfter(p, line);
    seen.push(p.percent);
  };
  feed('I: running apt-get update...');
  feed('I: downloading packages with apt...');
  feed('I: installing remaining packages inside the chroot...');
  feed('0 upgraded, 4 newly installed, 0 to remove and 0 not upgraded.');
  for (const pkg of ['a', 'b', 'c', 'd']) feed(`Unpacking ${pkg} (1.0) ...`);
  for (const pkg of ['a', 'b', 'c', 'd']) feed(`Setting up ${pkg} (1.0) ...`);
  feed('I: running --customize-hook in shell');
  feed('I: downloading packages with apt...'); // a late stage line never moves it back
  t.deepEqual(seen, [2, 5, 50, 50, 55, 60, 65, 70, 75, 80, 85, 90, 90, 90]);
});

test('Packages index: package names and what they provide', (t) => {
  const names = parsePackageNames('Package: exim4-daemon-light\nProvides: mail-transport-agent, exim4 (= 4.96)\n\nPackage: vim\nVersion: 2\n');
  t.deepEqual([...names].sort(), ['exim4', 'exim4-daemon-light', 'mail-transport-agent', 'vim']);
});

test('passwords: yescrypt through libxcrypt keeps quotes, backslashes, spaces and UTF-8; NUL, line breaks, control characters, empty and over-long are refused', async (t) => {
  t.is(encode64(Buffer.alloc(16, 0)), '......................');
  t.is(encode64(Buffer.alloc(16, 0xff)).slice(-1), '1', 'the last of 22 characters holds 2 bits');
  for (const password of ['linux123', `it's "quoted" \\ back`, 'ümlaut €', ' leading and trailing ']) {
    const hash = await hashPassword(password);
    t.regex(hash, /^\$y\$j9T\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$/);
    t.true(isPasswordHash(hash));
    t.true(await verifyPassword(password, hash), JSON.stringify(password));
    t.false(await verifyPassword(password.trimEnd() + 'x', hash));
  }
  t.false(await verifyPassword(' leading and trailing', await hashPassword(' leading and trailing ')), 'a trailing space is part of the password');
  t.not(await hashPassword('same'), await hashPassword('same'), 'random salt');
  t.throws(() => checkClearPassword('root_password', 'a\0b'), { message: /NUL/ });
  t.throws(() => checkClearPassword('root_password', 'two\nlines'), { message: /^root_password contains a line break, which cannot be typed at a login prompt/ });
  t.throws(() => checkClearPassword('user_password', 'cr\r'), { message: /a line break/ });
  t.throws(() => checkClearPassword('user_password', 'tab\there'), { message: /the control character U\+0009/ });
  await t.throwsAsync(hashPassword('x\ny'), { message: /line break/ });
  t.throws(() => checkClearPassword('root_password', ''), { message: /empty/ });
  t.throws(() => checkClearPassword('root_password', 'x'.repeat(PASSWORD_MAX_BYTES + 1)), { message: /too long \(257 bytes, at most 256\)/ });
  t.notThrows(() => checkClearPassword('root_password', 'x'.repeat(PASSWORD_MAX_BYTES)));
  t.true(isPasswordHash('$6$saltsalt$WK7NrcVWVvRQGEWJx1qz.jB3dBadDg8O5iBK1zeeHwGgGbgOSJ9cA46S6sB/ztNQiLk2wM8TLs/vNWuSu/NY/0'));
  t.false(isPasswordHash('$y$short'));
});
