// The depot: the one server-side store for big files PCs fetch (Linux root filesystems now;
// Windows media, captured WIMs and golden images later), under the data dir:
//   <dir>/<kind>/<name>/manifest.json   written last; an entry exists iff its folder is in place
//   <dir>/<kind>/<name>/<files...>
//   <dir>/.staging/<pid>-<rand>/         an entry being written (or a builder's scratch space)
//   <dir>/.trash/<rand>/                 an entry being removed
// Writes are atomic: files and manifest go into a staging folder on the same file system, are
// fsynced, and the folder is renamed into place, so a reader never sees half an entry. A crash
// leaves only staging folders, which `recover` removes (those of live processes are kept).
// Folders are 0700 and files 0600 like the rest of the data dir: only this server reads them,
// and hands them out over HTTP to callers it has authorised (bootserver/depot/http.ts).
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fsyncPath, sha256File } from '../../lib/files.ts';
import { pidAlive, runAllowFailure } from '../../lib/process.ts';
import {
  DEPOT_KINDS,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  depotEntryName,
  depotFilePath,
  depotManifest,
  entryId,
  type DepotKind,
  type DepotManifest,
  type ManifestFile,
} from './manifest.ts';
import { NetimageError, type ErrorKind } from '../../lib/errors.ts';

const STAGING = '.staging';
const TRASH = '.trash';

/** A depot failure (damaged manifest, entry still mounted...): HTTP 500 unless a subclass says otherwise. */
export class DepotError extends NetimageError {
  constructor(message: string, options?: ErrorOptions, kind: ErrorKind = 'failed') {
    super(kind, message, options);
    this.name = 'DepotError';
  }
}

/** The entry asked for does not exist (HTTP 404). */
export class DepotNotFoundError extends DepotError {
  constructor(message: string) {
    super(message, undefined, 'not_found');
    this.name = 'DepotNotFoundError';
  }
}

/** The entry exists already: entries are never changed in place (HTTP 409). */
export class DepotConflictError extends DepotError {
  constructor(message: string) {
    super(message, undefined, 'conflict');
    this.name = 'DepotConflictError';
  }
}

/** Mount points at or below `dir` (from /proc/mounts), deepest first. */
async function mountsBelow(dir: string): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => unescape(l.split(' ')[1] ?? ''))
    .filter((m) => m === dir || m.startsWith(dir + sep))
    .sort((a, b) => b.length - a.length);
}

/**
 * rm -rf that never deletes through a mount point: a builder killed hard can leave its chroot's
 * /proc, /sys or /dev mounted; those are unmounted first, and if one stays, nothing is removed.
 */
export async function removeTree(dir: string): Promise<void> {
  for (const m of await mountsBelow(dir)) {
    if ((await runAllowFailure('umount', [m])).exitCode !== 0) await runAllowFailure('umount', ['-l', m]);
  }
  const left = await mountsBelow(dir);
  if (left.length) throw new DepotError(`not removing ${dir}: ${left.join(', ')} is still mounted`);
  await rm(dir, { recursive: true, force: true });
}

export interface DepotEntry {
  id: string;
  dir: string;
  manifest: DepotManifest;
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  /** One line per problem: a file missing, of the wrong size or hash, or not in the manifest. */
  problems: string[];
  bytes: number;
}

async function walkFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walkFiles(root, full)));
    else out.push(relative(root, full).split(sep).join('/'));
  }
  return out.sort();
}

async function walkDirs(dir: string): Promise<string[]> {
  const out = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true })) if (entry.isDirectory()) out.push(...(await walkDirs(join(dir, entry.name))));
  return out;
}

export class Depot {
  readonly dir: string;
  private readonly now: () => Date;

  private constructor(dir: string, now: () => Date) {
    this.dir = dir;
    this.now = now;
  }

  /** Open (creating if needed) a depot and clean up what a crash left behind. */
  static async open(dir: string, options: { now?: () => Date } = {}): Promise<Depot> {
    const depot = new Depot(dir, options.now ?? (() => new Date()));
    for (const d of [dir, join(dir, STAGING), join(dir, TRASH), ...DEPOT_KINDS.map((k) => join(dir, k))]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    }
    await depot.recover();
    return depot;
  }

  private entryDir(kind: DepotKind, name: string): string {
    return join(this.dir, kind, depotEntryName.parse(name));
  }

