// The depot: the one server-side store for big files PCs fetch (Linux root filesystems now;
// Windows media, captured WIMs and golden images later), under the data dir:
//   <dir>/<kind>/<name>/manifest.json   written last; an entry exists iff its folder is in place
//   <dir>/<kind>/<name>/<files...>
//   <dir>/.staging/<pid>-<rand>/         an entry being written (or a builder's scratch space)
//   <dir>/.trash/<rand>/                 an entry being removed
//   <dir>/<kind>/<name> -> .versions/<name>@<stamp>   a versioned entry (Windows media, WIMs):
//                                        a symlink swapped by one rename to a new version
//   <dir>/.uploads/<id>/                 an upload in progress (bootserver/depot/upload.ts)
// Writes are atomic: files and manifest go into a staging folder on the same file system, are
// fsynced, and the folder is renamed into place, so a reader never sees half an entry. A crash
// leaves only staging folders, which `recover` removes (those of live processes are kept).
// Entries are never changed in place. A kind whose entries get new contents under the same name
// (Windows media re-imported part by part, a WIM captured again) is written with `commitVersion`:
// each version is a complete folder, and the entry's name is a symlink replaced atomically by a
// rename, so a reader sees the old version or the new one; `get` resolves the link once, so one
// reader's manifest and files come from one version. The previous version is kept until the
// next commit (readers that resolved it just before the swap), older ones are removed.
// Folders are 0700 and files 0600 like the rest of the data dir: only this server reads them,
// and hands them out over HTTP to callers it has authorised (bootserver/depot/http.ts).
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile, readlink, realpath, rename, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
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
export const UPLOADS = '.uploads';
const VERSIONS = '.versions';
/** The last `verify` of each entry (`<kind>--<name>.json`): kept beside the entries, which never change once sealed. */
const VERIFIED = '.verified';

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

/** Writes an entry's files into `dir`; may return files it hard-linked from a verified entry (not hashed again). */
/** An entry's meta, or a function giving it once the files are written. */
export type EntryMeta = Record<string, unknown> | (() => Record<string, unknown>);

