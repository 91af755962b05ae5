import test from 'ava';
import { selectDisks, parseMultiDiskMode, DiskSelectionError, type SelectOptions } from '../../imaging/disks/select.ts';
import { disksFromLsblk, type DiskInfo, type SysfsSource } from '../../imaging/disks/lsblk.ts';

const GiB = 1024 ** 3;
let seq = 0;
function disk(name: string, over: Partial<DiskInfo> = {}): DiskInfo {
  seq++;
  return {
    name,
    path: `/dev/${name}`,
    type: 'disk',
    sizeBytes: 500 * GiB,
    logicalSectorSize: 512,
    physicalSectorSize: 4096,
    rotational: true,
    removable: false,
    readOnly: false,
    transport: 'sata',
    model: `Model ${name}`,
    serial: `SER-${name}`,
    wwn: `0x5000c500${String(seq).padStart(8, '0')}`,
    hctl: null,
    location: `/sys/devices/pci0000:00/0000:00:1f.2/ata${seq}/host0/block/${name}`,
    partitions: [],
    mountpoints: [],
    ...over,
  };
}
const ssd = (name: string, over: Partial<DiskInfo> = {}) => disk(name, { rotational: false, ...over });
const nvme = (name: string, pci: string, over: Partial<DiskInfo> = {}) =>
  disk(name, { rotational: false, transport: 'nvme', location: `/sys/devices/pci0000:00/${pci}/nvme/nvme0/${name}`, ...over });
const opts = (over: Partial<SelectOptions> = {}): SelectOptions => ({ multiDiskMode: parseMultiDiskMode('0'), backupOnSameDisk: true, ...over });

test('parseMultiDiskMode', (t) => {
  t.deepEqual(parseMultiDiskMode('2'), { kind: 'index', index: 2 });
  t.deepEqual(parseMultiDiskMode(undefined), { kind: 'index', index: 0 });
  t.deepEqual(parseMultiDiskMode('prefer_ssd'), { kind: 'prefer_ssd' });
  t.deepEqual(parseMultiDiskMode('PREFER_ROTATIONAL'), { kind: 'prefer_rotational' });
  t.throws(() => parseMultiDiskMode('4'), { instanceOf: DiskSelectionError });
  t.throws(() => parseMultiDiskMode('largest'), { instanceOf: DiskSelectionError });
});

