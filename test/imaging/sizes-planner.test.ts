import test from 'ava';
import { parseSize, resolveSize, SizeError } from '../../lib/sizes.ts';
import { planLayout, PlanError, MiB, ESP_BYTES, MSR_BYTES, type PlanInput, type DiskPlan } from '../../imaging/planner.ts';

const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

test('parseSize accepts opsi spellings', (t) => {
  t.deepEqual(parseSize('30G'), { kind: 'bytes', bytes: 30 * GiB });
  t.deepEqual(parseSize('30GB'), { kind: 'bytes', bytes: 30 * GiB });
  t.deepEqual(parseSize('30 gb'), { kind: 'bytes', bytes: 30 * GiB });
  t.deepEqual(parseSize('500M'), { kind: 'bytes', bytes: 500 * MiB });
  t.deepEqual(parseSize('1.5G'), { kind: 'bytes', bytes: 1.5 * GiB });
  t.deepEqual(parseSize('2T'), { kind: 'bytes', bytes: 2 * TiB });
  t.deepEqual(parseSize('0G'), { kind: 'bytes', bytes: 0 });
  t.deepEqual(parseSize('0'), { kind: 'bytes', bytes: 0 });
  t.deepEqual(parseSize('100%'), { kind: 'percent', percent: 100 });
  t.deepEqual(parseSize('55%'), { kind: 'percent', percent: 55 });
  t.is(resolveSize(parseSize('50%'), 1000), 500);
  t.is(resolveSize(parseSize('4G'), 1000), 4 * GiB);
});

test('parseSize rejects nonsense with the property name', (t) => {
  for (const bad of ['', 'abc', '30X', '-5G', '101%', '30', 'G', '1e9G', '5G5']) {
    const e = t.throws(() => parseSize(bad, 'system_partition_size'), { instanceOf: SizeError }, bad);
    t.true(e!.message.startsWith('system_partition_size'), bad);
  }
});

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    diskBytes: 256 * GiB,
    logicalSectorSize: 512,
    firmware: 'uefi',
    osFamily: 'windows',
    systemPartitionSize: parseSize('30G'),
    dataPartitionSize: parseSize('0G'),
    winpePartitionSize: parseSize('4G'),
    minimalBackupPercent: 55,
    backupOnSameDisk: true,
    ...over,
  };
}

