// The WIM engine on real NTFS: one loop device over a sparse file with two partitions; the
// first is filled through ntfs-3g, captured with wimlib-imagex (NTFS-3G mode), applied onto the
// second, and every file's content, ACL (system.ntfs_acl), alternate data streams (user.*),
// attributes and reparse data must come back identical, non-ASCII names included.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { applyWim, captureWim, wimInfo, WIM_COMPRESSIONS } from '../../imaging/wim/wimlib.ts';
import { parseWimInfo } from '../../imaging/wim/info.ts';
import { createLoop, MiB, ROOT } from './helpers/loop.ts';

// One loop device for the file (ava allows no teardown in hooks: it runs in after.always).
const teardowns: (() => Promise<void>)[] = [];
test.after.always(async () => {
  for (const f of teardowns.reverse()) await f();
});

test.serial.before(async (t) => {
  const loop = await createLoop({ teardown: (f: () => Promise<void>) => teardowns.push(f) } as never, 160 * MiB);
  await run('sfdisk', ['--quiet', loop.path], { input: 'label: gpt\nsize=64MiB, type=EBD0A0A2-B9E5-4433-87C0-68B9B72699C7\nsize=64MiB, type=EBD0A0A2-B9E5-4433-87C0-68B9B72699C7\n' });
  await run('partx', ['-a', loop.path]).catch(() => run('partx', ['-u', loop.path]));
  const [src, dst] = [`${loop.path}p1`, `${loop.path}p2`];
  await run('mkntfs', ['--quick', '--force', '--label', 'system', src]);
  await tree('fill', src);
  t.context = { dir: loop.dir, src, dst };
});

interface Ctx {
  dir: string;
  src: string;
  dst: string;
}

async function tree(cmd: 'fill' | 'dump', dev: string): Promise<Record<string, { type: string; sha256?: string; attrs: Record<string, string> }>> {
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/ntfs-tree.ts'), cmd, dev], { maxBuffer: 16 * MiB });
  return cmd === 'dump' ? JSON.parse(r.stdout) : {};
}

test.serial('capture -> apply onto another partition: contents, ACLs, streams, reparse points and names identical', async (t) => {
  const { dir, src, dst } = t.context as Ctx;
  const wim = join(dir, 'install.wim');
  const progress: number[] = [];
  const cap = await captureWim({ device: src, wimFile: wim, imageName: 'Büro – Windows 11 Pro', description: 'Räume 1–3', compression: 'lzx', mode: 'always_create', onProgress: (p) => progress.push(p) });
  t.is(cap.info.compression, 'LZX');
  t.is(cap.image.index, 1);
  t.is(cap.image.name, 'Büro – Windows 11 Pro');
  t.is(cap.image.description, 'Räume 1–3');
  t.is(progress.at(-1), 100);
  const applied = await applyWim({ wimFile: wim, image: 'Büro – Windows 11 Pro', device: dst });
  t.is(applied.index, 1);

  const before = await tree('dump', src);
  const after = await tree('dump', dst);
  // The test can fail: the tree really has what it is meant to check.
  t.truthy(before['Users/Jürgen Müller/Документы/日本語 ファイル.txt']?.sha256);
  t.is(before['stream.txt']?.attrs['user.ström'], '0x' + Buffer.from('zweiter Strom').toString('hex'));
  t.regex(before['link to stream']?.attrs['system.ntfs_reparse_data'] ?? '', /^0x0c0000a0/);
  const acls = new Set(Object.values(before).map((f) => f.attrs['system.ntfs_acl']));
  t.true(acls.size >= 3, `distinct ACLs in the source: ${acls.size}`);
  t.deepEqual(after, before);
});

