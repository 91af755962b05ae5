// CLI for scripts/setup.d/36-tftp-sender.sh: compile the TFTP native sender into var/native/<hash>/.
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.ts';
import { buildTftpSender, SENDER_CACHE } from './native-sender.ts';

process.stdout.write(`setup: tftp native sender ${await buildTftpSender(join(repoRoot, SENDER_CACHE))}\n`);
