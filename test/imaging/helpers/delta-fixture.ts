// The shared set-up of the delta restore tests: a filesystem with test files on a loop device,
// imaged once as a chunked image, and the reference a stock `zstd -dc | partclone.restore` of that
// image writes to a second loop device. One per test file (created in test.before). Backup and
// restore run with the C chunk helpers (imaging/chunked/native/), built here if missing.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../lib/process.ts';
import { backupPartition, type BackupResult } from '../../../imaging/backup.ts';
import { imageDir } from '../../../imaging/store/store.ts';
import { buildChunkHelpers, HELPER_CACHE } from '../../../imaging/chunked/native.ts';
import { repoRoot } from '../../../lib/paths.ts';
import { createLoop, helper, MiB } from './loop.ts';
import { usedDigest } from './used-blocks.ts';

export interface DeltaFixture {
  store: string;
  /** The imaged partition, changed and restored by the tests. */
  a: string;
  /** Holds what stock partclone.restore wrote. */
  ref: string;
  /** {path: sha256} of the files written before the backup. */
  manifest: string;
  /** The decompressed image (partclone stream). */
  stream: Buffer;
  file: string;
  /** usedDigest of the reference. */
  refDigest: string;
  backup: BackupResult;
}

const MKFS: Record<'ext4' | 'ntfs', (dev: string) => [string, string[]]> = {
  ext4: (dev) => ['mkfs.ext4', ['-q', '-F', '-b', '4096', dev]],
  ntfs: (dev) => ['mkntfs', ['--quick', '--force', '--label', 'system', dev]],
};

// Ava runs each test file in its own worker, so this module (and its hook, registered when the
// test file imports it) belongs to one test file. Hooks have no t.teardown: collect the clean-ups.
const cleanups: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** Call once per test file, from test.before; everything it creates is removed after the file's tests. */
/** `beforeBackup`: runs on the filled partition before it is imaged (files the manifest does not list). */
export async function deltaFixture(fs: 'ext4' | 'ntfs', imageName: string, beforeBackup?: (dev: string) => Promise<unknown>): Promise<DeltaFixture> {
  // The C helpers are what backup and restore use wherever they are built (setup builds them; ~1 s when missing).
  await buildChunkHelpers(join(repoRoot, HELPER_CACHE));
  const hookContext = { teardown: (fn: () => Promise<unknown>) => cleanups.push(fn) } as unknown as ExecutionContext;
  const store = await mkdtemp(join(tmpdir(), `ni-delta-${fs}-`));
  cleanups.push(() => rm(store, { recursive: true, force: true }));
  const a = await createLoop(hookContext, 128 * MiB);
  const ref = await createLoop(hookContext, 128 * MiB);
  const [mkfs, args] = MKFS[fs](a.path);
  await run(mkfs, args);
  const fill = await helper(['fill', a.path, fs, '24']);
  const manifest = join(store, 'manifest.json');
  await writeFile(manifest, JSON.stringify(fill.manifest));
  await beforeBackup?.(a.path);
  const backup = await backupPartition({ storeRoot: store, device: a.path, imageName, format: 'chunked' });
  const file = join(imageDir(store, imageName), 'image.pcl.zst');
  // The reference: stock tools, no netimage code.
  await run('sh', ['-ec', `zstd -dc "${file}" | partclone.restore -s - -o "${ref.path}" 2>/dev/null`]);
  // (zstd -o and readFile: execa's buffering of a 40 MB stdout takes tens of seconds)
  await run('zstd', ['-dcq', file, '-o', join(store, 'stream.pcl')]);
  const stream = await readFile(join(store, 'stream.pcl'));
  return { store, a: a.path, ref: ref.path, manifest, stream, file, refDigest: await usedDigest(ref.path, stream), backup };
}