test.serial('append adds images, refuses a duplicate name; always_create replaces the file; info fields', async (t) => {
  const { dir, src } = t.context as Ctx;
  const wim = join(dir, 'multi.wim');
  await captureWim({ device: src, wimFile: wim, imageName: 'eins', compression: 'xpress', mode: 'append' });
  await captureWim({ device: src, wimFile: wim, imageName: 'zwei', compression: 'lzms', mode: 'append' });
  let info = await wimInfo(wim);
  t.deepEqual(info.images.map((i) => [i.index, i.name]), [[1, 'eins'], [2, 'zwei']]);
  t.is(info.compression, 'XPRESS', 'append keeps the file compression');
  t.true(info.images[0]!.fileCount >= 6);
  t.true(info.images[0]!.totalBytes > 300_000);
  await t.throwsAsync(captureWim({ device: src, wimFile: wim, imageName: 'zwei', compression: 'lzx', mode: 'append' }), { message: /already has an image named "zwei"/ });
  t.is((await wimInfo(wim)).imageCount, 2, 'a refused append changes nothing');
  await captureWim({ device: src, wimFile: wim, imageName: 'neu', compression: 'none', mode: 'always_create' });
  info = await wimInfo(wim);
  t.deepEqual(info.images.map((i) => i.name), ['neu']);
  t.is(info.compression, 'None');
});

test.serial('each compression is selectable', async (t) => {
  const { dir, src } = t.context as Ctx;
  const names: Record<(typeof WIM_COMPRESSIONS)[number], string> = { none: 'None', xpress: 'XPRESS', lzx: 'LZX', lzms: 'LZMS' };
  for (const c of WIM_COMPRESSIONS) {
    const r = await captureWim({ device: src, wimFile: join(dir, `c-${c}.wim`), imageName: c, compression: c, mode: 'always_create' });
    t.is(r.info.compression, names[c], c);
  }
});

test.serial('refusals: not NTFS, missing image, damaged WIM', async (t) => {
  const { dir, src, dst } = t.context as Ctx;
  const wim = join(dir, 'install.wim');
  await t.throwsAsync(applyWim({ wimFile: wim, image: 7, device: dst }), { message: /has no image 7 \(it has: 1 "Büro – Windows 11 Pro"\)/ });
  const junk = join(dir, 'junk.wim');
  await writeFile(junk, 'not a wim at all');
  await t.throwsAsync(wimInfo(junk), { message: /wimlib-imagex info failed/ });
  const ext4 = `${dst}`;
  await run('mkfs.ext4', ['-q', '-F', ext4]);
  await t.throwsAsync(captureWim({ device: ext4, wimFile: join(dir, 'x.wim'), imageName: 'x', compression: 'lzx', mode: 'always_create' }), { message: /only an NTFS/ });
  t.truthy(src);
});

test('parseWimInfo reads a Windows image block (text as wimlib-imagex 1.13 prints it)', (t) => {
  const text = `WIM Information:
----------------
Path:           install.wim
GUID:           0x1
Version:        68864
Image Count:    1
Compression:    LZMS
Chunk Size:     131072 bytes
Part Number:    1/1
Boot Index:     0
Size:           4966252851 bytes
Attributes:     Relative path junction

Available Images:
-----------------
Index:                  1
Name:                   Windows 11 Pro
Description:            Windows 11 Pro
Display Name:           Windows 11 Pro
Display Description:    Windows 11 Pro
Directory Count:        20011
File Count:             98765
Total Bytes:            16327458137
Hard Link Bytes:        6270236834
Creation Time:          Thu Sep 22 03:38:00 2022 UTC
Last Modification Time: Thu Sep 22 03:55:42 2022 UTC
Architecture:           x86_64
Product Name:           Microsoft® Windows® Operating System
Edition ID:             Professional
Installation Type:      Client
Product Type:           WinNT
Product Suite:          Terminal Server
Languages:              de-DE en-US
Default Language:       de-DE
System Root:            WINDOWS
Major Version:          10
Minor Version:          0
Build:                  22621
Service Pack Build:     382
Service Pack Level:     0
Flags:                  Professional
WIMBoot compatible:     no

`;
  const info = parseWimInfo(text);
  t.like(info, { imageCount: 1, compression: 'LZMS', sizeBytes: 4966252851 });
  t.like(info.images[0], { index: 1, name: 'Windows 11 Pro', edition: 'Professional', architecture: 'x86_64', version: '10.0.22621', languages: ['de-DE', 'en-US'], defaultLanguage: 'de-DE', totalBytes: 16327458137 });
  t.throws(() => parseWimInfo(text.replace('Image Count:    1', 'Image Count:    2')), { message: /header says 2 images, found 1/ });
});
