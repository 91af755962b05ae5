// Delta restore with NTFS MFT records (imaging/chunked/fs-records.ts, native/ntfsrecords.c) on
// loop devices with real mkntfs, ntfs-3g mounts and changes: after each change pattern of
// delta.test.ts the restore that trusts the records leaves the image's used clusters exactly as a
// full restore does while reading far less than restore_mode=compare of the same changed bytes; a
// dirty volume or a hibernated Windows falls back to comparing every chunk (and says why), a
// backup of a dirty one has no table; a pagefile.sys written raw under its unchanged record is
// repaired by delta (never trusted); a raw dd into an ordinary file is repaired by compare (and,
// as documented, not seen by delta); ntfsrecords works on a read-only loop device. pagefile=skip:
// pagefile.sys beyond its first MiB is left as it is (and read no more) while its runlist is the
// backup's, everything else ends as a full restore's; a moved/resized pagefile is restored.
import test from 'ava';
import { open, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition, type RestoreResult } from '../../imaging/restore.ts';
import type { PagefileSetting } from '../../imaging/restore-mode.ts';
import { findRecordsHelper } from '../../imaging/chunked/native.ts';
import { NTFS_RECORD_TABLE_FILE } from '../../imaging/chunked/format.ts';
import { imageDir } from '../../imaging/store/store.ts';
import { deltaFixture, type DeltaFixture } from './helpers/delta-fixture.ts';
import { helper, MiB } from './helpers/loop.ts';
import { usedDigest } from './helpers/used-blocks.ts';

let ctx: DeltaFixture;
const PAGEFILE_MIB = 4;

test.before(async (t) => {
  // A pagefile.sys beside the test files, imaged with them (not in the manifest: its content is
  // checked through the used-cluster digest).
  ctx = await deltaFixture('ntfs', 'win', (dev) => helper(['random', dev, 'ntfs', 'pagefile.sys', String(PAGEFILE_MIB)]));
  const table = ctx.backup.metadata.chunked?.inodeTable;
  t.truthy(table, 'the backup recorded an MFT record table');
  t.is(table!.file, NTFS_RECORD_TABLE_FILE);
  t.true(table!.records > 200, `${table!.records} records`);
});

async function verifyNtfs(dev: string): Promise<void> {
  const v = await helper(['verify', dev, 'ntfs', ctx.manifest]);
  if (!v.ok) throw new Error(`files differ after restore: ${v.bad.join(', ')}`);
  // -n: report only; exits non-zero when the volume needs fixing.
  await run('ntfsfix', ['-n', dev]);
}

async function restore(device: string, mode?: 'delta' | 'compare', pagefile?: PagefileSetting): Promise<{ r: RestoreResult; lines: string[] }> {
  const lines: string[] = [];
  const r = await restorePartition({ storeRoot: ctx.store, imageName: 'win', device, mode, pagefile, log: (l) => lines.push(l) });
  return { r, lines };
}

