// Runs one restorePartition against a plain store directory (no backup partition), printing the
// result as JSON: the delta tests kill this process mid-restore (SIGKILL) and run it again.
//   restore-run.ts <storeRoot> <image> <device> [auto|full]
import { restorePartition } from '../../../imaging/restore.ts';

const [storeRoot, imageName, device, mode] = process.argv.slice(2);
restorePartition({ storeRoot: storeRoot!, imageName: imageName!, device: device!, mode: mode === 'full' ? 'full' : 'auto', log: (l) => process.stderr.write(`${l}\n`) }).then(
  (r) => process.stdout.write(`${JSON.stringify({ ok: true, mode: r.mode, applied: r.applied })}\n`),
  (e: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message })}\n`);
    process.exitCode = 1;
  },
);
