// One server per data dir. Two `netimage serve` on one data dir (a second terminal with another
// port, `bash run.sh start` beside the systemd unit) would both run the depot's recovery, which
// unmounts and removes what it takes for a killed build's leftovers (the other server's running
// build), both run schedules and DHCP leases from one file, and each would show only its own live
// events. So the first server writes its pid into <dataDir>/server.pid and a second one refuses to
// start, naming the first. A file left by a server killed with -9, or from before a reboot, is
// stale and taken over: a live pid alone proves nothing (after a reboot it may be any process),
// so the file also holds the boot id and the process's start time (/proc/<pid>/stat), and only
// the very process that wrote it, in this boot, keeps the lock. Several servers share a store
// through PostgreSQL, each with its own data dir (docs/multi-server.md), not through one data dir.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { NetimageError } from '../../lib/errors.ts';
import { makePrivateDir, PRIVATE_FILE_MODE } from './private-files.ts';

export const LOCK_FILE = 'server.pid';

export class DataDirInUseError extends NetimageError {
  readonly pid: number;
  constructor(dataDir: string, pid: number) {
    super(
      'conflict',
      `another netimage server (pid ${pid}) is using the data dir ${dataDir}: stop it first (systemctl stop netimage, or Ctrl-C in its terminal); nothing was started. A second server needs its own data dir (dataDir), and a shared store is PostgreSQL (docs/multi-server.md)`,
    );
    this.name = 'DataDirInUseError';
    this.pid = pid;
  }
}

/** Data dirs locked by this process: a second server in one process (tests) is refused too. */
const heldHere = new Set<string>();

/** This boot's id: it changes with every boot, so a lock from before a reboot never matches. */
function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** When `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or null when it does not run. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** What the lock file says: the pid (first line, for `kill $(head -1 server.pid)`), then who it was. */
interface LockHolder {
  pid: number;
  start: string | null;
  boot: string | null;
}

function parseLock(text: string): LockHolder {
  const [first = '', ...rest] = text.split('\n');
  const field = (name: string) => rest.find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1).trim() || null;
  return { pid: Number(first.trim()), start: field('start'), boot: field('boot') };
}

/** Whether the lock's holder is a running netimage server: the very process that wrote it, or this process holding it. */
function holderRuns(holder: LockHolder, lockPath: string): boolean {
  const { pid } = holder;
  if (pid === process.pid) return heldHere.has(lockPath);
  const start = processStartTime(pid);
  if (start === null) return false; // gone
  if (holder.start !== null) {
    // Same boot and same start time: the process that took the lock. Anything else reuses its pid.
    return holder.start === start && (holder.boot === null || holder.boot === bootId());
  }
  // A file from before start times were written: its process must at least be a netimage serve.
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((a) => /netimage|main\.ts/.test(a)) && args.includes('serve');
  } catch {
    return false; // gone meanwhile
  }
}

export interface DataDirLock {
  release(): void;
}

/** Take the data dir for this server, or throw DataDirInUseError naming the server that has it. */
export function lockDataDir(dataDir: string): DataDirLock {
  makePrivateDir(dataDir);
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = parseLock(readFileSync(path, 'utf8'));
      if (Number.isSafeInteger(holder.pid) && holder.pid > 0 && holderRuns(holder, path)) throw new DataDirInUseError(dataDir, holder.pid);
      rmSync(path, { force: true }); // stale; O_EXCL again, so two starting at once still get one winner
      continue;
    }
    writeSync(fd, `${process.pid}\nstart=${processStartTime(process.pid) ?? ''}\nboot=${bootId() ?? ''}\n`);
    closeSync(fd);
    heldHere.add(path);
    return {
      release() {
        if (!heldHere.delete(path)) return;
        try {
          if (parseLock(readFileSync(path, 'utf8')).pid === process.pid) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      },
    };
  }
  throw new NetimageError('conflict', `cannot lock the data dir ${dataDir} (${path} keeps coming back): is another netimage server starting?`);
}
