// Where the harness finds the loaders by default: the server's `paths.bootRoot` default
// (<repo>/var/boot), overridden by NETIMAGE_BOOT_ROOT like the server's config.
import { join } from 'node:path';
import { repoRoot } from '../lib/paths.ts';

export { repoRoot };

export function bootRootDefault(): string {
  return process.env['NETIMAGE_BOOT_ROOT'] ?? join(repoRoot, 'var', 'boot');
}
