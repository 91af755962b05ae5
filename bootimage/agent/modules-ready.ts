// Booted from two stages, init runs the second module pass (storage, USB storage, input,
// filesystems) beside the agent so that node's start and the agent's first calls to the server do
// not wait for it (docs/bootimage.md "Two stages"); it creates the marker file when the pass is
// done. A product touches disks and hardware, so the agent waits here, once, before it starts one.
import { existsSync } from 'node:fs';
import { NetimageError } from '../../lib/errors.ts';

/** How long the agent waits for init's module pass by default (seconds; a pass takes 1-5 s). */
export const MODULES_TIMEOUT_S = 120;

/**
 * Resolves once `file` exists (at once when it does already). Throws a NetimageError naming the
 * file when it does not appear within `timeoutMs`, or the signal's reason when aborted.
 */
export async function waitForModules(file: string, timeoutMs: number, signal?: AbortSignal, pollMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (signal?.aborted) throw signal.reason;
    if (Date.now() >= deadline) {
      throw new NetimageError(
        'failed',
        `kernel modules not ready after ${Math.round(timeoutMs / 1000)} s: init's module pass did not finish (${file} missing), so disks and input devices may lack their drivers; nothing on the disks was touched`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