export type FillEntry = (dir: string) => Promise<ManifestFile[] | void>;

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(2)} GiB (${n} bytes)`;

/** Refuse before writing when the depot's file system has less free space than `needed`. */
export async function checkSpace(dir: string, needed: number, what: string): Promise<void> {
  const free = await freeBytes(dir);
  if (free < needed) throw new DepotError(`not enough space in the depot (${dir}) for ${what}: it needs ${gib(needed)}, ${gib(free)} are free`, undefined, 'unavailable');
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

/** When the entry's current version was last re-hashed (`depot verify`), and what that found. */
export interface LastVerify {
  at: string;
  ok: boolean;
  problems: string[];
}

/** Names one version of an entry: a new upload or import of the same name is another version, never verified yet. */
const versionKey = (m: DepotManifest) => createHash('sha256').update(JSON.stringify({ created: m.created, files: m.files })).digest('hex');

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

/** A manifest's text checked; a damaged file (not JSON, cut short) is an error to name, not a crash. */
function parseManifest(text: string): { success: true; data: DepotManifest } | { success: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { success: false, error: `not JSON (${(error as Error).message})` };
  }
  const parsed = depotManifest.safeParse(json);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, error: parsed.error.issues[0]?.message ?? '' };
}

export class Depot {
  readonly dir: string;
  private readonly now: () => Date;

  private constructor(dir: string, now: () => Date) {
    this.dir = dir;
    this.now = now;
  }

  /**
   * Open (creating if needed) a depot and clean up what a crash left behind. A second process
   * beside the running server (the CLI's import) passes `recover: false`: the server's previous
   * versions may still be read by its clients.
   */
  static async open(dir: string, options: { now?: () => Date; recover?: boolean } = {}): Promise<Depot> {
    const depot = new Depot(dir, options.now ?? (() => new Date()));
    for (const d of [dir, join(dir, STAGING), join(dir, TRASH), join(dir, UPLOADS), join(dir, VERIFIED), ...DEPOT_KINDS.map((k) => join(dir, k))]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    }
    if (options.recover !== false) await depot.recover();
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
    // At start no reader holds an old version: keep only the versions an entry's link names.
    for (const kind of DEPOT_KINDS) {
      const versions = join(this.dir, kind, VERSIONS);
      const names = await readdir(versions).catch(() => [] as string[]);
      if (!names.length) continue;
      const current = new Set<string>();
      for (const name of await readdir(join(this.dir, kind))) {
        const target = await readlink(join(this.dir, kind, name)).catch(() => null);
        if (target) current.add(target.split('/').pop()!);
      }
      for (const v of names) {
        if (current.has(v)) continue;
        await removeTree(join(versions, v));
        removed.push(`${kind}/${VERSIONS}/${v}`);
      }
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
    const parsed = parseManifest(text);
    if (!parsed.success) throw new DepotError(`depot entry ${entryId(kind, name)}: ${MANIFEST_FILE} is invalid: ${parsed.error}`);
    // A versioned entry: read the version the manifest came from. (Between the read and here a
    // commit may have swapped the link; then the manifest is reread from the new version.)
    if ((await lstat(dir).catch(() => null))?.isSymbolicLink()) {
      const real = await realpath(dir).catch(() => null);
      const text = real ? await readFile(join(real, MANIFEST_FILE), 'utf8').catch(() => null) : null;
      const again = text === null ? null : parseManifest(text);
      if (real && again?.success) return { id: entryId(kind, name), dir: real, manifest: again.data };
    }
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
  async create(kind: DepotKind, name: string, meta: Record<string, unknown>, fill: FillEntry): Promise<DepotEntry> {
    const final = this.entryDir(kind, name);
    if (await this.get(kind, name)) throw new DepotConflictError(`depot entry ${entryId(kind, name)} exists already (entries are never changed: remove it first)`);
    return this.sealed(kind, name, meta, fill, async (staging) => {
      await rename(staging, final);
      return final;
    });
  }

  /**
   * Write a new version of an entry (or its first): like `create`, but the entry's name becomes a
   * symlink to the version, swapped by one rename. `fill` may hard-link files of the current
   * version (they never change) and report their known hashes, so they are not read again.
   */
  async commitVersion(kind: DepotKind, name: string, meta: EntryMeta, fill: FillEntry): Promise<DepotEntry> {
    const final = this.entryDir(kind, name);
    const versions = join(this.dir, kind, VERSIONS);
    await mkdir(versions, { recursive: true, mode: 0o700 });
    return this.sealed(kind, name, meta, fill, async (staging) => {
      const version = `${name}@${this.now().getTime()}-${randomBytes(4).toString('hex')}`;
      await rename(staging, join(versions, version));
      await fsyncPath(versions);
      const previous = await lstat(final).catch(() => null);
      // An entry written by `create` (a plain folder) cannot be swapped by rename: move it into
      // the versions first (the only moment the name is missing, once per such entry).
      if (previous?.isDirectory()) await rename(final, join(versions, `${name}@0-plain`));
      const keep = previous?.isSymbolicLink() ? (await readlink(final)).split('/').pop()! : previous ? `${name}@0-plain` : null;
      const link = join(this.dir, STAGING, `${process.pid}-link-${randomBytes(4).toString('hex')}`);
      await symlink(`${VERSIONS}/${version}`, link);
      await rename(link, final);
      await fsyncPath(join(this.dir, kind));
      for (const v of await readdir(versions)) {
        if (v.startsWith(`${name}@`) && v !== version && v !== keep) await removeTree(join(versions, v));
      }
      return join(versions, version);
    });
  }

  /** Fill a staging folder, hash it, write the manifest, fsync, then `publish` moves it in place. */
  private async sealed(kind: DepotKind, name: string, meta: EntryMeta, fill: FillEntry, publish: (staging: string) => Promise<string>): Promise<DepotEntry> {
    const staging = await this.scratch(`${kind}-${name}`);
    try {
      const known = new Map(((await fill(staging)) ?? []).map((f) => [f.path, f]));
      const files: ManifestFile[] = [];
      for (const path of await walkFiles(staging)) {
        const checked = depotFilePath.safeParse(path);
        if (!checked.success) throw new DepotError(`depot entry ${entryId(kind, name)}: file name ${JSON.stringify(path)} not allowed: ${checked.error.issues[0]?.message ?? ''}`, undefined, 'invalid');
        const full = join(staging, path);
        // Only regular files: chmod, stat and hashing would follow a link out of the entry (and
        // HTTP would serve what it points to); a device or socket has no bytes to keep.
        const info = await lstat(full);
        if (!info.isFile()) throw new DepotError(`depot entry ${entryId(kind, name)}: ${JSON.stringify(path)} is ${info.isSymbolicLink() ? 'a symbolic link' : 'a special file'}, not a regular file`, undefined, 'invalid');
        await chmod(full, 0o600);
        const size = info.size;
        const reuse = known.get(path);
        files.push({ path, size, sha256: reuse && reuse.size === size ? reuse.sha256 : await sha256File(full) });
        if (!reuse) await fsyncPath(full);
      }
      const manifest = depotManifest.parse({ format: MANIFEST_FORMAT, kind, name, created: this.now().toISOString(), files, meta: typeof meta === 'function' ? meta() : meta });
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
      const dir = await publish(staging);
      await fsyncPath(join(this.dir, kind));
      await fsyncPath(join(this.dir, STAGING));
      return { id: entryId(kind, name), dir, manifest };
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
    const result = { id: entry.id, ok: problems.length === 0, problems, bytes };
    await this.recordVerify(kind, name, versionKey(entry.manifest), { at: this.now().toISOString(), ok: result.ok, problems });
    return result;
  }

  private verifiedFile(kind: DepotKind, name: string): string {
    return join(this.dir, VERIFIED, `${kind}--${depotEntryName.parse(name)}.json`);
  }

  private async recordVerify(kind: DepotKind, name: string, version: string, last: LastVerify): Promise<void> {
    const file = this.verifiedFile(kind, name);
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify({ version, ...last }) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  }

  /** The last verify of the entry's current version, or null (never verified, or verified before its last upload). */
  async lastVerify(kind: DepotKind, name: string): Promise<LastVerify | null> {
    const entry = await this.require(kind, name);
    const text = await readFile(this.verifiedFile(kind, name), 'utf8').catch(() => null);
    if (!text) return null;
    try {
      const v = JSON.parse(text) as LastVerify & { version: string };
      return v.version === versionKey(entry.manifest) ? { at: v.at, ok: v.ok, problems: v.problems } : null;
    } catch {
      return null;
    }
  }

  /** Remove an entry: renamed out of sight first, so it is either all there or gone. */
  async remove(kind: DepotKind, name: string): Promise<void> {
    await this.require(kind, name);
    const link = this.entryDir(kind, name);
    const doomed = join(this.dir, TRASH, `${kind}-${name}-${randomBytes(4).toString('hex')}`);
    await rename(link, doomed);
    await fsyncPath(join(this.dir, kind));
    await removeTree(doomed);
    // A versioned entry: its name is gone (above), now its versions.
    for (const v of await readdir(join(this.dir, kind, VERSIONS)).catch(() => [] as string[])) {
      if (v.startsWith(`${name}@`)) await removeTree(join(this.dir, kind, VERSIONS, v));
    }
    await rm(this.verifiedFile(kind, name), { force: true });
  }

  /** The manifest entry and absolute path of one file of an entry (only files in the manifest). */
  async file(kind: DepotKind, name: string, path: string): Promise<{ entry: DepotEntry; file: ManifestFile; fullPath: string }> {
    const entry = await this.require(kind, name);
    const file = entry.manifest.files.find((f) => f.path === path);
    if (!file) throw new DepotNotFoundError(`depot entry ${entry.id} has no file ${path}`);
    return { entry, file, fullPath: join(entry.dir, ...path.split('/')) };
  }
}