const cases: { name: string; disks: () => DiskInfo[]; mode: string; expect: string; log?: RegExp; over?: Partial<SelectOptions> }[] = [
  { name: 'one disk, index ignored', disks: () => [disk('sda')], mode: '3', expect: 'sda', log: /ignored/ },
  { name: 'one HDD + USB stick', disks: () => [disk('sdb', { transport: 'usb', removable: true }), disk('sda')], mode: '0', expect: 'sda' },
  {
    name: 'stable order by location, not kernel name',
    disks: () => [
      disk('sda', { location: '/sys/devices/pci0000:00/0000:00:1f.2/ata10/host9/block/sda' }),
      disk('sdb', { location: '/sys/devices/pci0000:00/0000:00:1f.2/ata2/host1/block/sdb' }),
    ],
    mode: '0',
    expect: 'sdb',
  },
  { name: 'index 1 of HDD+SSD', disks: () => [disk('sda'), ssd('sdb')], mode: '1', expect: 'sdb' },
  { name: 'prefer_ssd picks SSD', disks: () => [disk('sda'), ssd('sdb')], mode: 'prefer_ssd', expect: 'sdb', log: /first SSD/ },
  { name: 'prefer_ssd picks NVMe', disks: () => [disk('sda'), nvme('nvme0n1', '0000:00:1d.0')], mode: 'prefer_ssd', expect: 'nvme0n1' },
  { name: 'prefer_ssd falls back', disks: () => [disk('sda'), disk('sdb')], mode: 'prefer_ssd', expect: 'sda', log: /falling back/ },
  { name: 'prefer_rotational', disks: () => [nvme('nvme0n1', '0000:00:0d.0'), ssd('sda'), disk('sdb')], mode: 'prefer_rotational', expect: 'sdb' },
  { name: 'prefer_rotational falls back', disks: () => [nvme('nvme0n1', '0000:00:0d.0'), ssd('sda')], mode: 'prefer_rotational', expect: 'nvme0n1', log: /falling back/ },
  {
    name: 'four disks, index 3; loop, zram, sr, ro skipped',
    disks: () => [
      disk('loop0', { type: 'loop' }),
      disk('zram0'),
      disk('sr0', { type: 'rom' }),
      disk('sdz', { readOnly: true }),
      disk('sda'),
      disk('sdb'),
      ssd('sdc'),
      nvme('nvme0n1', 'zzzz'),
    ],
    mode: '3',
    expect: 'nvme0n1',
  },
  { name: 'disk with mounted partition is skipped', disks: () => [disk('sda', { mountpoints: ['/'] }), disk('sdb')], mode: '0', expect: 'sdb', log: /mounted at \// },
  { name: 'boot medium skipped', disks: () => [disk('sda'), disk('sdb')], mode: '0', expect: 'sdb', over: { bootMedium: ['sda'] } },
  { name: 'hint by serial', disks: () => [disk('sda'), disk('sdb'), disk('sdc')], mode: '0', expect: 'sdc', over: { hints: { serial: 'SER-sdc' } } },
  { name: 'hint by min size', disks: () => [disk('sda', { sizeBytes: 100 * GiB }), disk('sdb', { sizeBytes: 2000 * GiB })], mode: '0', expect: 'sdb', over: { hints: { minSizeBytes: 1000 * GiB } } },
  { name: 'hint by wwn with naa prefix', disks: () => [disk('sda', { wwn: 'naa.5000c500aaaa' }), disk('sdb', { wwn: '0x5000c500bbbb' })], mode: '0', expect: 'sdb', over: { hints: { wwn: 'naa.5000C500BBBB' } } },
  { name: '4Kn disk selected like any other', disks: () => [disk('sda', { logicalSectorSize: 4096 })], mode: '0', expect: 'sda' },
  { name: 'loop allowed for tests', disks: () => [disk('loop7', { type: 'loop', transport: null })], mode: '0', expect: 'loop7', over: { allowLoop: true } },
];

for (const c of cases) {
  test(`select: ${c.name}`, (t) => {
    const sel = selectDisks(c.disks(), opts({ multiDiskMode: parseMultiDiskMode(c.mode), ...c.over }));
    t.is(sel.system.name, c.expect);
    t.is(sel.backup, null);
    if (c.log) t.regex(sel.log.join('\n'), c.log);
  });
}

test('select: hint miss fails and names every disk, never picks another', (t) => {
  const e = t.throws(() => selectDisks([disk('sda'), disk('sdb')], opts({ hints: { serial: 'NOPE' } })), { instanceOf: DiskSelectionError });
  t.regex(e!.message, /no disk matches the disk hints/);
  t.regex(e!.message, /sda: serial SER-sda != NOPE/);
  t.regex(e!.message, /sdb/);
});

test('select: hint cannot select an excluded disk', (t) => {
  t.throws(() => selectDisks([disk('sdb', { transport: 'usb', removable: true, serial: 'USB1' }), disk('sda')], opts({ hints: { serial: 'USB1' } })), {
    instanceOf: DiskSelectionError,
  });
});

test('select: only unusable disks is a clear error', (t) => {
  const e = t.throws(() => selectDisks([disk('loop0', { type: 'loop' }), disk('sdb', { transport: 'usb', removable: true })], opts()), { instanceOf: DiskSelectionError });
  t.regex(e!.message, /loop0: loop device/);
  t.regex(e!.message, /sdb: removable USB stick/);
});

test('select: index beyond the disk count fails', (t) => {
  t.throws(() => selectDisks([disk('sda'), disk('sdb')], opts({ multiDiskMode: parseMultiDiskMode('2') })), { instanceOf: DiskSelectionError, message: /only 2 usable/ });
});

test('select: backup on another disk picks the first other disk', (t) => {
  const sel = selectDisks([disk('sda'), ssd('sdb'), disk('sdc')], opts({ multiDiskMode: parseMultiDiskMode('prefer_ssd'), backupOnSameDisk: false }));
  t.is(sel.system.name, 'sdb');
  t.is(sel.backup!.name, 'sda');
  t.throws(() => selectDisks([disk('sda')], opts({ backupOnSameDisk: false })), { instanceOf: DiskSelectionError, message: /no other usable disk/ });
});

test('lsblk: JSON without udev data is completed from sysfs', async (t) => {
  const json = {
    blockdevices: [
      { name: 'sda', path: '/dev/sda', type: 'disk', size: 536870912000, 'log-sec': 512, 'phy-sec': 4096, rota: true, rm: false, ro: false, tran: null, model: null, serial: null, wwn: null, hctl: '0:0:0:0', fstype: null, label: null, mountpoints: [null],
        children: [{ name: 'sda1', path: '/dev/sda1', type: 'part', size: 1048576, rota: true, rm: false, ro: false, fstype: 'ext4', label: 'netimage-backup', mountpoints: ['/mnt/x'] }] },
      { name: 'nvme0n1', type: 'disk', size: '1024209543168', 'log-sec': '4096', 'phy-sec': '4096', rota: '0', rm: '0', ro: '0', tran: 'nvme', model: 'Fast NVMe', serial: 'S4EWNX0', wwn: 'eui.0025388b91b2c1a1', mountpoints: [null] },
      { name: 'sr0', type: 'rom', size: 1073741312, 'log-sec': 2048, rota: true, rm: true, ro: false },
    ],
  };
  const files: Record<string, string> = {
    '/sys/block/sda/queue/rotational': '1',
    '/sys/block/sda/removable': '0',
    '/sys/block/sda/ro': '0',
    '/sys/block/sda/device/model': 'WDC WD5000',
    '/sys/block/sda/device/wwid': 'naa.50014ee2b5c9d1e3',
    '/sys/block/nvme0n1/queue/rotational': '0',
    '/sys/block/nvme0n1/device/serial': 'IGNORED-lsblk-has-one',
  };
  const sysfs: SysfsSource = {
    read: async (p) => files[p] ?? null,
    resolve: async (p) => (p === '/sys/block/sda/device' ? '/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0' : null),
    byPath: async () => new Map([['nvme0n1', 'pci-0000:01:00.0-nvme-1']]),
  };
  const disks = await disksFromLsblk(json, sysfs);
  t.is(disks.length, 3);
  const [sda, nv, sr] = disks;
  t.is(sda!.model, 'WDC WD5000');
  t.is(sda!.serial, null);
  t.is(sda!.wwn, 'naa.50014ee2b5c9d1e3');
  t.is(sda!.location, '/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0');
  t.deepEqual(sda!.mountpoints, ['/mnt/x']);
  t.is(sda!.partitions[0]!.label, 'netimage-backup');
  t.is(nv!.sizeBytes, 1024209543168);
  t.is(nv!.logicalSectorSize, 4096);
  t.false(nv!.rotational);
  t.is(nv!.serial, 'S4EWNX0');
  t.is(nv!.location, 'pci-0000:01:00.0-nvme-1');
  t.is(sr!.type, 'rom');
  const sel = selectDisks(disks, opts({ multiDiskMode: parseMultiDiskMode('prefer_ssd') }));
  t.is(sel.system.name, 'nvme0n1');
  t.regex(sel.log.join('\n'), /skipped \/dev\/sda: in use/);
});

test('lsblk: invalid JSON shape is rejected', async (t) => {
  await t.throwsAsync(disksFromLsblk({ blockdevices: [{ name: 3 }] }));
});
