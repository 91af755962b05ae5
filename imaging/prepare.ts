// prepare: wipe, partition per the plan (sgdisk for GPT, sfdisk for MBR), make filesystems,
// initialise the image store on the backup partition. Destroys everything on the disk(s).
import { readdir } from 'node:fs/promises';
import { run, runAllowFailure } from '../lib/process.ts';
import { partitionPath, rereadPartitions, waitForPartitions } from './devices.ts';
import type { DiskInfo } from './disks/lsblk.ts';
import { ImagingError } from './errors.ts';
import { withMount } from './mount.ts';
import type { Firmware } from '../lib/firmware.ts';
import type { DiskPlan, LayoutPlan, OsFamily, PlannedPartition } from './planner.ts';
import { formatBytes } from '../lib/sizes.ts';
import type { DiskLayout } from './store/metadata.ts';
import { initStore } from './store/store.ts';

export interface PrepareOptions {
  systemDisk: DiskInfo;
  backupDisk: DiskInfo | null;
  plan: LayoutPlan;
  firmware: Firmware;
  osFamily: OsFamily;
  log?: ((line: string) => void) | undefined;
}

export interface PreparedPartition {
  disk: 'system' | 'backup';
  path: string;
  number: number;
  role: string;
  fs: string;
  sizeBytes: number;
}

export interface PrepareResult {
  partitions: PreparedPartition[];
  backupDevice: string;
  systemDevice: string;
  layout: DiskLayout;
}

async function wipeDisk(disk: string, log: (l: string) => void): Promise<void> {
  const name = disk.split('/').pop() ?? '';
  // Old partitions first (their signatures would otherwise survive inside the new ones), then the table.
  const parts = (await readdir(`/sys/class/block/${name}`).catch(() => [] as string[])).filter((e) => e.startsWith(name));
  for (const p of parts) await runAllowFailure('wipefs', ['-a', `/dev/${p}`]);
  await run('wipefs', ['-a', disk]);
  await runAllowFailure('sgdisk', ['--zap-all', disk]);
  log(`wiped ${disk}${parts.length ? ` (old partitions ${parts.join(', ')})` : ''}`);
}

async function writeTable(disk: string, plan: DiskPlan): Promise<void> {
  if (plan.table === 'gpt') {
    const args: string[] = ['--clear'];
    for (const p of plan.partitions) {
      const end = p.startSector + p.sizeSectors - 1;
      args.push(`--new=${p.number}:${p.startSector}:${end}`, `--typecode=${p.number}:${p.typeCode}`, `--change-name=${p.number}:${gptName(p)}`);
    }
    await run('sgdisk', [...args, disk]);
  } else {
    const lines = ['label: dos', 'unit: sectors'];
    for (const p of plan.partitions) lines.push(`start=${p.startSector}, size=${p.sizeSectors}, type=${p.typeCode}${p.bootable ? ', bootable' : ''}`);
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], { input: `${lines.join('\n')}\n` });
  }
}

function gptName(p: PlannedPartition): string {
  return p.role === 'esp' ? 'EFI system partition' : p.role === 'msr' ? 'Microsoft reserved partition' : p.label;
}

async function makeFs(dev: string, p: PlannedPartition): Promise<void> {
  await run('wipefs', ['-a', dev]);
  switch (p.fs) {
    case 'vfat':
      await run('mkfs.vfat', ['-F', '32', '-n', p.label.toUpperCase().slice(0, 11), dev]);
      return;
    case 'ntfs':
      // -p/-H/-S: mkntfs cannot read the geometry without udev/HDIO; Windows needs them to boot.
      await run('mkntfs', ['-Q', '-F', '-L', p.label, '-p', String(p.startSector), '-H', '255', '-S', '63', dev]);
      return;
    case 'ext4':
      await run('mkfs.ext4', ['-q', '-F', '-L', p.label, ...(p.role === 'backup' ? ['-T', 'largefile'] : []), dev]);
      return;
    case 'swap':
      await run('mkswap', ['-L', p.label, dev]);
      return;
    case 'none':
      return;
  }
}

async function applyDisk(disk: DiskInfo, plan: DiskPlan, which: 'system' | 'backup', log: (l: string) => void): Promise<PreparedPartition[]> {
  if (disk.logicalSectorSize !== plan.sectorSize || disk.sizeBytes !== plan.diskBytes)
    throw new ImagingError(`plan for ${disk.path} does not match the disk (${disk.sizeBytes} bytes / ${disk.logicalSectorSize} vs ${plan.diskBytes} / ${plan.sectorSize})`);
  await wipeDisk(disk.path, log);
  await writeTable(disk.path, plan);
  await rereadPartitions(disk.path);
  const paths = await waitForPartitions(disk.path, plan.partitions.map((p) => p.number));
  log(`${plan.table === 'gpt' ? 'GPT' : 'MBR'} written to ${disk.path}: ${plan.partitions.length} partitions`);
  const out: PreparedPartition[] = [];
  for (const [i, p] of plan.partitions.entries()) {
    const dev = paths[i] ?? partitionPath(disk.path, p.number);
    await makeFs(dev, p);
    log(`  ${dev} ${p.role}: ${p.fs === 'none' ? 'no filesystem' : p.fs} "${p.label}", ${formatBytes(p.sizeBytes)}`);
    out.push({ disk: which, path: dev, number: p.number, role: p.role, fs: p.fs, sizeBytes: p.sizeBytes });
  }
  return out;
}

export async function prepareDisks(opts: PrepareOptions): Promise<PrepareResult> {
  const log = opts.log ?? (() => undefined);
  const partitions = await applyDisk(opts.systemDisk, opts.plan.systemDisk, 'system', log);
  if (opts.plan.backupDisk) {
    if (!opts.backupDisk) throw new ImagingError('plan has a backup disk but none was selected');
    partitions.push(...(await applyDisk(opts.backupDisk, opts.plan.backupDisk, 'backup', log)));
  }
  const backup = partitions.find((p) => p.role === 'backup');
  const system = partitions.find((p) => p.role === 'system');
  if (!backup || !system) throw new ImagingError('plan has no system or backup partition');
  const layout: DiskLayout = {
    format: 'netimage-layout/1',
    createdAt: new Date().toISOString(),
    firmware: opts.firmware,
    osFamily: opts.osFamily,
    systemDisk: {
      serial: opts.systemDisk.serial,
      wwn: opts.systemDisk.wwn,
      location: opts.systemDisk.location,
      sizeBytes: opts.systemDisk.sizeBytes,
      logicalSectorSize: opts.systemDisk.logicalSectorSize,
    },
    backupOnSameDisk: opts.plan.backupDisk === null,
    partitions: partitions.map((p) => ({ disk: p.disk, number: p.number, role: p.role, fs: p.fs, sizeBytes: p.sizeBytes })),
  };
  await withMount(backup.path, (dir) => initStore(dir, layout), { fsType: 'ext4' });
  log(`backup partition ${backup.path} initialised (master.log, images.json, layout.json); all previous images are gone`);
  return { partitions, backupDevice: backup.path, systemDevice: system.path, layout };
}
