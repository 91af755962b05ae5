// One writer per depot entry for `netimage depot import`: a lock file
// `<depot>/.locks/<kind>-<name>.lock` naming its owner (PID, the process's start time, host, what
// it imports, since when). Why a lock: an import builds the entry's new version from the current
// one (the other parts are hard-linked from it), so two imports of one product at once would each
// commit a version without the other's part, and the later one silently drops the earlier one's
// work. The second import is REFUSED, not queued: an import copies gigabytes for minutes, and the
// admin should see that another one runs (whose, since when) and decide; nothing is written.
// A crashed import (killed, power cut) leaves its file behind: the lock counts only while its PID
// runs and is the same process (start time from /proc, so a reused PID does not keep it), on this
// host. A lock of another host (a depot on a shared file system) is never taken over: the refusal
// says to remove the file by hand when that host's import is known to be gone.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DepotConflictError } from './depot.ts';

export const LOCKS = '.locks';

const lockOwner = z.object({ pid: z.number().int().positive(), start: z.string(), host: z.string(), since: z.string(), what: z.string() });
export type LockOwner = z.infer<typeof lockOwner>;

/** The start time of a process (field 22 of /proc/<pid>/stat, clock ticks since boot), or null when it does not run. */
export async function processStart(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** Whether the owner still holds the lock: same host, its PID runs and is the same process. */
export async function ownerAlive(owner: LockOwner, host = hostname()): Promise<boolean> {
  if (owner.host !== host) return true;
  return (await processStart(owner.pid)) === owner.start;
}

export interface EntryLock {
  readonly path: string;
  release(): Promise<void>;
}

const readText = (path: string) => readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(e)));

/** The owner a lock file names; null for a file that is not a lock file's JSON. Pure. */
export function parseOwner(text: string): LockOwner | null {
  try {
    const parsed = lockOwner.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function busy(entry: string, path: string, owner: LockOwner, host: string): DepotConflictError {
  const where = owner.host === host ? '' : ` on host ${owner.host} (if that import is gone, remove ${path})`;
  return new DepotConflictError(
    `${entry} is being imported by another netimage (PID ${owner.pid}${where}: ${owner.what}, since ${owner.since.slice(0, 19).replace('T', ' ')} UTC): wait until it has finished, then run this again. Nothing was changed.`,
  );
}

/**
 * Take the lock of `entry` (e.g. "windows-media/opsi-local-image-win11-x64") for `what`, or throw a
 * DepotConflictError naming the running owner. A stale lock (owner gone) is taken over.
 */
export async function lockEntry(depotDir: string, entry: string, what: string): Promise<EntryLock> {
  const dir = join(depotDir, LOCKS);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${entry.replace('/', '-')}.lock`);
  const start = await processStart(process.pid);
  const me: LockOwner = { pid: process.pid, start: start ?? '', host: hostname(), since: new Date().toISOString(), what };
  // Written whole beside the lock, then hard-linked to its name: link fails if the name exists,
  // so exactly one process gets it, and nobody reads a half-written owner.
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(me) + '\n', { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, path);
        return { path, release: () => rm(path, { force: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const text = await readText(path);
      if (text === null) continue; // released meanwhile
      const owner = parseOwner(text);
      if (owner && (await ownerAlive(owner))) throw busy(entry, path, owner, me.host);
      // Stale (its process is gone) or unreadable (lock files are written whole, so not a lock):
      // moved aside under a unique name, then checked: if another process took the stale lock
      // over in between, what was moved is its fresh lock, which is put back, and this import
      // is refused like any other second one.
      const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
      const moved = await rename(path, aside).then(() => true, (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? false : Promise.reject(e)));
      if (!moved) continue;
      const movedText = await readText(aside);
      if (movedText !== text) {
        await link(aside, path).catch(() => undefined);
        await rm(aside, { force: true });
        const taker = movedText === null ? null : parseOwner(movedText);
        if (taker) throw busy(entry, path, taker, me.host);
        continue;
      }
      await rm(aside, { force: true });
    }
    throw new DepotConflictError(`${entry}: could not take the import lock ${path} (it changed hands three times): run this again. Nothing was changed.`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