// ctx.ref (its digest is taken) gets a byte copy of the changed ctx.a: the same change restored
// once trusting the records, once by restore_mode=compare.
for (const change of ['rewrite', 'replace', 'new', 'large', 'pagefile', 'rmdir', 'class']) {
  test.serial(`NTFS "${change}": delta with MFT records equals a full restore and reads far less than compare`, async (t) => {
    await helper(['change', ctx.a, 'ntfs', change]);
    t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'the change touched used clusters');
    await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
    const d = await restore(ctx.a);
    const c = await restore(ctx.ref, 'compare');
    t.is(d.r.mode, 'delta');
    t.is(c.r.mode, 'delta');
    t.true(d.lines.some((l) => /^delta with MFT records: \d+ of \d+ files unchanged, .* trusted .*; 1 pagefile\.sys\/swapfile\.sys\/hiberfil\.sys compared/.test(l)), d.lines.join('\n'));
    t.true(c.lines.includes('delta compares every chunk: restore_mode=compare'), c.lines.join('\n'));
    const da = d.r.applied!;
    const ca = c.r.applied!;
    t.true(da.trustedChunks > 0, `${da.trustedChunks} chunks trusted`);
    t.is(ca.trustedChunks, 0);
    t.log(`${change}: delta read ${da.comparedBytes} bytes (${da.trustedChunks} of ${da.chunks} chunks trusted), compare ${ca.comparedBytes}; written ${da.writtenChunks}`);
    // compare read every chunk's span, delta all but the trusted ones (same device content).
    t.true(ca.comparedBytes - da.comparedBytes >= da.trustedBytes && da.trustedBytes > 0);
    // Always read: the MFT, $LogFile, the 4 MiB pagefile.sys, directories' index blocks (~10 MiB
    // of this 128 MiB volume's ~39 MiB used); "pagefile" and "class" also rewrite part of the
    // largest file (16 MiB), which makes all of it untrusted, and "class" replaces a 7 MiB one.
    t.true(da.comparedBytes < (change === 'class' ? 0.8 : 0.6) * ca.comparedBytes, `delta read ${da.comparedBytes} bytes, compare ${ca.comparedBytes}`);
    // A trusted chunk was never different: both write the same chunks.
    t.is(da.writtenChunks, ca.writtenChunks);
    t.true(da.writtenChunks > 0);
    t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
    t.is(await usedDigest(ctx.ref, ctx.stream), ctx.refDigest);
    await verifyNtfs(ctx.a);
    t.regex(await readFile(join(ctx.store, 'master.log'), 'utf8'), new RegExp(`restore done image=win device=${ctx.a} mode=delta chunks=\\d+/\\d+ written=\\d+ compared=${da.comparedBytes} trusted=${da.trustedChunks} trustedBytes=${da.trustedBytes} seconds=`));
  });
}

/** Where MFT record `n` and its copy in $MFTMirr are, from the boot sector. */
async function mftRecordOffsets(dev: string, n: number): Promise<number[]> {
  const fh = await open(dev, 'r');
  try {
    const bs = Buffer.alloc(512);
    await fh.read(bs, 0, 512, 0);
    const cluster = bs.readUInt16LE(0x0b) * bs[0x0d]!;
    const perRecord = bs.readInt8(0x40);
    const recordSize = perRecord > 0 ? perRecord * cluster : 2 ** -perRecord;
    return [0x30, 0x38].map((lcnAt) => Number(bs.readBigInt64LE(lcnAt)) * cluster + n * recordSize);
  } finally {
    await fh.close();
  }
}

/**
 * Sets VOLUME_IS_DIRTY in $Volume's $VOLUME_INFORMATION (MFT record 3), as Windows leaves it when
 * chkdsk is due: no tool here sets it (ntfsfix only clears it). The flags sit well inside the
 * record's first sector, away from the update-sequence fixups. Test-only byte surgery.
 */
async function markDirty(dev: string): Promise<void> {
  // Both copies, as NTFS writes them (backup refuses a volume whose $MFTMirr differs).
  for (const at of await mftRecordOffsets(dev, 3)) await setDirtyFlag(dev, at);
}

async function setDirtyFlag(dev: string, at: number): Promise<void> {
  const fh = await open(dev, 'r+');
  try {
    const rec = Buffer.alloc(1024);
    await fh.read(rec, 0, rec.length, at);
    if (rec.toString('latin1', 0, 4) !== 'FILE') throw new Error('MFT record 3 is not a FILE record');
    for (let off = rec.readUInt16LE(0x14); off < 1016; ) {
      const type = rec.readUInt32LE(off);
      if (type === 0xffffffff) break;
      if (type === 0x70) {
        const flagsAt = off + rec.readUInt16LE(off + 0x14) + 0x0a;
        if (flagsAt >= 510) throw new Error('$VOLUME_INFORMATION flags sit under a fixup');
        rec.writeUInt16LE(rec.readUInt16LE(flagsAt) | 1, flagsAt);
        await fh.write(rec, flagsAt, 2, at + flagsAt);
        await fh.sync();
        return;
      }
      off += rec.readUInt32LE(off + 4);
    }
    throw new Error('no $VOLUME_INFORMATION in MFT record 3');
  } finally {
    await fh.close();
  }
}

