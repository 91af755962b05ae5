// The Debian (or Ubuntu: same steps, see settings.ts Vendor) install end to end on a prepared disk:
// the server's ext4 root filesystem downloaded, verified and written by the restore engine, made
// this PC's own (new UUID, grown to the partition), per-PC settings, bootloader, first-boot unit. Only the
// system partition, the swap partition and the bootloader places (ESP dirs / MBR boot code) are
// written; the backup partition is only read (layout.json).
import { tmpdir } from 'node:os';
import { run, runAllowFailure } from '../../lib/process.ts';
import type { OsInstallPlan } from '../../lib/agent-protocol.ts';
import { ImagingError } from '../errors.ts';
import { probeFilesystem } from '../fsdetect.ts';
import { mountTemp } from '../mount.ts';
import { installBiosLoader, installUefiLoader, writeGrubConfig } from './bootloader.ts';
import { withChroot } from './chroot.ts';
import { configureSystem } from './configure.ts';
import { vendorOf } from './settings.ts';
import { blockGeometry } from '../devices.ts';
import { layRootfs, RootfsMismatchError, type FetchServerFile } from './rootfs.ts';
import type { InstallTarget } from './target.ts';

export interface InstallOptions {
  target: InstallTarget;
  plan: OsInstallPlan;
  fetchFile: FetchServerFile;
  log: (line: string) => void;
  progress?: (percent: number, message?: string) => void;
  signal?: AbortSignal;
  /** Where the root filesystem image waits to be written (default: the OS temp dir, RAM in the boot image). */
  scratchDir?: string;
}

export interface InstallResult {
  rootUuid: string;
  rootfsBytes: number;
  /** Download + write of the root filesystem. */
  laySeconds: number;
}

async function uuidOf(dev: string): Promise<string> {
  const p = await probeFilesystem(dev);
  if (!p.uuid) throw new ImagingError(`${dev} has no file system UUID after it was written`);
  return p.uuid;
}

export async function installDebian(o: InstallOptions): Promise<InstallResult> {
  const { target, plan, log } = o;
  const progress = o.progress ?? (() => undefined);
  progress(2, 'downloading the root filesystem');
  const started = performance.now();
  let rootfsBytes = 0;
  let written = false;
  try {
    const r = await layRootfs({
      fetchFile: o.fetchFile,
      rootfs: plan.rootfs,
      device: target.system,
      deviceBytes: (await blockGeometry(target.system)).sizeBytes,
      scratchDir: o.scratchDir ?? tmpdir(),
      log,
      progress: (phase, f) => (phase === 'download' ? progress(2 + 28 * f, 'downloading the root filesystem') : progress(30 + 45 * f, 'writing the root filesystem')),
      // Old signatures (another file system's, a swap's) must not outlive the new one.
      beforeWrite: async () => {
        written = true;
        await run('wipefs', ['-a', target.system]);
      },
      ...(o.signal ? { signal: o.signal } : {}),
    });
    rootfsBytes = r.downloadedBytes;
  } catch (error) {
    // A partly written file system may not stay behind to be booted: wipe the partition.
    if (written) {
      await runAllowFailure('wipefs', ['-a', target.system]);
      log(`${target.system} wiped again: ${error instanceof RootfsMismatchError ? 'the root filesystem did not verify' : 'the root filesystem was not written whole'}; the bootloader places and the backup partition were not touched`);
    } else {
      log(`nothing was written: ${error instanceof RootfsMismatchError ? 'the root filesystem did not verify' : 'the root filesystem did not arrive whole'}`);
    }
    throw error;
  }
  const laySeconds = (performance.now() - started) / 1000;
  // The image's file system is the same on every PC: this one gets its own UUID (fstab and grub
  // find the root by it) and grows to the partition. The journal comes last (below).
  progress(76, 'making the file system this PC\'s own');
  await run('tune2fs', ['-U', 'random', target.system]);
  await run('resize2fs', [target.system]);
  if (target.swap) await run('mkswap', ['-L', 'swap', target.swap]);
  const rootUuid = await uuidOf(target.system);
  log(`${target.system}: ext4 ${rootUuid}, grown to the partition`);

  // noinit_itable: the kernel's background zeroing of the new block groups' inode tables would
  // compete with the settings; it runs on the installed system's first mount instead.
  const m = await mountTemp(target.system, { fsType: 'ext4', options: ['noatime', 'noinit_itable'] });
  try {
    progress(78, 'configuring');
    const uuids = {
      root: rootUuid,
      esp: target.esp ? await uuidOf(target.esp) : null,
      swap: target.swap ? await uuidOf(target.swap) : null,
    };
    await withChroot(m.dir, async (chroot) => {
      await configureSystem(m.dir, plan, uuids, chroot, log);
      progress(90, 'installing the bootloader');
      const vendor = vendorOf(plan.os);
      await writeGrubConfig(m.dir, rootUuid, vendor);
      if (target.firmware === 'uefi') await installUefiLoader(m.dir, target.esp!, rootUuid, log, vendor);
      else await installBiosLoader(chroot, target.disk, log);
    });
    await run('sync', []);
  } finally {
    await m.unmount();
  }
  // Built without a journal (its blocks would be written on every PC for nothing): added here.
  progress(98, 'adding the file system journal');
  await run('tune2fs', ['-O', 'has_journal', target.system]);
  log(`${target.system}: journal added`);
  progress(100, 'installed');
  return { rootUuid, rootfsBytes, laySeconds };
}
