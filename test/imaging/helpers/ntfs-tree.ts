// Test helper, run in a private mount namespace (unshare -m): fill an NTFS partition with what a
// WIM must carry (non-ASCII names, alternate data streams, distinct ACLs, a reparse point), or
// dump everything about its files as JSON so two partitions can be compared.
//   node ntfs-tree.ts fill <dev>      node ntfs-tree.ts dump <dev>
//   node ntfs-tree.ts hive <dev> generalized|installed   (a STAND-IN SYSTEM hive, test/windows/helpers/hive.ts)
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, lstat, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { run, runAllowFailure } from '../../../lib/process.ts';
import { INSTALLED, SYSPREPPED, writeHive } from '../../windows/helpers/hive.ts';

/** Reparse data of an NTFS relative symbolic link (IO_REPARSE_TAG_SYMLINK, flags 1 = relative). */
export function symlinkReparse(target: string): string {
  const t = Buffer.from(target, 'utf16le');
  const body = Buffer.alloc(12);
  body.writeUInt16LE(0, 0);
  body.writeUInt16LE(t.length, 2);
  body.writeUInt16LE(t.length, 4);
  body.writeUInt16LE(t.length, 6);
  body.writeUInt32LE(1, 8);
  const data = Buffer.concat([body, t, t]);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0xa000000c, 0);
  head.writeUInt16LE(data.length, 4);
  return '0x' + Buffer.concat([head, data]).toString('hex');
}

async function fill(dir: string): Promise<void> {
  await mkdir(join(dir, 'Windows/System32/config'), { recursive: true });
  await mkdir(join(dir, 'Users/Jürgen Müller/Документы'), { recursive: true });
  await writeFile(join(dir, 'Windows/System32/drivers.txt'), 'x'.repeat(300_000));
  await writeFile(join(dir, 'Users/Jürgen Müller/Документы/日本語 ファイル.txt'), 'こんにちは\n');
  await writeFile(join(dir, 'Users/Jürgen Müller/Ωmega – ½.txt'), 'omega\n');
  await writeFile(join(dir, 'secret.txt'), 'only root\n');
  await writeFile(join(dir, 'stream.txt'), 'main data\n');
  // ntfs-3g (streams_interface=xattr) shows alternate data streams as user.* attributes.
  await run('setfattr', ['-n', 'user.Zone.Identifier', '-v', '[ZoneTransfer]\\015\\012ZoneId=3', join(dir, 'stream.txt')]);
  await run('setfattr', ['-n', 'user.ström', '-v', 'zweiter Strom', join(dir, 'stream.txt')]);
  // With -o permissions, chmod/chown write distinct security descriptors (system.ntfs_acl).
  await chmod(join(dir, 'secret.txt'), 0o600);
  await chown(join(dir, 'Users/Jürgen Müller/Ωmega – ½.txt'), 1000, 1000);
  await chmod(join(dir, 'Users/Jürgen Müller'), 0o750);
  await writeFile(join(dir, 'link to stream'), '');
  await run('setfattr', ['-h', '-n', 'system.ntfs_reparse_data', '-v', symlinkReparse('stream.txt'), join(dir, 'link to stream')]);
}

/** `getfattr` output ("# file: p" then name=value lines) as {path: {name: value}}. */
function parseGetfattr(text: string, root: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur: Record<string, string> | null = null;
  for (const line of text.split('\n')) {
    const f = /^# file: (.*)$/.exec(line);
    if (f) {
      cur = out[relative(root, f[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))] ??= {};
      continue;
    }
    const i = line.indexOf('=');
    if (cur && i > 0) cur[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function dump(dir: string) {
  const files: Record<string, { type: string; sha256?: string; attrs: Record<string, string> }> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d)) {
      const p = join(d, e);
      const st = await lstat(p);
      const rel = relative(dir, p);
      const type = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
      files[rel] = { type, attrs: {}, ...(type === 'file' ? { sha256: createHash('sha256').update(await readFile(p)).digest('hex') } : {}) };
      if (type === 'dir') await walk(p);
    }
  };
  await walk(dir);
  const paths = Object.keys(files).map((p) => join(dir, p));
  const ask = async (args: string[]) => {
    const r = await runAllowFailure('getfattr', ['--absolute-names', '-h', '-e', 'hex', ...args, ...paths]);
    return parseGetfattr(r.stdout, dir);
  };
  for (const got of [await ask(['-d', '-m', '-']), await ask(['-n', 'system.ntfs_acl']), await ask(['-n', 'system.ntfs_reparse_data']), await ask(['-n', 'system.ntfs_attrib'])])
    for (const [p, attrs] of Object.entries(got)) if (files[p]) Object.assign(files[p].attrs, attrs);
  return files;
}

const [cmd, dev, kind] = process.argv.slice(2);
if (!dev || (cmd !== 'fill' && cmd !== 'dump' && cmd !== 'hive')) throw new Error('usage: ntfs-tree.ts fill|dump|hive <dev> [generalized|installed]');
const mnt = await mkdtemp(join(tmpdir(), 'ni-ntfs-'));
await run('ntfs-3g', ['-o', `streams_interface=xattr${cmd === 'dump' ? ',ro' : ',permissions'}`, dev, mnt]);
try {
  if (cmd === 'fill') await fill(mnt);
  else if (cmd === 'hive') {
    await mkdir(join(mnt, 'Windows/System32/config'), { recursive: true });
    await writeHive(join(mnt, 'Windows/System32/config/SYSTEM'), kind === 'generalized' ? SYSPREPPED : INSTALLED);
  } else console.log(JSON.stringify(await dump(mnt)));
} finally {
  await run('umount', [mnt]);
  await rmdir(mnt);
}