test.serial('a dirty NTFS volume is compared chunk by chunk, and the log says why; the restore cleans it', async (t) => {
  await helper(['change', ctx.a, 'ntfs', 'class']);
  await markDirty(ctx.a);
  // libntfs-3g's own tools refuse a volume scheduled for check.
  t.regex((await runAllowFailure('ntfsinfo', ['-m', ctx.a])).stderr, /Volume is scheduled for check/);
  const { r, lines } = await restore(ctx.a);
  t.is(r.mode, 'delta');
  t.true(lines.some((l) => l.startsWith("delta compares every chunk: the target's MFT records cannot be trusted: the volume is marked dirty")), lines.join('\n'));
  t.is(r.applied!.trustedChunks, 0);
  t.true(r.applied!.writtenChunks > 0);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyNtfs(ctx.a);
});

/** The first run of a file's unnamed $DATA: [lcn, clusters] (ntfsinfo -v). */
async function firstRun(dev: string, path: string): Promise<[number, number]> {
  const out = (await run('ntfsinfo', ['-v', '-F', path, dev])).stdout;
  const m = /Runlist:\s+VCN\s+LCN\s+Length\s*\n\s*0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/i.exec(out);
  if (!m) throw new Error(`no runlist for ${path} in ntfsinfo's output`);
  return [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
}

test.serial('pagefile.sys written raw under its unchanged record is repaired by delta (it is never trusted)', async (t) => {
  const [lcn, len] = await firstRun(ctx.a, '/pagefile.sys');
  t.true(len >= 256, `pagefile.sys's first run is ${len} clusters`);
  // As Windows pages: into the file's clusters, the record untouched.
  await run('dd', ['if=/dev/urandom', `of=${ctx.a}`, 'bs=4096', `seek=${lcn + Math.floor(len / 2)}`, 'count=4', 'conv=notrunc,fsync', 'status=none']);
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  const { r, lines } = await restore(ctx.a, 'delta');
  t.true(r.applied!.trustedChunks > 0);
  t.true(lines.some((l) => l.includes('; 1 pagefile.sys/swapfile.sys/hiberfil.sys compared')), lines.join('\n'));
  t.is(r.applied!.writtenChunks, 1);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyNtfs(ctx.a);
});

/** sha256 of `clusters` 4 KiB clusters of `dev` from cluster `lcn`. */
async function clustersDigest(dev: string, lcn: number, clusters: number): Promise<string> {
  const fh = await open(dev, 'r');
  try {
    const buf = Buffer.alloc(clusters * 4096);
    await fh.read(buf, 0, buf.length, lcn * 4096);
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    await fh.close();
  }
}

test.serial('pagefile=skip: pagefile.sys beyond its first MiB is left as it is and not read, its first MiB and every other used cluster end as a full restore\'s; restore (default) restores all of it', async (t) => {
  const [lcn, len] = await firstRun(ctx.a, '/pagefile.sys');
  t.is(len, PAGEFILE_MIB * 256, 'pagefile.sys is one run');
  const head = MiB / 4096;
  // As Windows pages: in place through the file system (the runlist stays; the record's times
  // change), once where a crash dump header would sit and once beyond the first MiB.
  await helper(['poke', ctx.a, 'ntfs', 'pagefile.sys', String(64 * 1024), String(64 * 1024)]);
  await helper(['poke', ctx.a, 'ntfs', 'pagefile.sys', String(2 * MiB), String(256 * 1024)]);
  await run('dd', [`if=${ctx.a}`, `of=${ctx.ref}`, 'bs=4M', 'conv=fsync', 'status=none']);
  const s = await restore(ctx.a, 'delta', 'skip');
  const d = await restore(ctx.ref, 'delta');
  t.true(s.lines.includes(`pagefile.sys left as it is: ${(((len - head) * 4096) / 1e6).toFixed(0)} MB (pagefile=skip); its first MiB was compared`), s.lines.join('\n'));
  t.false(d.lines.some((l) => l.startsWith('pagefile')), d.lines.join('\n'));
  // The default restores everything: the stock reference's used clusters.
  t.is(await usedDigest(ctx.ref, ctx.stream), ctx.refDigest);
  // skip: the same outside pagefile.sys, and in its first MiB; the rest is the disk's own.
  t.is(await usedDigest(ctx.a, ctx.stream, [lcn, len]), await usedDigest(ctx.ref, ctx.stream, [lcn, len]));
  t.is(await clustersDigest(ctx.a, lcn, head), await clustersDigest(ctx.ref, lcn, head));
  t.not(await clustersDigest(ctx.a, lcn + head, len - head), await clustersDigest(ctx.ref, lcn + head, len - head), 'the write beyond the first MiB was left as it is');
  const sa = s.r.applied!;
  const da = d.r.applied!;
  t.log(`pagefile=skip read ${sa.comparedBytes} bytes (${sa.trustedChunks} of ${sa.chunks} chunks trusted), restore ${da.comparedBytes}`);
  // Not read: the pagefile but its first MiB (chunk edges may keep a little of it compared).
  t.true(sa.comparedBytes <= da.comparedBytes - 2 * MiB, `skip read ${sa.comparedBytes}, restore ${da.comparedBytes}`);
  t.true(sa.trustedBytes >= da.trustedBytes + 2 * MiB);
  await verifyNtfs(ctx.a);
});

test.serial('pagefile=skip is not applied when pagefile.sys\'s clusters moved (it grew): everything is restored as in a full restore, and the log says why', async (t) => {
  // After the test above the pagefile beyond its first MiB still differs from the image.
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  // Grown by 1 MiB: new runs (clusters that were free, or another file's, in the image).
  await helper(['poke', ctx.a, 'ntfs', 'pagefile.sys', String(PAGEFILE_MIB * MiB), String(MiB)]);
  const { r, lines } = await restore(ctx.a, 'delta', 'skip');
  t.is(r.mode, 'delta');
  t.true(r.applied!.trustedChunks > 0);
  t.true(lines.includes("pagefile=skip not applied: the pagefile's clusters are not the ones it had at backup (its runlist differs: resized, moved or recreated); compared like every other file"), lines.join('\n'));
  t.false(lines.some((l) => l.startsWith('pagefile.sys left as it is')), lines.join('\n'));
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyNtfs(ctx.a);
});

test.serial('pagefile=skip with a record table from before pagefile runlists: not applied, and ntfsrecords says why', async (t) => {
  const helperPath = findRecordsHelper('ntfsrecords')!;
  const table = join(ctx.store, 'old.ntfs');
  const bitmap = join(ctx.store, 'old.bits');
  t.regex((await run(helperPath, ['record', ctx.a, table])).stdout, /^OK \d+$/);
  // The older format: header flags 0 (the field was "reserved"), nothing after the records.
  const b = await readFile(table);
  const records = b.readUInt32LE(32);
  b.writeUInt32LE(0, 36);
  await writeFile(table, b.subarray(0, 40 + records * 24));
  const out = (await run(helperPath, ['trust', '--pagefile-skip', ctx.a, table, bitmap])).stdout.trim().split('\n');
  t.is(out[0], "PAGEFILE 0 the image's MFT record table has no pagefile runlists (taken before netimage recorded them)");
  t.regex(out[1]!, /^OK 4096 \d+ [1-9]\d* [1-9]\d* 1$/);
  // The same table with the runlists: the pagefile (1024 clusters) but its first MiB is trusted.
  await run('rm', ['-f', table]);
  await run(helperPath, ['record', ctx.a, table]);
  t.is((await run(helperPath, ['trust', '--pagefile-skip', ctx.a, table, bitmap])).stdout.split('\n')[0], `PAGEFILE ${(PAGEFILE_MIB - 1) * 256}`);
});

test.serial('a raw dd into an ordinary file: restore_mode=compare repairs it; delta trusts the unchanged record and does not see it', async (t) => {
  const [lcn, len] = await firstRun(ctx.a, '/data/big-0.bin');
  t.true(len >= 256, `big-0.bin's first run is ${len} clusters`);
  await run('dd', ['if=/dev/urandom', `of=${ctx.a}`, 'bs=4096', `seek=${lcn + Math.floor(len / 2)}`, 'count=1', 'conv=notrunc,fsync', 'status=none']);
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  const d = await restore(ctx.a, 'delta');
  t.true(d.r.applied!.trustedChunks > 0);
  t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'delta trusted the record: the raw write is still there (docs/imaging.md)');
  const c = await restore(ctx.a, 'compare');
  t.is(c.r.applied!.writtenChunks, 1);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyNtfs(ctx.a);
});

