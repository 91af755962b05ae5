// CLI for scripts/setup.d/35-chunk-helpers.sh: compile the chunk helpers into var/native/<hash>/
// (a file of its own: native.ts is bundled into the agent, where a "run as main" check would fire).
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.ts';
import { buildChunkHelpers, HELPER_CACHE } from './native.ts';

process.stdout.write(`setup: chunk helpers in ${await buildChunkHelpers(join(repoRoot, HELPER_CACHE))}\n`);
