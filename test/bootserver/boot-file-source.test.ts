// The one set of boot-file rules TFTP and HTTP share (bootserver/boot-files/). Tested here once,
// against real files, FIFOs and symlinks; test/tftp/traversal.test.ts and
// test/bootserver/boot-files-http.test.ts only show that each protocol goes through it.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normaliseBootFileName } from '../../bootserver/boot-files/names.ts';
import { bootFileSource, type BootFileOpen } from '../../bootserver/boot-files/source.ts';
import { tempDir } from '../helpers/tempdir.ts';

const SECRET = 'NETIMAGE-SECRET-7f3a9c';

/** dir/secret and dir/a/secret outside the root dir/a/root, and symlinks of every kind inside it. */
async function bootRoot(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t, 'bootfiles');
  const root = join(dir, 'a', 'root');
  await mkdir(join(root, 'grub', 'x86_64-efi'), { recursive: true });
  await mkdir(join(root, 'netimage'), { recursive: true });
  await writeFile(join(root, 'grub', 'grub.cfg'), 'inside');
  await writeFile(join(root, 'netimage', 'kernel'), 'KERNEL');
  await writeFile(join(root, 'a b'), 'space');
  await writeFile(join(dir, 'secret'), SECRET);
  await writeFile(join(dir, 'a', 'secret'), SECRET);
  await symlink(join(dir, 'secret'), join(root, 'abs-link'));
  await symlink('../secret', join(root, 'rel-link'));
  await symlink('../../secret', join(root, 'grub', 'deep-link'));
  await symlink('/etc', join(root, 'etc-link'));
  await symlink('../netimage/kernel', join(root, 'grub', 'kernel-link')); // stays inside
  await symlink(join(root, 'netimage'), join(root, 'current')); // absolute, stays inside
  execFileSync('mkfifo', [join(root, 'fifo')]);
  execFileSync('mknod', [join(root, 'null-dev'), 'c', '1', '3']); // tests run as root (loop devices)
  await symlink('/dev/zero', join(root, 'zero'));
  await symlink('/dev/null', join(root, 'grub', 'null'));
  await symlink('loop1', join(root, 'loop2'));
  await symlink('loop2', join(root, 'loop1'));
  return root;
}

async function contentOf(opened: BootFileOpen): Promise<string | null> {
  if (opened.status !== 'open') return null;
  const buffer = Buffer.alloc(opened.file.size);
  await opened.file.readv([buffer], 0);
  await opened.file.close();
  return buffer.toString();
}

test('normalisation: leading slashes, backslashes, doubled and dot segments', (t) => {
  const ok = (raw: string) => {
    const r = normaliseBootFileName(raw);
    return r.ok ? r.path : null;
  };
  t.is(ok('shimx64.efi'), 'shimx64.efi');
  t.is(ok('/grub/grub.cfg'), 'grub/grub.cfg');
  t.is(ok('//grub//x86_64-efi/./http.mod'), 'grub/x86_64-efi/http.mod');
  t.is(ok('\\Boot\\x64\\wdsnbp.com'), 'Boot/x64/wdsnbp.com');
  t.is(ok('grub/grub.cfg-01-52-54-00-12-34-56'), 'grub/grub.cfg-01-52-54-00-12-34-56');
  t.is(ok('a%20b'), 'a%20b', 'names are taken literally');
  t.is(ok('..foo/bar..'), '..foo/bar..', 'dots inside a name are not a parent segment');
  t.is(ok('x'.repeat(255)), 'x'.repeat(255));
});