test.serial('a hibernated Windows (hiberfil.sys holding a hibernation image, as Fast Startup leaves it) is compared chunk by chunk, and the log says why', async (t) => {
  await helper(['change', ctx.a, 'ntfs', 'rewrite']);
  await helper(['write', ctx.a, 'ntfs', 'hiberfil.sys', '@HIBR']);
  const { r, lines } = await restore(ctx.a);
  t.is(r.mode, 'delta');
  t.true(lines.includes("delta compares every chunk: the target's MFT records cannot be trusted: Windows is hibernated on this volume (hiberfil.sys: hibernation or Fast Startup)"), lines.join('\n'));
  t.is(r.applied!.trustedChunks, 0);
  t.true(r.applied!.writtenChunks > 0);
  t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
  await verifyNtfs(ctx.a);
});

test.serial('ntfsrecords never opens the device for writing: record and trust work on a read-only loop device', async (t) => {
  const helperPath = findRecordsHelper('ntfsrecords');
  t.truthy(helperPath);
  const ro = (await run('losetup', ['-r', '-f', '--show', ctx.a])).stdout.trim();
  const table = join(ctx.store, 'ro.ntfs');
  const bitmap = join(ctx.store, 'ro.bits');
  try {
    t.is((await run('blockdev', ['--getro', ro])).stdout.trim(), '1');
    t.regex((await run(helperPath!, ['record', ro, table])).stdout, /^OK \d+$/);
    t.regex((await run(helperPath!, ['trust', ro, table, bitmap])).stdout, /^OK 4096 \d+ [1-9]\d* [1-9]\d* 1$/);
    // The restores brought the MFT back byte for byte: the read-only view's table is the backup's.
    t.deepEqual(await readFile(table), await readFile(join(imageDir(ctx.store, 'win'), NTFS_RECORD_TABLE_FILE)));
  } finally {
    await runAllowFailure('losetup', ['-d', ro]);
  }
});

test.serial('a backup of a dirty NTFS volume is made without a record table, and says why', async (t) => {
  await markDirty(ctx.a);
  const lines: string[] = [];
  const b = await backupPartition({ storeRoot: ctx.store, device: ctx.a, imageName: 'dirty', log: (l) => lines.push(l) });
  t.is(b.metadata.format, 'netimage-image/2');
  t.is(b.metadata.chunked!.inodeTable, undefined);
  t.true(lines.some((l) => l.startsWith('no MFT record table: the volume is marked dirty') && l.endsWith('; a delta restore of this image compares every chunk')), lines.join('\n'));
});
