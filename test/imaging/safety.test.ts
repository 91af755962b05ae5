// What must never happen: a killed backup losing the previous image, a damaged image being
// written to a disk, a hint miss touching some other disk.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMIT_PAUSE_ENV } from '../../imaging/store/store.ts';
import { cli, createLoop, damage, helper, MiB, sha256Device } from './helpers/loop.ts';

const GiB = 1024 * MiB;

async function prepared(t: import('ava').ExecutionContext, dataMiB: number) {
  const loop = await createLoop(t, 2 * GiB, 512);
  const base = ['--disk', loop.path, '--allow-loop'];
  const prep = await cli(['prepare', ...base, '--system-size', '600M', '--winpe-size', '0G', '--min-backup', '50%']);
  t.true(prep.ok, prep.error ?? prep.stderr);
  const sysDev: string = prep.result.systemDevice;
  const filled = await helper(['fill', sysDev, 'ext4', String(dataMiB), 'v1']);
  const manifestFile = join(loop.dir, 'v1.json');
  await writeFile(manifestFile, JSON.stringify(filled.manifest));
  return { loop, base, sysDev, backupDev: prep.result.backupDevice as string, manifestFile };
}

/** Where a replacing backup of "golden" is killed, and what the backup partition holds at that moment. */
const KILL_POINTS = [
  // partclone copying into the staging dir (its first progress line)
  { point: 'copy', entries: ['golden', '.tmp-golden-'], restores: 'previous', recovery: /removed unfinished image golden/ },
  // the new image complete and fsynced in the staging dir; nothing renamed yet
  { point: 'staged', entries: ['golden', '.tmp-golden-'], restores: 'previous', recovery: /removed unfinished image golden/ },
  // the previous image renamed aside, the new one not yet in its place: no "golden" at all
  { point: 'aside', entries: ['.old-golden-', '.tmp-golden-'], restores: 'previous', recovery: /put back image golden/ },
  // the new image in place, the previous one not yet removed
  { point: 'swapped', entries: ['golden', '.old-golden-'], restores: 'new', recovery: /removed replaced image golden/ },
] as const;

test('SIGKILL at each step of a backup replacing an image: the image of that name always restores (the previous one until the new one is in place)', async (t) => {
  t.timeout(10 * 60_000);
  const { loop, base, sysDev, backupDev, manifestFile } = await prepared(t, 100);
  const first = await cli(['backup', ...base, '--image', 'golden']);
  t.true(first.ok, first.error);
  const previousSha: string = first.result.backup.metadata.sha256;

  for (const k of KILL_POINTS) {
    // New files, so the replacing image differs from the previous one.
    const added = await helper(['fill', sysDev, 'ext4', '60', `new-${k.point}`]);
    const addedManifest = join(loop.dir, `new-${k.point}.json`);
    await writeFile(addedManifest, JSON.stringify(added.manifest));
    const marker = k.point === 'copy' ? /^progress / : new RegExp(`^test hook: commit paused at ${k.point}$`);
    let killedAt = '';
    const killed = await cli(['backup', ...base, '--image', 'golden'], {
      mountBase: loop.dir, // the killed run cannot remove its mount dir; let the loop's teardown do it
      env: k.point === 'copy' ? {} : { [COMMIT_PAUSE_ENV]: k.point },
      onStderrLine: (line, kill) => {
        if (!killedAt && marker.test(line)) {
          killedAt = line;
          kill();
        }
      },
    });
    t.truthy(killedAt, `${k.point}: the backup never got there: ${killed.stderr}`);
    t.is(killed.exitCode, null, `${k.point}: killed by a signal`);
    // What the kill left on the backup partition proves where it struck.
    const entries = ((await helper(['tree', backupDev])).entries as string[]).filter((e) => e === 'golden' || e.startsWith('.'));
    t.deepEqual(entries.map((e) => e.replace(/[0-9a-f]{12}$/, '')).sort(), [...k.entries].sort(), `${k.point}: ${JSON.stringify(entries)}`);

    await damage(sysDev, 1, 300);
    const rs = await cli(['restore', ...base, '--image', 'golden']);
    t.true(rs.ok, `${k.point}: ${rs.error ?? rs.stderr}`);
    t.regex(rs.stderr, k.recovery, k.point);
    const old = await helper(['verify', sysDev, 'ext4', manifestFile]);
    t.true(old.ok, `${k.point}: the files of the previous image: ${JSON.stringify(old.bad)}`);
    const fresh = await helper(['verify', sysDev, 'ext4', addedManifest]);
    if (k.restores === 'previous') {
      t.is(rs.result.metadata.sha256, previousSha, `${k.point}: the previous image was restored`);
      t.false(fresh.ok, `${k.point}: none of the killed backup's new files (no mixture)`);
    } else {
      t.not(rs.result.metadata.sha256, previousSha, `${k.point}: the new image was restored`);
      t.true(fresh.ok, `${k.point}: the new image's files: ${JSON.stringify(fresh.bad)}`);
    }
    const after = (await helper(['tree', backupDev])).entries as string[];
    t.deepEqual(after.filter((e) => e.startsWith('.')), [], `${k.point}: recovery left no staging or aside dirs`);
  }
});

