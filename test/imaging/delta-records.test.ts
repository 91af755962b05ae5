// Delta restore with ext4 inode records (imaging/chunked/fs-records.ts, native/ext4records.c) on
// loop devices with real mkfs.ext4, mounts and changes: after each change pattern of
// delta.test.ts the restore that trusts the records leaves the image's used blocks exactly as a
// full restore does while reading far less than restore_mode=compare of the same changed bytes;
// an unclean file system, an image without an inode table and restore_mode=compare fall back to
// comparing every chunk (and say why); a raw dd under the file system is repaired by compare
// (and, as documented, not seen by delta); ext4records works on a read-only loop device.
import test from 'ava';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition, type RestoreResult } from '../../imaging/restore.ts';
import { findExt4Records } from '../../imaging/chunked/native.ts';
import { INODE_TABLE_FILE } from '../../imaging/chunked/format.ts';
import { imageDir, readMetadata, writeMetadata } from '../../imaging/store/store.ts';
import { deltaFixture, type DeltaFixture } from './helpers/delta-fixture.ts';
import { helper } from './helpers/loop.ts';
import { usedDigest } from './helpers/used-blocks.ts';

let ctx: DeltaFixture;

test.before(async (t) => {
  ctx = await deltaFixture('ext4', 'base');
  const table = ctx.backup.metadata.chunked?.inodeTable;
  t.truthy(table, 'the backup recorded an inode table');
  t.true(table!.records > 10, `${table!.records} inodes recorded`);
});

async function verifyFiles(dev: string): Promise<void> {
  const v = await helper(['verify', dev, 'ext4', ctx.manifest]);
  if (!v.ok) throw new Error(`files differ after restore: ${v.bad.join(', ')}`);
  await run('e2fsck', ['-fn', dev]);
}

async function restore(device: string, mode?: 'delta' | 'compare', imageName = 'base'): Promise<{ r: RestoreResult; lines: string[] }> {
  const lines: string[] = [];
  const r = await restorePartition({ storeRoot: ctx.store, imageName, device, mode, log: (l) => lines.push(l) });
  return { r, lines };
}

// ctx.ref (its digest is taken) gets a byte copy of the changed ctx.a: the same change restored
// once trusting the records, once by restore_mode=compare.
for (const change of ['rewrite', 'replace', 'new', 'large', 'pagefile', 'rmdir', 'class']) {
  test.serial(`"${change}": delta with inode records equals a full restore and reads far less than compare`, async (t) => {
    await helper(['change', ctx.a, 'ext4', change]);
    t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'the change touched used blocks');
    await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
    const d = await restore(ctx.a);
    const c = await restore(ctx.ref, 'compare');
    t.is(d.r.mode, 'delta');
    t.is(c.r.mode, 'delta');
    t.true(d.lines.some((l) => /^delta with inode records: \d+ of \d+ inodes unchanged/.test(l)), d.lines.join('\n'));
    t.true(c.lines.includes('delta compares every chunk: restore_mode=compare'), c.lines.join('\n'));
    const da = d.r.applied!;
    const ca = c.r.applied!;
    t.true(da.trustedChunks > 0, `${da.trustedChunks} chunks trusted`);
    t.is(ca.trustedChunks, 0);
    t.log(`${change}: delta read ${da.comparedBytes} bytes (${da.trustedChunks} chunks trusted), compare ${ca.comparedBytes}`);
    // compare read every chunk's span, delta all but the trusted ones (same device content).
    t.true(ca.comparedBytes - da.comparedBytes >= da.trustedBytes && da.trustedBytes > 0);
    // This 128 MiB file system is ~25 MiB of metadata (journal, inode tables, bitmaps), which is
    // always read; "class" also rewrites part of the largest file, which makes all of it untrusted.
    t.true(da.comparedBytes < (change === 'class' ? 0.9 : 0.7) * ca.comparedBytes, `delta read ${da.comparedBytes} bytes, compare ${ca.comparedBytes}`);
    // A trusted chunk was never different: both write the same chunks.
    t.is(da.writtenChunks, ca.writtenChunks);
    t.true(da.writtenChunks > 0);
    t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
    t.is(await usedDigest(ctx.ref, ctx.stream), ctx.refDigest);
    await verifyFiles(ctx.a);
    t.regex(await readFile(join(ctx.store, 'master.log'), 'utf8'), new RegExp(`restore done image=base device=${ctx.a} mode=delta chunks=\\d+/\\d+ written=\\d+ compared=${da.comparedBytes} trusted=${da.trustedChunks} trustedBytes=${da.trustedBytes} seconds=`));
  });
}

