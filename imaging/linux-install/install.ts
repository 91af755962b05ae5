// The Debian (or Ubuntu: same steps, see settings.ts Vendor) install end to end on a prepared disk: fresh ext4 on the system partition, the root
// filesystem streamed in and verified, per-PC settings, bootloader, first-boot unit. Only the
// system partition, the swap partition and the bootloader places (ESP dirs / MBR boot code) are
// written; the backup partition is only read (layout.json).
import { run, runAllowFailure } from '../../lib/process.ts';
import type { OsInstallPlan } from '../../lib/agent-protocol.ts';
import { ImagingError } from '../errors.ts';
import { probeFilesystem } from '../fsdetect.ts';
import { mountTemp } from '../mount.ts';
import { installBiosLoader, installUefiLoader, writeGrubConfig } from './bootloader.ts';
import { withChroot } from './chroot.ts';
import { configureSystem } from './configure.ts';
import { vendorOf } from './settings.ts';
import { RootfsMismatchError, streamUnpack, type FetchServerFile } from './rootfs.ts';
import type { InstallTarget } from './target.ts';

export interface InstallOptions {
  target: InstallTarget;
  plan: OsInstallPlan;
  fetchFile: FetchServerFile;
  log: (line: string) => void;
  progress?: (percent: number, message?: string) => void;
  signal?: AbortSignal;
}

export interface InstallResult {
  rootUuid: string;
  rootfsBytes: number;
  unpackSeconds: number;
}

async function uuidOf(dev: string): Promise<string> {
  const p = await probeFilesystem(dev);
  if (!p.uuid) throw new ImagingError(`${dev} has no filesystem UUID after mkfs`);
  return p.uuid;
}

export async function installDebian(o: InstallOptions): Promise<InstallResult> {
  const { target, plan, log } = o;
  const progress = o.progress ?? (() => undefined);
  progress(2, `formatting ${target.system}`);
  await run('wipefs', ['-a', target.system]);
  // No journal while the tree goes in: ~800 MiB in ~30k files, where journaling every metadata
  // block twice is CPU work the PC need not do (an interrupted install starts over with mkfs
  // anyway). The journal is added once the tree is complete (below), so the installed system
  // boots a normal journaled ext4.
  await run('mkfs.ext4', ['-q', '-F', '-L', 'system', '-O', '^has_journal', target.system]);
  if (target.swap) await run('mkswap', ['-L', 'swap', target.swap]);
  const rootUuid = await uuidOf(target.system);
  log(`${target.system}: new ext4 ${rootUuid}`);

  // noinit_itable: the kernel's background zeroing of inode tables would compete with the unpack;
  // it runs on the installed system's first mount instead.
  const m = await mountTemp(target.system, { fsType: 'ext4', options: ['noatime', 'noinit_itable'] });
  let unpackSeconds = 0;
  let rootfsBytes = 0;
  try {
    progress(5, 'downloading and unpacking the root filesystem');
    const started = performance.now();
    try {
      const r = await streamUnpack({
        fetchFile: o.fetchFile,
        source: plan.rootfs,
        dir: m.dir,
        log,
        progress: (f) => progress(5 + 70 * f, 'downloading and unpacking the root filesystem'),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      rootfsBytes = r.bytes;
    } catch (error) {
      // Nothing of an unverified tree may stay behind to be booted: wipe the partition.
      await m.unmount();
      await runAllowFailure('wipefs', ['-a', target.system]);
      log(`${target.system} wiped again: ${error instanceof RootfsMismatchError ? 'the root filesystem did not verify' : 'the root filesystem did not arrive whole'}; the bootloader places and the backup partition were not touched`);
      throw error;
    }
    unpackSeconds = (performance.now() - started) / 1000;
    log(`root filesystem ${plan.os} unpacked and verified (sha256 ${plan.rootfs.sha256.slice(0, 16)}…, ${(rootfsBytes / 1048576).toFixed(1)} MiB in ${unpackSeconds.toFixed(1)} s)`);

    progress(76, 'configuring');
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
  progress(98, 'adding the file system journal');
  await run('tune2fs', ['-O', 'has_journal', target.system]);
  log(`${target.system}: journal added`);
  progress(100, 'installed');
  return { rootUuid, rootfsBytes, unpackSeconds };
}
