// Shared by the direct-boot VM tests: make sure the boot image exists (the build is a fast no-op
// when up to date; a full build takes ~2-3 min on 2 cores).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { bootRootDefault, repoRoot } from '../../vm-harness/paths.ts';

let ensured: Promise<string> | undefined;

export function ensureBootImage(): Promise<string> {
  ensured ??= (async () => {
    const root = bootRootDefault();
    // One build at a time per output folder: VM tests run side by side (the OS install pair) would
    // otherwise both rebuild a stale image into the same folder and break each other's files.
    await run('flock', [`${root}.build.lock`, process.execPath, join(repoRoot, 'bootimage/build.ts'), '--out', root]);
    const dir = join(root, 'netimage');
    if (!existsSync(join(dir, 'initrd'))) throw new Error(`no initrd in ${dir} after the build`);
    return dir;
  })();
  return ensured;
}
