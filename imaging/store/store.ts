// The image store on the mounted backup partition:
//   master.log            one timestamped line per image operation (appended, fsynced)
//   images.json           index, rebuilt from the per-image metadata after every change
//   layout.json           what prepare created (roles -> partition numbers)
//   <name>/image.pcl.zst  partclone image through zstd
//   <name>/metadata.json
// A new image is written into `.tmp-<name>-<rand>/` and only renamed to `<name>/` once complete
// and hashed; the old one is first renamed to `.old-<name>-<rand>/` and deleted afterwards.
// `recoverStore` finishes or undoes whatever a crash interrupted.
import { randomBytes, createHash } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagingError } from '../errors.ts';
import { fsyncPath, sha256File } from '../../lib/files.ts';
import type { BackupImageReport } from '../../lib/agent-protocol.ts';

// Shared with the server's depot; imaging's callers import them from here as before.
export { fsyncPath, sha256File };
import { normalizeImageName } from './names.ts';
import { diskLayout, imageIndex, imageMetadata, METADATA_FILE, type DiskLayout, type ImageIndex, type ImageMetadata } from './metadata.ts';

export const MASTER_LOG = 'master.log';
export const INDEX_FILE = 'images.json';
export const LAYOUT_FILE = 'layout.json';

async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Append one line to master.log: `<ISO time> <text>`. */
export async function appendMasterLog(root: string, text: string): Promise<void> {
  const line = `${new Date().toISOString()} ${text.replace(/[\r\n]+/g, ' ')}\n`;
  const fh = await open(join(root, MASTER_LOG), 'a');
  try {
    await fh.appendFile(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function readMasterLog(root: string): Promise<string> {
  return readFile(join(root, MASTER_LOG), 'utf8').catch(() => '');
}

export function imageDir(root: string, name: string): string {
  return join(root, normalizeImageName(name));
}

export async function readMetadata(root: string, name: string): Promise<ImageMetadata> {
  const dir = imageDir(root, name);
  let text: string;
  try {
    text = await readFile(join(dir, METADATA_FILE), 'utf8');
  } catch {
    throw new ImagingError(`image "${name}" not found on the backup partition (no ${name}/${METADATA_FILE})`);
  }
  const parsed = imageMetadata.safeParse(JSON.parse(text));
  if (!parsed.success) throw new ImagingError(`image "${name}": ${METADATA_FILE} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

export async function writeMetadata(dir: string, meta: ImageMetadata): Promise<void> {
  await writeFileAtomic(join(dir, METADATA_FILE), `${JSON.stringify(imageMetadata.parse(meta), null, 2)}\n`);
}

/** Images with valid metadata, oldest first. */
export async function listImages(root: string): Promise<ImageMetadata[]> {
  const out: ImageMetadata[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name === 'lost+found') continue;
    try {
      out.push(await readMetadata(root, entry.name));
    } catch {
      /* not an image dir */
    }
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Bytes of the regular files under dir, subdirectories included (symlinks not followed). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await lstat(path)).size;
  }
  return total;
}

/** The date of an image's metadata when it is one; an old or hand-made image may carry none. */
function knownDate(createdAt: string): string | null {
  return /^\d{4}-\d{2}-\d{2}T/.test(createdAt) && !Number.isNaN(Date.parse(createdAt)) ? new Date(createdAt).toISOString() : null;
}

/**
 * What the agent tells the server about each image (oldest first, as listImages): the size is
 * every file of its directory, as `du --apparent-size` would count them, not only the image stream.
 */
export async function imageReports(root: string): Promise<BackupImageReport[]> {
  const out: BackupImageReport[] = [];
  for (const m of await listImages(root)) {
    out.push({
      name: m.name,
      sizeBytes: await treeBytes(imageDir(root, m.name)),
      createdAt: knownDate(m.createdAt),
      sourcePartition: m.sourceDevice,
      fsType: m.fsType,
      format: m.format === 'netimage-image/2' ? 'chunked' : 'stream',
    });
  }
  return out;
}

export async function rebuildIndex(root: string): Promise<ImageIndex> {
  const images = await listImages(root);
  const index: ImageIndex = {
    format: 'netimage-index/1',
    updatedAt: new Date().toISOString(),
    images: images.map((m) => ({ name: m.name, fsType: m.fsType, imageBytes: m.imageBytes, createdAt: m.createdAt, sourceProduct: m.sourceProduct })),
  };
  await writeFileAtomic(join(root, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}

/** Create an empty store (prepare): master.log, empty index, layout. */
export async function initStore(root: string, layout: DiskLayout): Promise<void> {
  await writeFile(join(root, MASTER_LOG), '', { flag: 'a' });
  await writeFileAtomic(join(root, LAYOUT_FILE), `${JSON.stringify(diskLayout.parse(layout), null, 2)}\n`);
  await rebuildIndex(root);
  await appendMasterLog(root, `prepare: backup partition initialised (${layout.firmware}, ${layout.osFamily}, partitions ${layout.partitions.map((p) => `${p.disk}:${p.number}=${p.role}`).join(' ')})`);
  await fsyncPath(root);
}

export async function readLayout(root: string): Promise<DiskLayout> {
  try {
    return diskLayout.parse(JSON.parse(await readFile(join(root, LAYOUT_FILE), 'utf8')));
  } catch (e) {
    throw new ImagingError(`backup partition has no valid ${LAYOUT_FILE}: run opsi-local-image-prepare first`, { cause: e });
  }
}

const rand = () => randomBytes(6).toString('hex');

/** A fresh staging dir for a new image `name` (same filesystem, so the final rename is atomic). */
export async function createStaging(root: string, name: string): Promise<string> {
  const dir = join(root, `.tmp-${normalizeImageName(name)}-${rand()}`);
  await mkdir(dir);
  return dir;
}

/**
 * TEST HOOK, for test/imaging/safety.test.ts only: with NETIMAGE_TEST_HOOK_PAUSE_COMMIT set to a
 * commit point ('staged', 'aside', 'swapped'), commitStaging stops there, says so on stderr and
 * waits to be killed, so the test can SIGKILL the backup at exactly that step of the swap.
 */
export const COMMIT_PAUSE_ENV = 'NETIMAGE_TEST_HOOK_PAUSE_COMMIT';
async function testHookPause(point: 'staged' | 'aside' | 'swapped'): Promise<void> {
  if (process.env[COMMIT_PAUSE_ENV] !== point) return;
  process.stderr.write(`test hook: commit paused at ${point}\n`);
  await new Promise(() => setInterval(() => undefined, 60_000)); // until killed
}

/** Move a complete staging dir into place as `name`, replacing an existing image only now. */
export async function commitStaging(root: string, name: string, staging: string): Promise<void> {
  const final = imageDir(root, name);
  for (const f of await readdir(staging)) await fsyncPath(join(staging, f));
  await fsyncPath(staging);
  await testHookPause('staged');
  const aside = join(root, `.old-${normalizeImageName(name)}-${rand()}`);
  let hadOld = true;
  try {
    await rename(final, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    hadOld = false;
  }
  await testHookPause('aside'); // the one moment with no image of this name in place
  await rename(staging, final);
  await fsyncPath(root);
  await testHookPause('swapped');
  if (hadOld) await rm(aside, { recursive: true, force: true });
  await fsyncPath(root);
}

export async function deleteImageDir(root: string, name: string): Promise<void> {
  const dir = imageDir(root, name);
  const doomed = join(root, `.del-${normalizeImageName(name)}-${rand()}`);
  await rename(dir, doomed);
  await fsyncPath(root);
  await rm(doomed, { recursive: true, force: true });
}

/**
 * Finish or undo interrupted operations: staging dirs are dropped; an image renamed aside
 * whose replacement never arrived is put back; leftovers of replaced/deleted images go.
 */
export async function recoverStore(root: string): Promise<string[]> {
  const actions: string[] = [];
  const entries = await readdir(root);
  for (const e of entries) {
    const tmp = /^\.tmp-(.+)-[0-9a-f]{12}$/.exec(e);
    if (tmp) {
      await rm(join(root, e), { recursive: true, force: true });
      actions.push(`removed unfinished image ${tmp[1]} (${e})`);
    }
  }
  for (const e of entries) {
    const old = /^\.old-(.+)-[0-9a-f]{12}$/.exec(e);
    const del = /^\.del-(.+)-[0-9a-f]{12}$/.exec(e);
    if (old) {
      const name = old[1]!;
      if (entries.includes(name)) {
        await rm(join(root, e), { recursive: true, force: true });
        actions.push(`removed replaced image ${name} (${e})`);
      } else {
        await rename(join(root, e), join(root, name));
        actions.push(`put back image ${name} from ${e} (its replacement was never completed)`);
      }
    } else if (del) {
      await rm(join(root, e), { recursive: true, force: true });
      actions.push(`finished deleting ${del[1]}`);
    }
  }
  if (actions.length > 0) {
    await fsyncPath(root);
    for (const a of actions) await appendMasterLog(root, `recover: ${a}`);
  }
  return actions;
}

/**
 * sha256 of a file that another process is still writing: follows it like `tail -f` until
 * `finished` resolves, then reads the rest. Overlaps the hash with partclone|zstd instead of
 * paying for a second pass afterwards (the data is still in the page cache).
 */
export async function sha256Growing(path: string, finished: Promise<unknown>, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  let done = false;
  void finished.then(
    () => (done = true),
    () => (done = true),
  );
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    let pos = 0;
    for (;;) {
      signal?.throwIfAborted();
      const wasDone = done;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
        continue;
      }
      // EOF seen after the writer had finished: nothing more will come.
      if (wasDone) break;
      await new Promise((r) => setTimeout(r, 15));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}
