// Temporary mounts. On the host run these inside a private mount namespace (see the imaging
// CLI and tests): another process's namespace created meanwhile would pin the mount.
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runAllowFailure } from '../lib/process.ts';

export async function mountTemp(device: string, opts: { fsType?: string; readOnly?: boolean; options?: string[]; base?: string } = {}): Promise<{ dir: string; unmount: () => Promise<void> }> {
  // NETIMAGE_MOUNT_BASE: tests point it into their temp dir, so a SIGKILLed run leaves no stray dirs.
  const dir = await mkdtemp(join(opts.base ?? process.env['NETIMAGE_MOUNT_BASE'] ?? tmpdir(), 'netimage-mnt-'));
  const options = [...(opts.readOnly ? ['ro'] : []), ...(opts.options ?? [])];
  const args = [...(opts.fsType ? ['-t', opts.fsType] : []), ...(options.length ? ['-o', options.join(',')] : []), device, dir];
  try {
    await run('mount', args);
  } catch (e) {
    await rmdir(dir).catch(() => undefined);
    throw e;
  }
  let done = false;
  return {
    dir,
    unmount: async () => {
      if (done) return;
      done = true;
      const r = await runAllowFailure('umount', [dir]);
      if (r.exitCode !== 0) await run('umount', ['-l', dir]);
      await rmdir(dir).catch(() => undefined);
    },
  };
}

export async function withMount<T>(device: string, fn: (dir: string) => Promise<T>, opts: { fsType?: string; readOnly?: boolean } = {}): Promise<T> {
  const m = await mountTemp(device, opts);
  try {
    return await fn(m.dir);
  } finally {
    await m.unmount();
  }
}
