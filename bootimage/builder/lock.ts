// The lock that serializes builds of one work dir.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * One build per work dir at a time (setup, tests and benches may start builds together): an
 * O_EXCL lock file holding the builder's pid; a lock whose pid is gone is taken over.
 */
export async function withBuildLock<T>(lockFile: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20 * 60_000;
  let said = false;
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(lockFile, { encoding: 'utf8', flag: 'r' }).trim() || '0');
      let alive = pid > 0;
      if (alive) {
        try {
          process.kill(pid, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another build (pid ${pid}) holds ${lockFile} for too long`);
      if (!said) log(`waiting for the build running as pid ${pid}`);
      said = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}