test('restore refuses a corrupted image without writing to the target', async (t) => {
  const { base, sysDev, backupDev } = await prepared(t, 60);
  const bk = await cli(['backup', ...base, '--image', 'img']);
  t.true(bk.ok, bk.error);
  await damage(sysDev, 1, 20);
  await helper(['flip', backupDev, 'img/image.pcl.zst', String(Math.floor(bk.result.backup.metadata.imageBytes / 2))]);
  const before = await sha256Device(sysDev);
  // --full-check hashes the whole image before the first write.
  const rs = await cli(['restore', ...base, '--image', 'img', '--full-check']);
  t.false(rs.ok);
  t.regex(rs.error!, /damaged: sha256 .* does not match|fails the zstd integrity test/);
  t.is(await sha256Device(sysDev), before, 'target partition untouched');
  const log = (await helper(['cat', backupDev, 'master.log'])).text as string;
  t.regex(log, /restore REFUSED image=img/);
  // Without it a chunked image is verified chunk by chunk: the damaged chunk is found before any
  // of it is written (delta.test.ts checks its blocks stay untouched) and the restore fails.
  // (--full: a delta restore would only read the damaged chunk if the target differs there.)
  const asYouGo = await cli(['restore', ...base, '--image', 'img', '--full']);
  t.false(asYouGo.ok);
  t.regex(asYouGo.error!, /the image is damaged: chunk \d+ (does not decompress|does not match its sha256)/);
  t.regex((await helper(['cat', backupDev, 'master.log'])).text as string, /restore FAILED image=img/);
  const damagedTarget = await sha256Device(sysDev);

  const hinted = await cli(['restore', ...base, '--image', 'img', '--hint-serial', 'OTHER-DISK']);
  t.false(hinted.ok);
  t.regex(hinted.error!, /does not match the disk hints/);
  t.is(await sha256Device(sysDev), damagedTarget);

  const none = await cli(['restore', ...base, '--image', 'missing']);
  t.false(none.ok);
  t.regex(none.error!, /not found/);
  t.is(await sha256Device(sysDev), damagedTarget);
});

test('a disk hint that matches no disk fails without writing', async (t) => {
  const loop = await createLoop(t, 2 * GiB, 512);
  await damage(loop.path, 0, 4); // recognisable content in the first MiBs
  // The first 64 MiB hold the partition table and the start of every new filesystem prepare would make.
  const head = 64 * MiB;
  const before = await sha256Device(loop.path, head);
  const r = await cli(['prepare', '--disk', loop.path, '--allow-loop', '--system-size', '600M', '--winpe-size', '0G', '--min-backup', '50%', '--hint-serial', 'WD-NOT-THIS-ONE']);
  t.false(r.ok);
  t.regex(r.error!, /no disk matches the disk hints/);
  t.regex(r.error!, /refusing to pick another disk/);
  t.is(await sha256Device(loop.path, head), before, 'disk untouched');
  const tooSmall = await cli(['prepare', '--disk', loop.path, '--allow-loop', '--system-size', '600M', '--winpe-size', '0G', '--min-backup', '50%', '--hint-min-size', String(4 * GiB)]);
  t.false(tooSmall.ok);
  t.is(await sha256Device(loop.path, head), before, 'disk untouched');
  const noLoop = await cli(['prepare', '--disk', loop.path, '--system-size', '600M']);
  t.false(noLoop.ok);
  t.regex(noLoop.error!, /loop device/);
  t.is(await sha256Device(loop.path, head), before, 'disk untouched');
});

test('a full backup partition fails the backup with the reason and keeps nothing half-written', async (t) => {
  const loop = await createLoop(t, 1024 * MiB, 512);
  const base = ['--disk', loop.path, '--allow-loop'];
  const prep = await cli(['prepare', ...base, '--system-size', '600M', '--winpe-size', '0G', '--min-backup', '10%']);
  t.true(prep.ok, prep.error ?? prep.stderr);
  await helper(['fill', prep.result.systemDevice, 'ext4', '400']);
  const bk = await cli(['backup', ...base, '--image', 'toobig']);
  t.false(bk.ok);
  t.regex(bk.error!, /backup partition .* is full: image "toobig" does not fit/);
  const tree = await helper(['tree', prep.result.backupDevice]);
  t.deepEqual((tree.entries as string[]).filter((e) => !['master.log', 'images.json', 'layout.json', 'lost+found'].includes(e)), []);
});
