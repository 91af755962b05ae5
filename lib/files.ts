// Durable, hashed files: shared by the image store on a PC's backup partition (imaging/store/)
// and the server's depot (bootserver/depot/).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * sha256 of a file, read in large chunks with the next read already in flight while the current
 * chunk is hashed (read on the libuv pool, hash on the main thread: measured 20-40 % faster than
 * read-then-hash here; node:crypto is ~3x faster than coreutils sha256sum, which lacks SHA-NI).
 */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  const size = 8 * 1024 * 1024;
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
  let pending = fh.read(bufs[0], 0, size, 0);
  try {
    let pos = 0;
    let which: 0 | 1 = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) break;
      pos += bytesRead;
      which = which === 0 ? 1 : 0;
      pending = fh.read(bufs[which], 0, size, pos);
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    // Never close under a read still in flight (abort path).
    await pending.catch(() => undefined);
    await fh.close();
  }
  return hash.digest('hex');
}
