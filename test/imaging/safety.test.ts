// What must never happen: a killed backup losing the previous image, a damaged image being
// written to a disk, a hint miss touching some other disk.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

test('SIGKILL mid-backup leaves the previous image intact and restorable', async (t) => {
  const { loop, base, sysDev, backupDev, manifestFile } = await prepared(t, 150);
  const first = await cli(['backup', ...base, '--image', 'golden']);
  t.true(first.ok, first.error);
  const sha1 = first.result.backup.metadata.sha256;

  // More data so the second backup differs and runs long enough to be killed in the copy phase.
  await helper(['fill', sysDev, 'ext4', '300', 'v2']);
  let killedAt = '';
  const second = await cli(['backup', ...base, '--image', 'golden'], {
    mountBase: loop.dir, // the killed run cannot remove its mount dir; let the loop's teardown do it
    onStderrLine: (line, kill) => {
      if (!killedAt && /^progress /.test(line)) {
        killedAt = line;
        kill();
      }
    },
  });
  t.truthy(killedAt, `backup never reported progress: ${second.stderr}`);
  t.false(second.ok);
  t.is(second.exitCode, null, 'killed by a signal');
  // The kill left a staging dir behind: proof that it died mid-write.
  const tree = await helper(['tree', backupDev]);
  t.true((tree.entries as string[]).some((e) => e.startsWith('.tmp-golden-')), JSON.stringify(tree.entries));

  await damage(sysDev, 1, 300);
  const rs = await cli(['restore', ...base, '--image', 'golden']);
  t.true(rs.ok, rs.error ?? rs.stderr);
  t.is(rs.result.metadata.sha256, sha1, 'the first image was restored');
  t.regex(rs.stderr, /removed unfinished image golden/);
  const v = await helper(['verify', sysDev, 'ext4', manifestFile]);
  t.true(v.ok, JSON.stringify(v.bad));
  const after = await helper(['tree', backupDev]);
  t.false((after.entries as string[]).some((e) => e.startsWith('.tmp-')), 'staging cleaned up');
});

test('restore refuses a corrupted image without writing to the target', async (t) => {
  const { base, sysDev, backupDev } = await prepared(t, 60);
  const bk = await cli(['backup', ...base, '--image', 'img']);
  t.true(bk.ok, bk.error);
  await damage(sysDev, 1, 20);
  await helper(['flip', backupDev, 'img/image.pcl.zst', String(Math.floor(bk.result.backup.metadata.imageBytes / 2))]);
  const before = await sha256Device(sysDev);
  const rs = await cli(['restore', ...base, '--image', 'img']);
  t.false(rs.ok);
  t.regex(rs.error!, /damaged: sha256 .* does not match/);
  t.is(await sha256Device(sysDev), before, 'target partition untouched');
  const log = (await helper(['cat', backupDev, 'master.log'])).text as string;
  t.regex(log, /restore REFUSED image=img/);

  const hinted = await cli(['restore', ...base, '--image', 'img', '--hint-serial', 'OTHER-DISK']);
  t.false(hinted.ok);
  t.regex(hinted.error!, /does not match the disk hints/);
  t.is(await sha256Device(sysDev), before);

  const none = await cli(['restore', ...base, '--image', 'missing']);
  t.false(none.ok);
  t.regex(none.error!, /not found/);
  t.is(await sha256Device(sysDev), before);
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
