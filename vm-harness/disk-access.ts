// Host access to a STOPPED VM's raw disk image: loop-attach it with partitions (`losetup -P`),
// find a partition by filesystem label, mount it, write files with a sha256 manifest, verify a
// manifest, or damage a partition. Every function detaches what it attached (umount, losetup -d),
// also on failure. Never use it while QEMU has the image open: two writers corrupt it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run, runAllowFailure } from '../lib/process.ts';

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  files: ManifestEntry[];
  totalBytes: number;
}

export interface PartitionInfo {
  device: string;
  number: number;
  label: string | null;
  fsType: string | null;
}

/** Parse `blkid -p -o export` output (pure). */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Loop-attach `image` with its partitions, run fn, always detach. `losetup -P` alone does not create
 * the loopNpM partitions on this host (no udev, container kernel): `partx -a` adds them, `partx -d`
 * removes them before the detach.
 */
export async function withLoopDisk<T>(image: string, fn: (loop: string, partitions: PartitionInfo[]) => Promise<T>): Promise<T> {
  const loop = (await run('losetup', ['--find', '--show', '--partscan', image])).stdout.trim();
  try {
    await runAllowFailure('partx', ['-a', loop]);
    const { stdout } = await run('lsblk', ['-nlo', 'NAME,TYPE', loop]);
    const partitions: PartitionInfo[] = [];
    for (const line of stdout.split('\n')) {
      const [name, type] = line.trim().split(/\s+/);
      if (type !== 'part' || !name) continue;
      const device = `/dev/${name}`;
      const m = /p(\d+)$/.exec(name);
      const probe = parseBlkidExport((await runAllowFailure('blkid', ['-p', '-o', 'export', device])).stdout);
      partitions.push({ device, number: Number(m?.[1] ?? 0), label: probe['LABEL'] ?? null, fsType: probe['TYPE'] ?? null });
    }
    partitions.sort((a, b) => a.number - b.number);
    return await fn(loop, partitions);
  } finally {
    // A partition just unmounted may be busy for a moment.
    for (let i = 0; i < 20; i++) {
      await runAllowFailure('partx', ['-d', loop]);
      if ((await runAllowFailure('losetup', ['-d', loop])).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The partition with this filesystem label, or an error listing what is there. */
export function partitionByLabel(partitions: PartitionInfo[], label: string): PartitionInfo {
  const p = partitions.find((x) => x.label === label);
  if (!p) throw new Error(`no partition labelled ${label}; found: ${partitions.map((x) => `${x.device} ${x.fsType ?? '-'} ${x.label ?? '-'}`).join(', ')}`);
  return p;
}

/** Mount a partition (ntfs-3g for NTFS) on a private temp dir, run fn, always unmount. */
export async function withMounted<T>(part: PartitionInfo, mode: 'ro' | 'rw', fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `netimage-diskaccess-p${process.pid}-`));
  try {
    if (part.fsType === 'ntfs') await run('ntfs-3g', ['-o', mode, part.device, dir]);
    else await run('mount', ['-o', mode, part.device, dir]);
    try {
      return await fn(dir);
    } finally {
      await run('umount', [dir]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Files that stand for an installed OS: incompressible random files plus compressible text, in a
 * few directories. Deterministic sizes, random content (a new manifest each run).
 */
export async function writeFilesWithManifest(dir: string, options: { randomMiB?: number; textMiB?: number } = {}): Promise<Manifest> {
  const files: ManifestEntry[] = [];
  const put = async (rel: string, data: Buffer) => {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    files.push({ path: rel, size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
  };
  const randomMiB = options.randomMiB ?? 48;
  for (let i = 0; i < Math.ceil(randomMiB / 8); i++) {
    await put(`netimage-test/bin/blob${i}.bin`, randomBytes(Math.min(8, randomMiB - i * 8) * 1024 * 1024));
  }
  const textMiB = options.textMiB ?? 16;
  for (let i = 0; i < textMiB; i++) {
    const lines: string[] = [];
    let size = 0;
    while (size < 1024 * 1024) {
      const line = `line ${i}.${lines.length} ${randomBytes(12).toString('hex')} the quick brown fox jumps over the lazy dog\n`;
      lines.push(line);
      size += line.length;
    }
    await put(`netimage-test/text/doc${i}.txt`, Buffer.from(lines.join('')));
  }
  await put('netimage-test/small/empty', Buffer.alloc(0));
  await put('netimage-test/small/hello.txt', Buffer.from('hello from the host\n'));
  const manifest = { files, totalBytes: files.reduce((s, f) => s + f.size, 0) };
  await writeFile(join(dir, 'netimage-test/MANIFEST.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}

/** Compare the files under dir with the manifest; returns the problems (empty = intact). */
export async function verifyManifest(dir: string, manifest: Manifest): Promise<string[]> {
  const problems: string[] = [];
  for (const f of manifest.files) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, f.path));
    } catch (error) {
      problems.push(`${f.path}: ${(error as Error).message}`);
      continue;
    }
    const sha = createHash('sha256').update(data).digest('hex');
    if (data.length !== f.size || sha !== f.sha256) problems.push(`${f.path}: size ${data.length}/${f.size}, sha256 ${sha.slice(0, 12)}/${f.sha256.slice(0, 12)}`);
  }
  return problems;
}

/** Write the files into the partition labelled `label` of a stopped VM's raw disk. */
export async function writeManifestToDisk(image: string, label: string, options?: { randomMiB?: number; textMiB?: number }): Promise<Manifest> {
  return withLoopDisk(image, (_loop, parts) => withMounted(partitionByLabel(parts, label), 'rw', (dir) => writeFilesWithManifest(dir, options)));
}

/** Verify the files in the partition labelled `label`; a partition that will not mount is a problem too. */
export async function verifyManifestOnDisk(image: string, label: string, manifest: Manifest): Promise<string[]> {
  return withLoopDisk(image, async (_loop, parts) => {
    const part = parts.find((p) => p.label === label);
    if (!part) return [`no partition labelled ${label} (${parts.map((p) => `${p.device}:${p.fsType ?? '-'}:${p.label ?? '-'}`).join(' ')})`];
    try {
      return await withMounted(part, 'ro', (dir) => verifyManifest(dir, manifest));
    } catch (error) {
      return [`cannot mount ${part.device}: ${(error as Error).message}`];
    }
  });
}

/**
 * Damage the partition labelled `label`: overwrite its first `mib` MiB (boot sector / superblock,
 * metadata) with random bytes, so neither the filesystem nor the files survive. Returns the device
 * partition number that was hit.
 */
export async function damagePartition(image: string, label: string, mib = 16): Promise<number> {
  return withLoopDisk(image, async (_loop, parts) => {
    const part = partitionByLabel(parts, label);
    const fh = await open(part.device, 'r+');
    try {
      for (let i = 0; i < mib; i++) await fh.write(randomBytes(1024 * 1024), 0, 1024 * 1024, i * 1024 * 1024);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return part.number;
  });
}
