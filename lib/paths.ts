// Where the checkout lives, so defaults work from any working directory.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = process.env['NETIMAGE_ROOT'] ?? resolve(dirname(fileURLToPath(import.meta.url)), '..');