// Every name here must be refused (or, for root-relative names that do not exist, missing) and
// never open a byte from outside the root. Both protocols use this source for every disk file.
const HOSTILE: Array<[name: string, reason: RegExp]> = [
  ['../secret', /parent/],
  ['../../secret', /parent/],
  ['/../secret', /parent/],
  ['grub/../../secret', /parent/],
  ['a/../grub/grub.cfg', /parent/], // even when it would stay inside
  ['..', /parent/],
  ['..\\secret', /parent/],
  ['\\..\\secret', /parent/],
  ['grub\\..\\..\\secret', /parent/],
  ['.. /secret', /parent/],
  ['.../secret', /parent/],
  ['%2e%2e/secret', /parent.*percent/],
  ['%2E%2E%2Fsecret', /parent.*percent/],
  ['..%2fsecret', /parent.*percent/],
  ['%2e%2e%5csecret', /parent.*percent/],
  ['%c0%ae%c0%ae/secret', /percent/],
  ['a%00b', /NUL.*percent/],
  ['a\0b', /NUL/],
  ['grub\0../../secret', /NUL/],
  ['a\nb', /control/],
  ['grub/\x01../../secret', /control/],
  ['a\x7fb', /non-ASCII/],
  ['caf\xe9', /non-ASCII/],
  ['/', /root directory/],
  ['.', /root directory/],
  ['.//', /root directory/],
  ['', /empty/],
  ['x'.repeat(256), /longer than 255/],
  ['abs-link', /outside the root/],
  ['rel-link', /outside the root/],
  ['grub/deep-link', /outside the root/],
  ['etc-link/passwd', /outside the root/],
  ['zero', /outside the root/],
  ['grub/null', /outside the root/],
];

test('hostile names are refused with a reason, and nothing outside the root is opened', async (t) => {
  const source = bootFileSource(await bootRoot(t));
  for (const [name, reason] of HOSTILE) {
    const opened = await source.open(name);
    t.is(opened.status, 'refused', JSON.stringify(name));
    if (opened.status === 'refused') t.regex(opened.reason, reason, JSON.stringify(name));
  }
});

test('absolute names are root-relative; directories, FIFOs, symlink loops are missing, never opened', async (t) => {
  const source = bootFileSource(await bootRoot(t));
  const missing: Array<[string, RegExp]> = [
    ['/etc/passwd', /ENOENT/], // the root's etc/passwd, never the host's
    ['/secret', /ENOENT/],
    ['grub', /directory/],
    ['grub/x86_64-efi/', /directory/],
    ['current', /directory/],
    ['fifo', /FIFO/],
    ['null-dev', /not a regular file/],
    ['loop1', /ELOOP/],
    ['grub/grub.cfg/x', /ENOTDIR/],
    ['nosuch', /ENOENT/],
  ];
  for (const [name, reason] of missing) {
    const opened = await source.open(name);
    t.is(opened.status, 'missing', name);
    if (opened.status === 'missing') t.regex(opened.reason, reason, name);
  }
});

test('real files are served, also through symlinks that stay inside the root', async (t) => {
  const source = bootFileSource(await bootRoot(t));
  const served: Array<[string, string]> = [
    ['grub/grub.cfg', 'inside'],
    ['/grub/grub.cfg', 'inside'],
    ['\\grub\\grub.cfg', 'inside'],
    ['grub//./grub.cfg', 'inside'],
    ['grub/kernel-link', 'KERNEL'],
    ['current/kernel', 'KERNEL'],
    ['a b', 'space'],
  ];
  for (const [name, content] of served) {
    const opened = await source.open(name);
    t.is(opened.status, 'open', name);
    if (opened.status === 'open' && content === 'inside') t.is(opened.file.name, 'grub/grub.cfg', name);
    t.is(await contentOf(opened), content, name);
  }
  const kernel = await source.open('current/kernel');
  if (kernel.status !== 'open') return t.fail();
  t.is(kernel.file.size, 6);
  const chunks: Buffer[] = [];
  for await (const chunk of kernel.file.readStream(1, 3)) chunks.push(chunk as Buffer);
  t.is(Buffer.concat(chunks).toString(), 'ERN', 'byte ranges are inclusive, the stream closes the file');
});

test('a missing boot root is "missing", not an error', async (t) => {
  const source = bootFileSource(join(await tempDir(t, 'noroot'), 'absent'));
  const opened = await source.open('grub/grub.cfg');
  t.is(opened.status, 'missing');
});
