// Delta restore of an NTFS partition (mkntfs + ntfs-3g on a loop device, partclone.ntfs): after
// files were changed through ntfs-3g, a delta restore writes only the chunks that differ, every
// used block then equals what stock `zstd -dc | partclone.restore` of the same image writes, the
// files hash as at backup time and ntfsfix finds nothing to fix.
import test from 'ava';
import { run } from '../../lib/process.ts';
import { restorePartition } from '../../imaging/restore.ts';
import { deltaFixture, type DeltaFixture } from './helpers/delta-fixture.ts';
import { helper } from './helpers/loop.ts';
import { streamDataDigest, usedDigest } from './helpers/used-blocks.ts';

let ctx: DeltaFixture;

test.before(async (t) => {
  ctx = await deltaFixture('ntfs', 'win');
  t.is(ctx.backup.metadata.format, 'netimage-image/2');
  t.is(ctx.backup.metadata.fsType, 'ntfs');
  t.is(ctx.refDigest, streamDataDigest(ctx.stream), 'stock partclone.restore wrote the image data into the used blocks');
});

async function verifyNtfs(dev: string): Promise<void> {
  const v = await helper(['verify', dev, 'ntfs', ctx.manifest]);
  if (!v.ok) throw new Error(`files differ after restore: ${v.bad.join(', ')}`);
  // -n: report only; exits non-zero when the volume needs fixing.
  await run('ntfsfix', ['-n', dev]);
}

// The change patterns of delta.test.ts (see there).
for (const change of ['rewrite', 'replace', 'new', 'large', 'pagefile', 'rmdir', 'class']) {
  test.serial(`NTFS: delta restore after "${change}" writes only changed chunks and equals a full restore`, async (t) => {
    await helper(['change', ctx.a, 'ntfs', change]);
    t.not(await usedDigest(ctx.a, ctx.stream), ctx.refDigest, 'the change touched used blocks');
    const r = await restorePartition({ storeRoot: ctx.store, imageName: 'win', device: ctx.a });
    t.is(r.mode, 'delta');
    const a = r.applied!;
    t.true(a.writtenChunks > 0 && a.writtenChunks < a.chunks / 2, `${a.writtenChunks} of ${a.chunks} chunks written`);
    t.is(await usedDigest(ctx.a, ctx.stream), ctx.refDigest);
    await verifyNtfs(ctx.a);
    // The verify mount was read-only: nothing changed, so a second delta writes nothing.
    const again = await restorePartition({ storeRoot: ctx.store, imageName: 'win', device: ctx.a });
    t.is(again.applied!.writtenChunks, 0);
  });
}
