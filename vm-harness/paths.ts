// Where the harness finds things by default (the shared layout: paths.bootRoot / NETIMAGE_BOOT_ROOT).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export function bootRootDefault(): string {
  return process.env['NETIMAGE_BOOT_ROOT'] ?? join(process.env['NETIMAGE_ROOT'] ?? repoRoot, 'var', 'boot');
}
