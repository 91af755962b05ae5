// Our images are plain partclone images through zstd: stock tools restore them, and stock
// `partclone.ext4 -c | zstd` images (CRC32 checksum mode, no metadata) restore through us.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { cli, createLoop, damage, helper, MiB } from './helpers/loop.ts';

const GiB = 1024 * MiB;

test('our image restores with stock zstd -dc | partclone.restore; a stock image restores through us', async (t) => {
  const loop = await createLoop(t, 2 * GiB, 512);
  const base = ['--disk', loop.path, '--allow-loop'];
  const prep = await cli(['prepare', ...base, '--system-size', '500M', '--winpe-size', '0G', '--min-backup', '50%']);
  t.true(prep.ok, prep.error);
  const sysDev: string = prep.result.systemDevice;
  const backupDev: string = prep.result.backupDevice;
  const filled = await helper(['fill', sysDev, 'ext4', '80']);
  const manifest = join(loop.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filled.manifest));

  // 1. ours -> stock restore from the shell
  const bk = await cli(['backup', ...base, '--image', 'ours']);
  t.true(bk.ok, bk.error);
  await damage(sysDev, 1, 100);
  await run('unshare', [
    '-m',
    '--propagation',
    'private',
    'sh',
    '-ec',
    `d=$(mktemp -d); mount -o ro ${backupDev} $d; zstd -dc $d/ours/image.pcl.zst | partclone.restore -s - -o ${sysDev} >/dev/null 2>&1; umount $d; rmdir $d`,
  ]);
  const v1 = await helper(['verify', sysDev, 'ext4', manifest]);
  t.true(v1.ok, JSON.stringify(v1.bad));

  // 2. stock clone (default -a1 CRC32) -> import -> restore through us
  const stock = join(loop.dir, 'stock.pcl.zst');
  await run('sh', ['-ec', `partclone.ext4 -c -s ${sysDev} -o - 2>/dev/null | zstd -q -c > ${stock}`]);
  const imp = await cli(['import', ...base, '--file', stock, '--image', 'stock']);
  t.true(imp.ok, imp.error ?? imp.stderr);
  t.is(imp.result.fsType, 'ext4');
  t.is(imp.result.partcloneChecksumMode, 0x20); // CSM_CRC32
  t.is(imp.result.partitionSizeBytes, 500 * MiB);
  t.true(imp.result.imported);
  await damage(sysDev, 1, 100);
  const rs = await cli(['restore', ...base, '--image', 'stock']);
  t.true(rs.ok, rs.error ?? rs.stderr);
  const v2 = await helper(['verify', sysDev, 'ext4', manifest]);
  t.true(v2.ok, JSON.stringify(v2.bad));

  // 3. a file that is not a partclone image is refused at import
  const junk = join(loop.dir, 'junk.zst');
  await run('sh', ['-ec', `head -c 100000 /dev/urandom | zstd -q -c > ${junk}`]);
  const bad = await cli(['import', ...base, '--file', junk, '--image', 'junk']);
  t.false(bad.ok);
  t.regex(bad.error!, /not a partclone image/);
});