  /** Remove staging folders of processes that are gone and finish interrupted removals. */
  async recover(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(join(this.dir, STAGING))) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (pid && pid !== process.pid && pidAlive(pid)) continue;
      if (pid === process.pid) continue;
      await removeTree(join(this.dir, STAGING, name));
      removed.push(`${STAGING}/${name}`);
    }
    for (const name of await readdir(join(this.dir, TRASH))) {
      await removeTree(join(this.dir, TRASH, name));
      removed.push(`${TRASH}/${name}`);
    }
    return removed;
  }

  /** A fresh folder on the depot's file system for a writer's scratch files (caller removes it). */
  async scratch(label: string): Promise<string> {
    const dir = join(this.dir, STAGING, `${process.pid}-${label.replace(/[^a-z0-9-]/gi, '_')}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  async get(kind: DepotKind, name: string): Promise<DepotEntry | null> {
    const dir = this.entryDir(kind, name);
    let text: string;
    try {
      text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const parsed = depotManifest.safeParse(JSON.parse(text));
    if (!parsed.success) throw new DepotError(`depot entry ${entryId(kind, name)}: ${MANIFEST_FILE} is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
    return { id: entryId(kind, name), dir, manifest: parsed.data };
  }

  async require(kind: DepotKind, name: string): Promise<DepotEntry> {
    const entry = await this.get(kind, name);
    if (!entry) throw new DepotNotFoundError(`depot entry ${entryId(kind, name)} not found`);
    return entry;
  }

  /** Every committed entry, by kind then name. */
  async list(): Promise<DepotEntry[]> {
    const out: DepotEntry[] = [];
    for (const kind of DEPOT_KINDS) {
      for (const name of (await readdir(join(this.dir, kind))).sort()) {
        if (!depotEntryName.safeParse(name).success) continue;
        const entry = await this.get(kind, name).catch(() => null);
        if (entry) out.push(entry);
      }
    }
    return out;
  }

  /**
   * Write a new entry: `fill` writes its files into an empty folder; then every file is hashed,
   * the manifest written, everything fsynced and the folder renamed into place. If `fill` throws
   * (or the process dies) nothing becomes visible. Refuses to replace an existing entry.
   */
  async create(kind: DepotKind, name: string, meta: Record<string, unknown>, fill: (dir: string) => Promise<void>): Promise<DepotEntry> {
    const final = this.entryDir(kind, name);
    if (await this.get(kind, name)) throw new DepotConflictError(`depot entry ${entryId(kind, name)} exists already (entries are never changed: remove it first)`);
    const staging = await this.scratch(`${kind}-${name}`);
    try {
      await fill(staging);
      const files: ManifestFile[] = [];
      for (const path of await walkFiles(staging)) {
        const checked = depotFilePath.safeParse(path);
        if (!checked.success) throw new DepotError(`depot entry ${entryId(kind, name)}: file name ${JSON.stringify(path)} not allowed: ${checked.error.issues[0]?.message ?? ''}`);
        const full = join(staging, path);
        await chmod(full, 0o600);
        files.push({ path, size: (await stat(full)).size, sha256: await sha256File(full) });
        await fsyncPath(full);
      }
      const manifest = depotManifest.parse({ format: MANIFEST_FORMAT, kind, name, created: this.now().toISOString(), files, meta });
      const fh = await open(join(staging, MANIFEST_FILE), 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(manifest, null, 2) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      for (const d of await walkDirs(staging)) {
        await chmod(d, 0o700);
        await fsyncPath(d);
      }
      await rename(staging, final);
      await fsyncPath(join(this.dir, kind));
      await fsyncPath(join(this.dir, STAGING));
      return { id: entryId(kind, name), dir: final, manifest };
    } catch (error) {
      await removeTree(staging);
      throw error;
    }
  }

  /** Re-read every file and compare with the manifest. */
  async verify(kind: DepotKind, name: string): Promise<VerifyResult> {
    const entry = await this.require(kind, name);
    const problems: string[] = [];
    let bytes = 0;
    const listed = new Set(entry.manifest.files.map((f) => f.path));
    for (const f of entry.manifest.files) {
      const full = join(entry.dir, f.path);
      const info = await stat(full).catch(() => null);
      if (!info?.isFile()) {
        problems.push(`${f.path}: missing`);
        continue;
      }
      bytes += info.size;
      if (info.size !== f.size) {
        problems.push(`${f.path}: size ${info.size}, manifest says ${f.size}`);
        continue;
      }
      const actual = await sha256File(full);
      if (actual !== f.sha256) problems.push(`${f.path}: sha256 ${actual}, manifest says ${f.sha256}`);
    }
    for (const path of await walkFiles(entry.dir)) {
      if (path !== MANIFEST_FILE && !listed.has(path)) problems.push(`${path}: not in the manifest`);
    }
    return { id: entry.id, ok: problems.length === 0, problems, bytes };
  }

  /** Remove an entry: renamed out of sight first, so it is either all there or gone. */
  async remove(kind: DepotKind, name: string): Promise<void> {
    const entry = await this.require(kind, name);
    const doomed = join(this.dir, TRASH, `${kind}-${name}-${randomBytes(4).toString('hex')}`);
    await rename(entry.dir, doomed);
    await fsyncPath(join(this.dir, kind));
    await removeTree(doomed);
  }

  /** The manifest entry and absolute path of one file of an entry (only files in the manifest). */
  async file(kind: DepotKind, name: string, path: string): Promise<{ entry: DepotEntry; file: ManifestFile; fullPath: string }> {
    const entry = await this.require(kind, name);
    const file = entry.manifest.files.find((f) => f.path === path);
    if (!file) throw new DepotNotFoundError(`depot entry ${entry.id} has no file ${path}`);
    return { entry, file, fullPath: join(entry.dir, ...path.split('/')) };
  }
}

