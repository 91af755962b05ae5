// The chunked format's C helpers (native/chunkcut.c, native/chunkapply.c, native/ext4records.c,
// native/ntfsrecords.c):
// where they are and how they are built. Node's own writer and applier (writer.ts, apply.ts) cost ~2x the CPU of
// partclone | zstd; the helpers ~1x (docs/performance.md), so they are used whenever present.
// Server and tests: var/native/<hash of the sources>/ (built by scripts/setup.d, or by
// buildChunkHelpers); the boot image: /usr/libexec/netimage (bootimage/build.ts).
// NETIMAGE_CHUNK_HELPERS=off forces the Node path, =DIR takes the helpers from DIR;
// NETIMAGE_FS_RECORDS=off (or the older NETIMAGE_EXT4RECORDS=off) leaves ext4records and ntfsrecords
// out (no record tables, delta compares everything).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lib/process.ts';

export const CHUNK_HELPERS = ['chunkcut', 'chunkapply', 'ext4records', 'ntfsrecords'] as const;
/** The helpers that read a file system's own records (fs-records.ts). */
export type RecordsHelper = 'ext4records' | 'ntfsrecords';
/** What each helper links besides libc (ext4records: libext2fs from e2fsprogs, libext2fs-dev; ntfsrecords: libntfs-3g, ntfs-3g-dev). */
const HELPER_LIBS: Record<(typeof CHUNK_HELPERS)[number], string[]> = {
  chunkcut: ['-lzstd', '-lcrypto'],
  chunkapply: ['-lzstd', '-lcrypto'],
  ext4records: ['-lext2fs', '-lcom_err', '-lcrypto'],
  ntfsrecords: ['-lntfs-3g', '-lcrypto'],
};
export const BOOT_IMAGE_HELPER_DIR = '/usr/libexec/netimage';
/** Where the server and the tests keep built helpers (one dir per source hash), under the checkout. */
export const HELPER_CACHE = 'var/native';

const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'native');

export interface ChunkHelpers {
  chunkcut: string;
  chunkapply: string;
  /** Null where it was not built (a helper dir from before it existed): delta then compares every chunk. */
  ext4records: string | null;
  ntfsrecords: string | null;
}

/** sha256 over the helpers' sources, null where they are not shipped (the agent bundle). */
export function helperSourcesHash(): string | null {
  try {
    const h = createHash('sha256');
    for (const name of CHUNK_HELPERS) h.update(name).update(readFileSync(join(SOURCE_DIR, `${name}.c`)));
    return h.digest('hex').slice(0, 16);
  } catch {
    return null;
  }
}

function inDir(dir: string): ChunkHelpers | null {
  const at = (n: string) => (existsSync(join(dir, n)) ? join(dir, n) : null);
  const chunkcut = at('chunkcut');
  const chunkapply = at('chunkapply');
  return chunkcut && chunkapply ? { chunkcut, chunkapply, ext4records: at('ext4records'), ntfsrecords: at('ntfsrecords') } : null;
}

/** Where built helpers are, in order: the server's build for these sources, then the boot image's. */
function builtHelperDirs(root: string): string[] {
  const hash = helperSourcesHash();
  return [...(hash ? [join(root, HELPER_CACHE, hash)] : []), BOOT_IMAGE_HELPER_DIR];
}

/** The helpers to use, or null for Node's own path. */
export function findChunkHelpers(root: string = process.env['NETIMAGE_ROOT'] ?? join(SOURCE_DIR, '../../..')): ChunkHelpers | null {
  const env = process.env['NETIMAGE_CHUNK_HELPERS'];
  if (env === 'off') return null;
  if (env) return inDir(env);
  for (const dir of builtHelperDirs(root)) {
    const found = inDir(dir);
    if (found) return found;
  }
  return null;
}

/**
 * A records helper (ext4records, ntfsrecords) alone: it has no Node counterpart (the records are
 * read through the file system's own library, never parsed by hand), so
 * NETIMAGE_CHUNK_HELPERS=off (Node's cutter and applier) still uses it, and a
 * NETIMAGE_CHUNK_HELPERS=DIR without it (older helpers, bench) falls back to the built one.
 */
export function findRecordsHelper(name: RecordsHelper, root: string = process.env['NETIMAGE_ROOT'] ?? join(SOURCE_DIR, '../../..')): string | null {
  // off: no record tables at backup and compare-everything deltas (bench/delta-fs.ts: backups with and without).
  if (process.env['NETIMAGE_FS_RECORDS'] === 'off' || process.env['NETIMAGE_EXT4RECORDS'] === 'off') return null;
  const env = process.env['NETIMAGE_CHUNK_HELPERS'];
  for (const dir of [...(env && env !== 'off' ? [env] : []), ...builtHelperDirs(root)]) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** ext4records (the ext4 tests and older callers). */
export function findExt4Records(root?: string): string | null {
  return findRecordsHelper('ext4records', root);
}

/** Run fn on Node's own writer and applier (tests and bench compare the two paths). */
export async function onNodePath<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env['NETIMAGE_CHUNK_HELPERS'];
  process.env['NETIMAGE_CHUNK_HELPERS'] = 'off';
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env['NETIMAGE_CHUNK_HELPERS'];
    else process.env['NETIMAGE_CHUNK_HELPERS'] = before;
  }
}

/**
 * Compile the helpers into `<cacheRoot>/<source hash>/` unless they are there (gcc, libzstd-dev,
 * libssl-dev, libext2fs-dev, ntfs-3g-dev: scripts/setup.d/10-apt.sh). Returns that directory.
 */
export async function buildChunkHelpers(cacheRoot: string): Promise<string> {
  const hash = helperSourcesHash();
  if (!hash) throw new Error(`the chunk helpers' sources are missing in ${SOURCE_DIR}`);
  const out = join(cacheRoot, hash);
  if (inDir(out)) return out;
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    for (const name of CHUNK_HELPERS) await run('gcc', ['-O2', '-Wall', '-Wextra', '-o', join(tmp, name), join(SOURCE_DIR, `${name}.c`), ...HELPER_LIBS[name]]);
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

