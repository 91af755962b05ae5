// One server per data dir. Two `netimage serve` on one data dir (a second terminal with another
// port, `bash run.sh start` beside the systemd unit) would both run the depot's recovery, which
// unmounts and removes what it takes for a killed build's leftovers (the other server's running
// build), both run schedules and DHCP leases from one file, and each would show only its own live
// events. So the first server writes its pid into <dataDir>/server.pid and a second one refuses to
// start, naming the first. A file whose pid no longer runs netimage (killed with -9, a reboot) is
// stale and taken over. Several servers share a store through PostgreSQL, each with its own data
// dir (docs/multi-server.md), not through one data dir.
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

/** Whether `pid` is a running netimage server (its command line names the CLI and `serve`), or this process holding it. */
function runsNetimage(pid: number, lockPath: string): boolean {
  if (pid === process.pid) return heldHere.has(lockPath);
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it runs, as another user; ESRCH: gone.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // A reused pid belongs to some other program: the file is stale.
    return args.some((a) => /netimage|main\.ts|node/.test(a));
  } catch {
    return true; // alive but unreadable: do not take it over
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
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && runsNetimage(pid, path)) throw new DataDirInUseError(dataDir, pid);
      rmSync(path, { force: true }); // stale; O_EXCL again, so two starting at once still get one winner
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    heldHere.add(path);
    return {
      release() {
        if (!heldHere.delete(path)) return;
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      },
    };
  }
  throw new NetimageError('conflict', `cannot lock the data dir ${dataDir} (${path} keeps coming back): is another netimage server starting?`);
}
