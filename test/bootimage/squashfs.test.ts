// Stage 2 as fetched by stage 1 is a squashfs image (bootimage/builder/archive.ts writeSquashfs):
// the same tree gives the same bytes whatever the files' times and owners, and the image holds the
// tree as root-owned files with their modes and symlinks (read back with unsquashfs, no mount).
import test from 'ava';
import { chmodSync, chownSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { writeSquashfs } from '../../bootimage/builder/archive.ts';
import { sha256File } from '../../bootimage/builder/files.ts';

test('writeSquashfs: reproducible, root-owned, modes and symlinks kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-sqfs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr/bin'), { recursive: true });
  writeFileSync(join(tree, 'usr/bin/tool'), '#!/bin/sh\necho hi\n'.repeat(1000));
  chmodSync(join(tree, 'usr/bin/tool'), 0o755);
  writeFileSync(join(tree, 'init'), 'init\n');
  symlinkSync('usr/bin', join(tree, 'bin'));
  chownSync(join(tree, 'init'), 1234, 1234);

  const a = join(dir, 'a.sqfs');
  const bytes = await writeSquashfs(tree, a);
  t.true(bytes > 0);
  // Other times and an owner change must not change the image.
  utimesSync(join(tree, 'usr/bin/tool'), new Date(2001, 1, 1), new Date(2001, 1, 1));
  chownSync(join(tree, 'init'), 4321, 4321);
  const b = join(dir, 'b.sqfs');
  await writeSquashfs(tree, b);
  t.is(sha256File(a), sha256File(b));

  const list = (await run('unsquashfs', ['-lln', a])).stdout;
  t.regex(list, /^-rwxr-xr-x 0\/0 +18000 .* squashfs-root\/usr\/bin\/tool$/m);
  t.regex(list, /^-rw-r--r-- 0\/0 .* squashfs-root\/init$/m);
  t.regex(list, /^lrwxrwxrwx 0\/0 .* squashfs-root\/bin -> usr\/bin$/m);
  t.notRegex(list, /1234|4321/);
  t.regex((await run('unsquashfs', ['-s', a])).stdout, /Compression zstd/);
});
