// Two disks: multi_disk_mode picks the system disk by stable index, the backup partition goes
// to the other disk (backup_partition_on_same_disk=false), and backup/restore find both again.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, createLoop, damage, helper, MiB } from './helpers/loop.ts';

test('multi_disk_mode 1 + backup partition on the other disk', async (t) => {
  const a = await createLoop(t, 1536 * MiB, 512);
  const b = await createLoop(t, 1536 * MiB, 512);
  const num = (p: string) => Number(/(\d+)$/.exec(p)![1]);
  const [first, second] = num(a.path) < num(b.path) ? [a, b] : [b, a];
  const base = ['--disk', a.path, '--disk', b.path, '--allow-loop'];
  const prep = await cli(['prepare', ...base, '--multi-disk-mode', '1', '--backup-other-disk', '--system-size', '600M', '--winpe-size', '0G', '--min-backup', '50%', '--firmware', 'bios']);
  t.true(prep.ok, prep.error ?? prep.stderr);
  t.regex(prep.stderr, /multi_disk_mode 1: disk #1 in stable order/);
  t.is(prep.result.systemDevice, `${second.path}p1`);
  t.is(prep.result.backupDevice, `${first.path}p1`);
  t.false(prep.result.layout.backupOnSameDisk);

  const sysDev: string = prep.result.systemDevice;
  const filled = await helper(['fill', sysDev, 'ext4', '40']);
  const manifest = join(a.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filled.manifest));
  const bk = await cli(['backup', ...base, '--image', 'two']);
  t.true(bk.ok, bk.error ?? bk.stderr);
  t.is(bk.result.backup.metadata.sourceDevice, sysDev);
  await damage(sysDev, 1, 100);
  const rs = await cli(['restore', ...base, '--image', 'two']);
  t.true(rs.ok, rs.error ?? rs.stderr);
  const v = await helper(['verify', sysDev, 'ext4', manifest]);
  t.true(v.ok, JSON.stringify(v.bad));
});
