// Lay the server's root filesystem (a zstd tar stream in the depot) into a directory while it
// downloads, hashing the bytes on the way. Unpack-while-streaming needs no scratch space (the swap
// partition may be absent or small; the boot image lives in RAM) and reads the network once. A
// sha256 or size mismatch is only known at the end, so the caller must treat the tree as untrusted
// until this returns: nothing in it is executed (no chroot) before, and on a mismatch the caller
// wipes the partition. A dropped connection resumes with Range/If-Range where it stopped; so does
// a stalled one (open, but no bytes for `idleTimeoutMs`), which would otherwise hold the PC until
// the job's timeout.
import { createHash } from 'node:crypto';
import { execa } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';

/** GET a server-relative path with the job's credentials; extra headers (Range, If-Range) as given. */
export type FetchServerFile = (path: string, headers: Record<string, string>, signal?: AbortSignal) => Promise<Response>;

export interface RootfsSource {
  path: string;
  sha256: string;
  size: number;
}

export interface UnpackOptions {
  fetchFile: FetchServerFile;
  source: RootfsSource;
  dir: string;
  log: (line: string) => void;
  progress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Connection attempts in all (first + resumes). */
  attempts?: number;
  /** A connection that delivers no byte (headers included) for this long counts as dropped. */
  idleTimeoutMs?: number;
}

/** No byte for a minute on a LAN: the server or the path is stuck, not slow. */
export const ROOTFS_IDLE_TIMEOUT_MS = 60_000;

/** An AbortController that fires when `kick` is not called for `ms`, or when `outer` aborts. */
function idleWatch(ms: number, outer?: AbortSignal) {
  const ctl = new AbortController();
  let stalled = false;
  const fire = () => {
    stalled = true;
    ctl.abort(new Error(`no data for ${ms / 1000} s`));
  };
  let timer = setTimeout(fire, ms);
  const onOuter = () => ctl.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: ctl.signal,
    stalled: () => stalled,
    kick: () => {
      clearTimeout(timer);
      timer = setTimeout(fire, ms);
    },
    pause: () => clearTimeout(timer),
    stop: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

export interface UnpackResult {
  bytes: number;
  sha256: string;
  resumes: number;
}

export class RootfsMismatchError extends ImagingError {
  constructor(message: string) {
    super(message);
    this.name = 'RootfsMismatchError';
  }
}

export async function streamUnpack(o: UnpackOptions): Promise<UnpackResult> {
  const tar = execa('tar', ['--zstd', '-x', '--xattrs', "--xattrs-include=*", '--acls', '--numeric-owner', '-p', '-C', o.dir, '-f', '-'], {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    ...(o.signal ? { cancelSignal: o.signal } : {}),
  });
  let tarDone = false;
  void tar.finally(() => (tarDone = true));
  const stdin = tar.stdin!;
  let stdinError: Error | null = null;
  stdin.on('error', (e) => (stdinError = e));
  const hash = createHash('sha256');
  let received = 0;
  let resumes = 0;
  let etag: string | null = null;
  const attempts = o.attempts ?? 6;
  const idleMs = o.idleTimeoutMs ?? ROOTFS_IDLE_TIMEOUT_MS;
  let stalls = 0;
  try {
    for (let attempt = 1; received < o.source.size || attempt === 1; attempt++) {
      const headers: Record<string, string> = {};
      if (received > 0) {
        headers['range'] = `bytes=${received}-`;
        if (etag) headers['if-range'] = etag;
      }
      const idle = idleWatch(idleMs, o.signal);
      try {
        const res = await o.fetchFile(o.source.path, headers, idle.signal);
        if (received > 0 && res.status !== 206) throw new ImagingError(`resume of ${o.source.path} at byte ${received} got HTTP ${res.status}, not 206 (the file changed?)`);
        if (received === 0 && res.status !== 200) throw new ImagingError(`GET ${o.source.path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
        etag = res.headers.get('etag') ?? etag;
        if (!res.body) throw new ImagingError(`GET ${o.source.path}: empty body`);
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          idle.kick();
          received += chunk.length;
          if (received > o.source.size) throw new RootfsMismatchError(`${o.source.path} is longer than the ${o.source.size} bytes the plan names`);
          hash.update(chunk);
          if (stdinError) throw new ImagingError(`tar stopped reading: ${(stdinError as Error).message}`);
          // tar being slow to take the bytes is no stall of the network.
          idle.pause();
          if (!stdin.write(chunk)) await new Promise<void>((r) => stdin.once('drain', r));
          idle.kick();
          o.progress?.(received / Math.max(1, o.source.size));
        }
        if (received === o.source.size) break;
        throw new Error(`connection ended after ${received} of ${o.source.size} bytes`);
      } catch (error) {
        const stalled = idle.stalled();
        if (stalled) stalls++;
        if (error instanceof ImagingError || o.signal?.aborted) throw error;
        const why = stalled ? `no data for ${idleMs / 1000} s` : (error as Error).message;
        if (attempt >= attempts) {
          throw new ImagingError(
            `the root filesystem download ${stalled ? 'stalled' : 'failed'}: ${why} at byte ${received} of ${o.source.size} of ${o.source.path}, after ${attempts} attempts (${stalls} stalled)`,
            { cause: error },
          );
        }
        resumes++;
        o.log(`download of the root filesystem interrupted at ${received} bytes (${why}); resuming (${attempt}/${attempts - 1})`);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
      } finally {
        idle.stop();
      }
    }
    stdin.end();
    const r = await tar;
    const sha256 = hash.digest('hex');
    if (sha256 !== o.source.sha256) throw new RootfsMismatchError(`${o.source.path}: sha256 ${sha256} is not the ${o.source.sha256} the plan names`);
    if (r.exitCode !== 0) throw new ImagingError(`unpacking the root filesystem failed (tar exit ${r.exitCode}): ${String(r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
    return { bytes: received, sha256, resumes };
  } finally {
    if (!tarDone) {
      stdin.destroy();
      tar.kill('SIGKILL');
      await tar.catch(() => undefined);
    }
  }
}
