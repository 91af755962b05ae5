// The data dir holds the server secret (every job token is derived from it), admin token hashes
// and DHCP leases: only the server's user may read it. Modes are given explicitly (umask can only
// narrow them), and what an older install left open is tightened.
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

export interface Tightened {
  path: string;
  /** The mode found, octal, e.g. "644". */
  was: string;
}

/** Create `dir` (0700) if missing. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Create `path` empty with mode 0600 if it does not exist. SQLite gives its -wal and -shm files
 * the mode of the database file, so a database pre-created this way keeps all three private.
 */
export function touchPrivateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
}

/** Only called on the data dir (possibly a symlink to it) and on real files and dirs below it. */
function tighten(path: string, wanted: number, out: Tightened[]): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & ~wanted) === 0) return;
  chmodSync(path, mode & wanted);
  out.push({ path, was: mode.toString(8) });
}

/**
 * Make `dir` 0700 and everything below it no more than 0700 (dirs) / 0600 (files). Symlinks are
 * left alone (chmod would follow them out of the dir). Returns what was changed.
 */
export function tightenPrivateTree(dir: string): Tightened[] {
  const out: Tightened[] = [];
  makePrivateDir(dir);
  const walk = (current: string) => {
    tighten(current, PRIVATE_DIR_MODE, out);
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) tighten(path, PRIVATE_FILE_MODE, out);
    }
  };
  walk(dir);
  return out;
}