/** Invariants every plan must hold. */
function checkPlan(t: { true: (v: boolean, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void }, plan: DiskPlan): void {
  const perMiB = MiB / plan.sectorSize;
  let prevEnd = perMiB; // first partition at 1 MiB
  plan.partitions.forEach((p, i) => {
    t.is(p.number, i + 1);
    t.is(p.startSector % perMiB, 0, `p${p.number} start aligned`);
    t.is(p.sizeSectors % perMiB, 0, `p${p.number} size aligned`);
    t.is(p.sizeBytes, p.sizeSectors * plan.sectorSize);
    t.true(p.startSector >= prevEnd, `p${p.number} does not overlap`);
    prevEnd = p.startSector + p.sizeSectors;
  });
  const endBytes = prevEnd * plan.sectorSize;
  t.true(endBytes <= plan.diskBytes - (plan.table === 'gpt' ? MiB : 0) || endBytes <= plan.diskBytes, 'fits on disk');
  if (plan.table === 'gpt') t.true(endBytes <= plan.diskBytes - 33 * 512, 'room for the GPT backup header');
}

const matrix: { name: string; over: Partial<PlanInput>; roles: string[]; table: 'gpt' | 'dos' }[] = [
  { name: 'UEFI 256G 512n windows', over: {}, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
  { name: 'UEFI 256G 4Kn windows', over: { logicalSectorSize: 4096 }, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
  { name: 'BIOS 256G windows', over: { firmware: 'bios' }, roles: ['system', 'winpe', 'backup'], table: 'dos' },
  { name: 'BIOS with data', over: { firmware: 'bios', dataPartitionSize: parseSize('20G') }, roles: ['system', 'data', 'winpe', 'backup'], table: 'dos' },
  { name: 'UEFI linux with swap', over: { osFamily: 'linux' }, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
  { name: 'no winpe', over: { winpePartitionSize: parseSize('0G') }, roles: ['esp', 'msr', 'system', 'backup'], table: 'gpt' },
  { name: 'percent system', over: { systemPartitionSize: parseSize('20%') }, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
  { name: 'huge UEFI 16T 4Kn', over: { diskBytes: 16 * TiB, logicalSectorSize: 4096 }, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
  { name: 'BIOS exactly 2T', over: { firmware: 'bios', diskBytes: 2 * TiB }, roles: ['system', 'winpe', 'backup'], table: 'dos' },
  { name: 'tiny 2G test disk', over: { diskBytes: 2 * GiB, systemPartitionSize: parseSize('300M'), winpePartitionSize: parseSize('0G'), minimalBackupPercent: 50 }, roles: ['esp', 'msr', 'system', 'backup'], table: 'gpt' },
  { name: 'odd size disk', over: { diskBytes: 256 * GiB + 12345 * 512 }, roles: ['esp', 'msr', 'system', 'winpe', 'backup'], table: 'gpt' },
];

for (const m of matrix) {
  test(`plan: ${m.name}`, (t) => {
    const plan = planLayout(input(m.over));
    const disk = plan.systemDisk;
    t.is(disk.table, m.table);
    t.deepEqual(disk.partitions.map((p) => p.role), m.roles);
    checkPlan(t, disk);
    t.is(plan.backupDisk, null);
    const sys = disk.partitions.find((p) => p.role === 'system')!;
    const inp = input(m.over);
    t.is(sys.sizeBytes, Math.floor(resolveSize(inp.systemPartitionSize, inp.diskBytes) / MiB) * MiB);
    t.is(sys.fs, inp.osFamily === 'windows' ? 'ntfs' : 'ext4');
    t.is(sys.bootable, disk.table === 'dos');
    const backup = disk.partitions.at(-1)!;
    t.is(backup.fs, 'ext4');
    t.is(backup.label, 'netimage-backup');
    t.true((backup.sizeBytes * 100) / inp.diskBytes >= inp.minimalBackupPercent);
    if (disk.table === 'gpt') {
      t.is(disk.partitions[0]!.sizeBytes, ESP_BYTES);
      t.is(disk.partitions[0]!.typeCode, 'ef00');
      t.is(disk.partitions[0]!.fs, 'vfat');
      t.is(disk.partitions[1]!.sizeBytes, MSR_BYTES);
      t.is(disk.partitions[1]!.typeCode, '0c01');
      t.is(disk.partitions[0]!.startSector, MiB / inp.logicalSectorSize);
      // backup fills the disk up to the last MiB
      const end = (backup.startSector + backup.sizeSectors) * disk.sectorSize;
      t.is(end, (Math.floor(inp.diskBytes / MiB) - 1) * MiB);
    } else {
      t.is(disk.partitions[0]!.startSector, 2048);
      t.regex(backup.typeCode, /^83$/);
    }
    const winpe = disk.partitions.find((p) => p.role === 'winpe');
    if (winpe) t.is(winpe.fs, inp.osFamily === 'windows' ? 'ntfs' : 'swap');
    t.true(plan.summary.length >= 2);
  });
}

test('plan refuses MBR above 2 TiB', (t) => {
  const e = t.throws(() => planLayout(input({ firmware: 'bios', diskBytes: 2 * TiB + MiB })), { instanceOf: PlanError });
  t.regex(e!.message, /2 TiB/);
  t.regex(e!.message, /UEFI/);
});

test('plan refuses a backup partition below the minimal percent', (t) => {
  const e = t.throws(() => planLayout(input({ diskBytes: 64 * GiB })), { instanceOf: PlanError });
  t.regex(e!.message, /backup partition would be .* below minimal_backup_partition_size 55%/);
  t.notThrows(() => planLayout(input({ diskBytes: 64 * GiB, minimalBackupPercent: 40 })));
});

test('plan refuses a disk too small for the fixed partitions', (t) => {
  const e = t.throws(() => planLayout(input({ diskBytes: 20 * GiB })), { instanceOf: PlanError });
  t.regex(e!.message, /too small/);
});

test('plan refuses 100% system on the same disk, accepts it with a backup disk', (t) => {
  t.throws(() => planLayout(input({ systemPartitionSize: parseSize('90%'), winpePartitionSize: parseSize('0G') })), { instanceOf: PlanError });
  const plan = planLayout(
    input({
      systemPartitionSize: parseSize('80%'),
      winpePartitionSize: parseSize('0G'),
      backupOnSameDisk: false,
      backupDisk: { diskBytes: 500 * GiB, logicalSectorSize: 4096 },
    }),
  );
  t.deepEqual(plan.systemDisk.partitions.map((p) => p.role), ['esp', 'msr', 'system']);
  t.deepEqual(plan.backupDisk!.partitions.map((p) => p.role), ['backup']);
  t.is(plan.backupDisk!.sectorSize, 4096);
  t.is(plan.backupDisk!.partitions[0]!.startSector, 256);
  checkPlan(t, plan.backupDisk!);
});

test('plan refuses backup on other disk without one, and a too-small other disk', (t) => {
  t.throws(() => planLayout(input({ backupOnSameDisk: false })), { instanceOf: PlanError, message: /no other disk/ });
  t.throws(() => planLayout(input({ backupOnSameDisk: false, backupDisk: { diskBytes: 32 * GiB, logicalSectorSize: 512 } })), {
    instanceOf: PlanError,
    message: /backup disk gives/,
  });
});

test('plan refuses bad geometry and zero system size', (t) => {
  t.throws(() => planLayout(input({ logicalSectorSize: 1024 })), { instanceOf: PlanError, message: /sector size/ });
  t.throws(() => planLayout(input({ systemPartitionSize: parseSize('0G') })), { instanceOf: PlanError, message: /more than 0/ });
  t.throws(() => planLayout(input({ minimalBackupPercent: 120 })), { instanceOf: PlanError });
  t.throws(() => planLayout(input({ systemPartitionSize: parseSize('1K') })), { instanceOf: PlanError, message: /below 1 MiB/ });
});