for (const [what, cmd, why] of [
  ['needs_recovery set', ['debugfs', '-w', '-R', 'feature needs_recovery'], 'the journal needs recovery (needs_recovery)'],
  ['state not clean', ['debugfs', '-w', '-R', 'ssv state 0'], 'the file system was not cleanly unmounted (state not clean)'],
  // e2fsck repairs through libext2fs without updating ctimes: a full check since the backup (s_lastcheck) ends the trust.
  ['checked by e2fsck -f', ['e2fsck', '-fy'], 'e2fsck checked the file system since the backup (its repairs do not update ctimes)'],
] as const) {
  test.serial(`an unclean or since checked file system (${what}) is compared chunk by chunk, and the log says why`, async (t) => {
    await helper(['change', ctx.a, 'ext4', 'class']);
    const [file, ...args] = cmd;
    await run(file, [...args, ctx.a]);
    const { r, lines } = await restore(ctx.a);
    t.is(r.mode, 'delta');
    t.true(lines.includes(`delta compares every chunk: the target's inode records cannot be trusted: ${why}`), lines.join('\n'));
    t.is(r.applied!.trustedChunks, 0);
    t.true(r.applied!.writtenChunks > 0);
    t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
    await verifyFiles(ctx.a);
  });
}

test.serial('a raw dd into a file block: restore_mode=compare repairs it; delta trusts the unchanged inode and does not see it', async (t) => {
  const manifest = JSON.parse(await readFile(ctx.manifest, 'utf8')) as Record<string, string>;
  // The middle block of a file of >= 1 MiB: a chunk of file data only (not one that also holds
  // file-system metadata, which is always compared).
  let block = 0;
  for (const file of Object.keys(manifest).sort()) {
    const blocks = (await run('debugfs', ['-R', `blocks /${file}`, ctx.a])).stdout.trim().split(/\s+/).filter(Boolean).map(Number);
    if (blocks.length >= 256) {
      block = blocks[Math.floor(blocks.length / 2)]!;
      break;
    }
  }
  t.true(block > 0, 'a file of >= 1 MiB');
  await run('dd', ['if=/dev/urandom', `of=${ctx.a}`, 'bs=4096', `seek=${block}`, 'count=1', 'conv=notrunc,fsync', 'status=none']);
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  const d = await restore(ctx.a, 'delta');
  t.true(d.r.applied!.trustedChunks > 0);
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'delta trusted the inode: the raw write is still there (docs/imaging.md)');
  const c = await restore(ctx.a, 'compare');
  t.is(c.r.applied!.trustedChunks, 0);
  t.is(c.r.applied!.writtenChunks, 1);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('an image without an inode table (as before) still delta-restores by comparing every chunk', async (t) => {
  const old = join(ctx.store, 'old');
  await run('cp', ['-a', imageDir(ctx.store, 'base'), old]);
  await rm(join(old, INODE_TABLE_FILE));
  const meta = await readMetadata(ctx.store, 'base');
  const { inodeTable: _, ...chunked } = meta.chunked!;
  await writeMetadata(old, { ...meta, name: 'old', chunked });
  await helper(['change', ctx.a, 'ext4', 'class']);
  const { r, lines } = await restore(ctx.a, undefined, 'old');
  t.is(r.mode, 'delta');
  t.true(lines.some((l) => l.startsWith('delta compares every chunk: the image has no inode table')), lines.join('\n'));
  t.is(r.applied!.trustedChunks, 0);
  t.true(r.applied!.writtenChunks > 0);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyFiles(ctx.a);
});

test.serial('ext4records never opens the device for writing: record and trust work on a read-only loop device', async (t) => {
  const helperPath = findExt4Records();
  t.truthy(helperPath);
  const ro = (await run('losetup', ['-r', '-f', '--show', ctx.a])).stdout.trim();
  const table = join(ctx.store, 'ro.ext4');
  const bitmap = join(ctx.store, 'ro.bits');
  try {
    t.is((await run('blockdev', ['--getro', ro])).stdout.trim(), '1');
    t.regex((await run(helperPath!, ['record', ro, table])).stdout, /^OK \d+$/);
    t.regex((await run(helperPath!, ['trust', ro, table, bitmap])).stdout, /^OK 4096 \d+ [1-9]\d* [1-9]\d* 0$/);
    // The table of the read-only view equals the one the backup took (nothing changed since the restores).
    const backupTable = await readFile(join(imageDir(ctx.store, 'base'), INODE_TABLE_FILE));
    t.deepEqual(await readFile(table), backupTable);
  } finally {
    await runAllowFailure('losetup', ['-d', ro]);
  }
});

test.serial('a backup of an unclean file system is made without an inode table, and says why', async (t) => {
  await run('debugfs', ['-w', '-R', 'feature needs_recovery', ctx.a]);
  const lines: string[] = [];
  const b = await backupPartition({ storeRoot: ctx.store, device: ctx.a, imageName: 'unclean', log: (l) => lines.push(l) });
  t.is(b.metadata.format, 'netimage-image/2');
  t.is(b.metadata.chunked!.inodeTable, undefined);
  t.true(lines.includes('no inode table: the journal needs recovery (needs_recovery); a delta restore of this image compares every chunk'), lines.join('\n'));
  await run('debugfs', ['-w', '-R', 'feature -needs_recovery', ctx.a]);
});
