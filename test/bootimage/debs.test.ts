import test from 'ava';
import { parseDepends } from '../../bootimage/builder/debs.ts';

test('parseDepends: Depends and Pre-Depends as alternatives, names only', (t) => {
  const control = [
    'Package: ntfs-3g',
    'Version: 1:2022.10.3-1+deb12u4',
    'Pre-Depends: libc6 (>= 2.34)',
    'Depends: libgcrypt20 (>= 1.10.0), libgnutls30 (>= 3.7.5),',
    ' libntfs-3g89 (= 1:2022.10.3-1+deb12u4), fuse3 | fuse:amd64 [amd64]',
    'Recommends: libsomething1',
    'Description: read/write NTFS driver for FUSE',
    ' Depends: not a field (continuation of Description)',
  ].join('\n');
  t.deepEqual(parseDepends(control), [
    ['libc6'],
    ['libgcrypt20'],
    ['libgnutls30'],
    ['libntfs-3g89'],
    ['fuse3', 'fuse'],
  ]);
});

test('parseDepends: a package without Depends has none', (t) => {
  t.deepEqual(parseDepends('Package: busybox-static\nVersion: 1:1.35.0-4+b3\nBuilt-Using: glibc (= 2.36-9)\n'), []);
});
