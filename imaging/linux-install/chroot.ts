// Commands inside the installed tree (chpasswd, useradd, locale-gen, grub-install): with /dev,
// /proc and /sys bind-mounted, always unmounted again (also when a command fails).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runAllowFailure, type RunResult } from '../../lib/process.ts';

export interface Chroot {
  run(file: string, args: readonly string[], options?: { input?: string }): Promise<RunResult>;
}

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };

export async function withChroot<T>(root: string, fn: (c: Chroot) => Promise<T>): Promise<T> {
  const mounted: string[] = [];
  try {
    for (const dir of ['dev', 'proc', 'sys']) {
      const target = join(root, dir);
      await mkdir(target, { recursive: true });
      await run('mount', ['--bind', `/${dir}`, target]);
      mounted.push(target);
    }
    return await fn({
      run: (file, args, options = {}) => run('chroot', [root, file, ...args], { env: ENV, extendEnv: false, ...(options.input !== undefined ? { input: options.input } : {}) }),
    });
  } finally {
    for (const target of mounted.reverse()) {
      const r = await runAllowFailure('umount', [target]);
      if (r.exitCode !== 0) await runAllowFailure('umount', ['-l', target]);
    }
  }
}
