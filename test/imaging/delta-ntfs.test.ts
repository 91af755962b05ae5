// Delta restore of an NTFS partition (mkntfs + ntfs-3g on a loop device, partclone.ntfs): after
// files were changed through ntfs-3g, a delta restore writes only the chunks that differ, every
// used block then equals what stock `zstd -dc | partclone.restore` of the same image writes, the
// files hash as at backup time and ntfsfix finds nothing to fix.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { backupPartition } from '../../imaging/backup.ts';
import { restorePartition } from '../../imaging/restore.ts';
import { imageDir } from '../../imaging/store/store.ts';
import { createLoop, helper, MiB } from './helpers/loop.ts';
import { streamDataDigest, usedDigest } from './helpers/used-blocks.ts';

// One pair of loop devices for the whole file; hooks have no t.teardown, so collect the clean-ups.
const cleanups: (() => Promise<unknown>)[] = [];
const hookContext = { teardown: (fn: () => Promise<unknown>) => cleanups.push(fn) } as unknown as ExecutionContext;
test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

let ctx: { store: string; a: string; manifest: string; stream: Buffer; refDigest: string };

test.before(async (t) => {
  const store = await mkdtemp(join(tmpdir(), 'ni-delta-ntfs-'));
  cleanups.push(() => rm(store, { recursive: true, force: true }));
  const a = await createLoop(hookContext, 128 * MiB);
  const ref = await createLoop(hookContext, 128 * MiB);
  await run('mkntfs', ['--quick', '--force', '--label', 'system', a.path]);
  const fill = await helper(['fill', a.path, 'ntfs', '24']);
  const manifest = join(store, 'manifest.json');
  await writeFile(manifest, JSON.stringify(fill.manifest));
  const backup = await backupPartition({ storeRoot: store, device: a.path, imageName: 'win', format: 'chunked' });
  t.is(backup.metadata.format, 'netimage-image/2');
  t.is(backup.metadata.fsType, 'ntfs');
  const file = join(imageDir(store, 'win'), 'image.pcl.zst');
  // The reference: stock tools, no netimage code.
  await run('sh', ['-ec', `zstd -dc "${file}" | partclone.restore -s - -o "${ref.path}" 2>/dev/null`]);
  await run('zstd', ['-dcq', file, '-o', join(store, 'stream.pcl')]);
  const stream = await readFile(join(store, 'stream.pcl'));
  const refDigest = await usedDigest(ref.path, stream);
  t.is(refDigest, streamDataDigest(stream), 'stock partclone.restore wrote the image data into the used blocks');
  ctx = { store, a: a.path, manifest, stream, refDigest };
});

async function verifyNtfs(dev: string): Promise<void> {
  const v = await helper(['verify', dev, 'ntfs', ctx.manifest]);
  if (!v.ok) throw new Error(`files differ after restore: ${v.bad.join(', ')}`);
  // -n: report only; exits non-zero when the volume needs fixing.
  await run('ntfsfix', ['-n', dev]);
}

for (const change of ['rewrite', 'new', 'large']) {
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
