// Block device plumbing: partition node names, partition table re-read, waiting for nodes.
// In the boot image (devtmpfs, no udev) and on loop devices here the kernel's own rescan
// (BLKRRPART) may not add partitions; `partx -u` (BLKPG per partition) does. If devtmpfs has
// not created a node, it is made from /sys/class/block/<name>/dev.
import { access, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runAllowFailure } from '../lib/process.ts';

/** /dev/sda + 1 -> /dev/sda1; /dev/nvme0n1, /dev/loop0, /dev/mmcblk0 + 1 -> ...p1. */
export function partitionPath(diskPath: string, number: number): string {
  return /\d$/.test(diskPath) ? `${diskPath}p${number}` : `${diskPath}${number}`;
}

// Node has no mknod(2); the coreutils tool does it.
async function mknod(path: string, major: number, minor: number): Promise<void> {
  await run('mknod', ['-m', '0600', path, 'b', String(major), String(minor)]);
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** Tell the kernel about the new table: partx -u first (works on loop devices and without udev), BLKRRPART as fallback. */
export async function rereadPartitions(diskPath: string): Promise<void> {
  const partx = await runAllowFailure('partx', ['-u', diskPath]);
  if (partx.exitCode !== 0) await runAllowFailure('blockdev', ['--rereadpt', diskPath]);
}

/**
 * Wait until the partition nodes exist (creating them from sysfs if needed), asking the kernel
 * again every 2 s; throws after timeoutMs. (One rescan after 5 s of 10 was not enough once: on a
 * loaded machine with another test's heavy I/O, a 4Kn loop's partitions were still missing.)
 */
export async function waitForPartitions(diskPath: string, numbers: number[], timeoutMs = 30_000): Promise<string[]> {
  const paths = numbers.map((n) => partitionPath(diskPath, n));
  const deadline = Date.now() + timeoutMs;
  let nextRescan = Date.now() + 2000;
  for (;;) {
    const missing: string[] = [];
    for (const p of paths) {
      if (await exists(p)) continue;
      const name = p.split('/').pop() ?? '';
      const devNo = await readFile(`/sys/class/block/${name}/dev`, 'utf8').catch(() => null);
      if (devNo) {
        const [major, minor] = devNo.trim().split(':').map(Number);
        if (major !== undefined && minor !== undefined) await mknod(p, major, minor).catch(() => undefined);
        if (await exists(p)) continue;
      }
      missing.push(p);
    }
    if (missing.length === 0) return paths;
    if (Date.now() > deadline) throw new Error(`partition nodes did not appear: ${missing.join(', ')}`);
    if (Date.now() > nextRescan) {
      nextRescan = Date.now() + 2000;
      await rereadPartitions(diskPath);
    }
    await sleep(50);
  }
}

/** Logical sector size and size in bytes of a block device. */
export async function blockGeometry(devPath: string): Promise<{ sizeBytes: number; logicalSectorSize: number }> {
  const { stdout } = await run('blockdev', ['--getsize64', '--getss', devPath]);
  const [size, ss] = stdout.split(/\s+/).map(Number);
  if (!size || !ss) throw new Error(`blockdev gave no geometry for ${devPath}: ${stdout}`);
  return { sizeBytes: size, logicalSectorSize: ss };
}
