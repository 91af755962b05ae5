// prepare -> fill the system partition -> backup -> damage -> restore -> manifest verifies,
// on loop devices over sparse files: ext4/512 (UEFI), NTFS/4096 (UEFI), ext4/4096 (BIOS, MBR).
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAllowFailure } from '../../lib/process.ts';
import { cli, createLoop, damage, helper, MiB } from './helpers/loop.ts';

const GiB = 1024 * MiB;

interface Scenario {
  sector: number;
  firmware: 'uefi' | 'bios';
  os: 'linux' | 'windows';
  fs: 'ext4' | 'ntfs';
  dataMiB: number;
}

async function roundtrip(t: import('ava').ExecutionContext, s: Scenario) {
  const loop = await createLoop(t, 2 * GiB, s.sector);
  const base = ['--disk', loop.path, '--allow-loop'];
  const prep = await cli(['prepare', ...base, '--firmware', s.firmware, '--os', s.os, '--system-size', '500M', '--winpe-size', '0G', '--min-backup', '50%']);
  t.true(prep.ok, prep.error ?? prep.stderr);
  const sysDev: string = prep.result.systemDevice;
  const roles = (prep.result.partitions as { role: string; fs: string }[]).map((p) => `${p.role}:${p.fs}`);
  t.deepEqual(roles, s.firmware === 'uefi' ? ['esp:vfat', 'msr:none', `system:${s.fs}`, 'backup:ext4'] : [`system:${s.fs}`, 'backup:ext4']);
  const pt = await runAllowFailure('blkid', ['-p', '-o', 'value', '-s', 'PTTYPE', loop.path]);
  t.is(pt.stdout.trim(), s.firmware === 'uefi' ? 'gpt' : 'dos');
  const sysType = await runAllowFailure('blkid', ['-p', '-o', 'value', '-s', 'TYPE', sysDev]);
  t.is(sysType.stdout.trim(), s.fs);

  const filled = await helper(['fill', sysDev, s.fs, String(s.dataMiB)]);
  const manifestFile = join(loop.dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(filled.manifest));

  const progress: number[] = [];
  const bk = await cli(['backup', ...base, '--image', 'class room'], {
    onStderrLine: (l) => {
      const m = /^progress ([\d.]+)%/.exec(l);
      if (m) progress.push(Number(m[1]));
    },
  });
  t.true(bk.ok, bk.error ?? bk.stderr);
  const meta = bk.result.backup.metadata;
  t.is(meta.name, 'class_room');
  t.is(meta.fsType, s.fs);
  t.is(meta.logicalSectorSize, s.sector);
  t.is(meta.partitionSizeBytes, 500 * MiB);
  t.regex(meta.sha256, /^[0-9a-f]{64}$/);
  t.is(meta.partcloneChecksumMode, 0);
  // partclone.ntfs counts used clusters a little differently from what was written; the manifest is the real check.
  t.true(meta.usedBytes >= s.dataMiB * MiB * 0.8, `used ${meta.usedBytes}`);
  t.true(meta.imageBytes < meta.usedBytes, 'compressed');
  t.true(progress.length > 0 && progress.at(-1) === 100, `progress ${progress.join(',')}`);
  // The report the agent sends the server: every image with its size, date, source and format.
  const [report] = bk.result.images as { name: string; sizeBytes: number; createdAt: string; fsType: string; format: string }[];
  t.deepEqual((bk.result.images as { name: string }[]).map((i) => i.name), ['class_room']);
  t.true(report!.sizeBytes >= meta.imageBytes, `image folder ${report!.sizeBytes} bytes, image file ${meta.imageBytes}`);
  t.is(report!.fsType, s.fs);
  t.is(report!.format, 'chunked', 'chunked is the default format');
  t.false(Number.isNaN(Date.parse(report!.createdAt)));
  t.regex(bk.result.space.text, /^device: .*p\d, size: .*, used: .*, remaining: .*, use: \d+%, mountpoint: /);

  await damage(sysDev, 1, 200);
  const broken = await helper(['verify', sysDev, s.fs, manifestFile]).catch(() => ({ ok: false }));
  t.false(broken.ok, 'damage must break the manifest');

  const rs = await cli(['restore', ...base, '--image', 'class room']);
  t.true(rs.ok, rs.error ?? rs.stderr);
  const verified = await helper(['verify', sysDev, s.fs, manifestFile]);
  t.true(verified.ok, JSON.stringify(verified.bad));
  t.is(verified.checked, filled.files);
  if (s.firmware === 'bios') {
    const flag = await runAllowFailure('sfdisk', ['--activate', loop.path]);
    t.regex(flag.stdout, new RegExp(`${sysDev}`), 'boot flag on the system partition');
  }
  return { loop, base, sysDev, manifestFile };
}

test('ext4, 512-byte sectors, UEFI: roundtrip, delimage, master.log, index', async (t) => {
  const { loop, base } = await roundtrip(t, { sector: 512, firmware: 'uefi', os: 'linux', fs: 'ext4', dataMiB: 200 });
  const second = await cli(['backup', ...base, '--image', 'second']);
  t.true(second.ok, second.error);
  t.deepEqual((second.result.images as { name: string }[]).map((i) => i.name), ['class_room', 'second']);
  const del = await cli(['delimage', ...base, '--image', 'class room']);
  t.true(del.ok, del.error);
  t.deepEqual(del.result.remaining, ['second']);
  const missing = await cli(['delimage', ...base, '--image', 'nope']);
  t.false(missing.ok);
  t.regex(missing.error!, /does not exist/);
  const bad = await cli(['backup', ...base, '--image', '../etc']);
  t.false(bad.ok);
  t.regex(bad.error!, /not allowed/);
  const all = await cli(['delimage', ...base, '--image', 'all_images']);
  t.true(all.ok, all.error);
  t.deepEqual(all.result.remaining, []);

  const backupDev = `${loop.path}p4`;
  const index = JSON.parse((await helper(['cat', backupDev, 'images.json'])).text);
  t.deepEqual(index.images, []);
  const log: string = (await helper(['cat', backupDev, 'master.log'])).text;
  const ops = log
    .trim()
    .split('\n')
    .map((l) => l.split(' ').slice(1, 3).join(' '));
  t.deepEqual(ops, [
    'prepare: backup',
    'backup start',
    'backup done',
    'restore start',
    'restore done',
    'backup start',
    'backup done',
    'delimage image=class_room',
    'delimage image=second',
  ]);
  for (const line of log.trim().split('\n')) t.regex(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
});

test('NTFS, 4096-byte sectors, UEFI: roundtrip; hibernated Windows is refused', async (t) => {
  const { base, sysDev } = await roundtrip(t, { sector: 4096, firmware: 'uefi', os: 'windows', fs: 'ntfs', dataMiB: 150 });
  await helper(['write', sysDev, 'ntfs', 'hiberfil.sys', '@HIBR']);
  const refused = await cli(['backup', ...base, '--image', 'hibernated']);
  t.false(refused.ok);
  t.regex(refused.error!, /hibernated/);
  const space = await cli(['space', ...base]);
  t.deepEqual(
    (space.result.images as { name: string }[]).map((i) => i.name),
    ['class_room'],
  );
});

test('ext4, 4096-byte sectors, BIOS/MBR: roundtrip sets the boot flag', async (t) => {
  await roundtrip(t, { sector: 4096, firmware: 'bios', os: 'linux', fs: 'ext4', dataMiB: 60 });
});
