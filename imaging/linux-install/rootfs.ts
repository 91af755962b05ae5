// The server's root filesystem for a Linux install is an ext4 file system in the imaging engine's
// chunked format (image.pcl.zst + chunks.json in the depot; docs/linux-install.md "Artefact"): the
// PC downloads both into RAM, checks their sha256 against the plan, and only then lets the restore
// engine write the file system onto the system partition, verifying every chunk as it writes.
// Nothing unverified is ever written. A dropped connection resumes with Range/If-Range where it
// stopped; so does a stalled one (open, but no bytes for `idleTimeoutMs`), which would otherwise
// hold the PC until the job's timeout.
import { createHash, type Hash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OsInstallPlan } from '../../lib/agent-protocol.ts';
import { resumeAnswer } from '../../lib/http-resume.ts';
import { applyChunkedImage, type ApplyResult } from '../chunked/apply.ts';
import { chunkIndex, type ChunkIndex } from '../chunked/format.ts';
import { ImagingError } from '../errors.ts';
import { formatBytes } from '../../lib/sizes.ts';

/** GET a server-relative path with the job's credentials; extra headers (Range, If-Range) as given. */
export type FetchServerFile = (path: string, headers: Record<string, string>, signal?: AbortSignal) => Promise<Response>;

export interface RootfsSource {
  path: string;
  sha256: string;
  size: number;
}

export interface DownloadOptions {
  fetchFile: FetchServerFile;
  source: RootfsSource;
  /** Written from the start (an existing file is replaced). */
  file: string;
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

export interface DownloadResult {
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

/** An empty file and a fresh hash: the download starts over at byte 0. */
async function startOver(out: FileHandle): Promise<{ hash: Hash; received: number }> {
  await out.truncate(0);
  return { hash: createHash('sha256'), received: 0 };
}

/** Download `source` into `file`, hashing on the way; the sha256 and size must match the plan's. */
export async function downloadVerified(o: DownloadOptions): Promise<DownloadResult> {
  const out = await open(o.file, 'w', 0o600);
  let hash = createHash('sha256');
  let received = 0;
  let resumes = 0;
  let etag: string | null = null;
  const attempts = o.attempts ?? 6;
  const idleMs = o.idleTimeoutMs ?? ROOTFS_IDLE_TIMEOUT_MS;
  let stalls = 0;
  let ok = false;
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
        const answer = resumeAnswer(res.status, res.headers.get('content-range'), received);
        if (answer.use === 'none') {
          if (received === 0) throw new ImagingError(`GET ${o.source.path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
          await res.body?.cancel();
          // Not the bytes asked for (a 206 for another range): the next attempt starts over.
          ({ hash, received } = await startOver(out));
          throw new Error(`resume of ${o.source.path}: ${answer.reason}; starting over`);
        }
        if (answer.use === 'whole' && received > 0) {
          // The whole file answered to the Range (no Range support, or If-Range found it changed):
          // its body from byte 0, hashed from the start; the plan's sha256 still decides.
          o.log(`resume of ${o.source.path} at byte ${received} got the whole file (HTTP 200); starting over`);
          ({ hash, received } = await startOver(out));
        }
        etag = res.headers.get('etag') ?? etag;
        if (!res.body) throw new ImagingError(`GET ${o.source.path}: empty body`);
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          idle.kick();
          const at = received;
          received += chunk.length;
          if (received > o.source.size) throw new RootfsMismatchError(`${o.source.path} is longer than the ${o.source.size} bytes the plan names`);
          hash.update(chunk);
          // A slow RAM disk is no stall of the network.
          idle.pause();
          // At its offset: after a start over the file was truncated, not rewound.
          await out.write(chunk, 0, chunk.length, at);
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
    const sha256 = hash.digest('hex');
    if (sha256 !== o.source.sha256) throw new RootfsMismatchError(`${o.source.path}: sha256 ${sha256} is not the ${o.source.sha256} the plan names`);
    ok = true;
    return { bytes: received, sha256, resumes };
  } finally {
    await out.close();
    if (!ok) await rm(o.file, { force: true });
  }
}

/** MemAvailable of /proc/meminfo in bytes (the boot image's files live in RAM too). */
async function memAvailable(): Promise<number | null> {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8').catch(() => ''));
  return m ? Number(m[1]) * 1024 : null;
}

/** RAM left over for the agent and the restore engine while the image sits in RAM. */
export const RAM_HEADROOM_BYTES = 192 * 1024 * 1024;

export interface LayOptions {
  fetchFile: FetchServerFile;
  rootfs: OsInstallPlan['rootfs'];
  /** The system partition and its size in bytes. */
  device: string;
  deviceBytes: number;
  /** Where the downloaded image waits for the restore engine: RAM in the boot image. */
  scratchDir: string;
  log: (line: string) => void;
  /** Download 0..1, then apply 0..1. */
  progress?: (phase: 'download' | 'write', fraction: number) => void;
  /** Called once both files are verified, before the first write to `device`. */
  beforeWrite?: () => Promise<void>;
  signal?: AbortSignal;
  idleTimeoutMs?: number;
  attempts?: number;
}

export interface LayResult {
  /** Bytes of the file system as built: the partition is grown to its size afterwards. */
  fsBytes: number;
  downloadedBytes: number;
  resumes: number;
  downloadSeconds: number;
  writeSeconds: number;
  applied: ApplyResult;
}

/**
 * Download and verify the chunk index and the image, check the partition and RAM, then write the
 * file system with the restore engine (full mode: every chunk's sha256 checked before it is
 * written). Nothing is written to `device` before both files verified.
 */
export async function layRootfs(o: LayOptions): Promise<LayResult> {
  const t0 = performance.now();
  const common = { fetchFile: o.fetchFile, log: o.log, ...(o.signal ? { signal: o.signal } : {}), ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}), ...(o.attempts ? { attempts: o.attempts } : {}) };
  // A folder of its own: two installs on one host (the loop tests) never share a file.
  const dir = await mkdtemp(join(o.scratchDir, 'netimage-rootfs-'));
  const indexFile = join(dir, 'chunks.json');
  const imageFile = join(dir, 'image.pcl.zst');
  try {
    await downloadVerified({ ...common, source: o.rootfs.index, file: indexFile });
    let index: ChunkIndex;
    try {
      index = chunkIndex.parse(JSON.parse(await readFile(indexFile, 'utf8')));
    } catch (error) {
      throw new RootfsMismatchError(`${o.rootfs.index.path} is no chunk index: ${(error as Error).message}`);
    }
    const fsBytes = index.totalBlocks * index.blockSize;
    if (fsBytes > o.deviceBytes) {
      throw new ImagingError(`the root filesystem needs ${formatBytes(fsBytes)}, the system partition ${o.device} has ${formatBytes(o.deviceBytes)}: prepare the disk with a larger system partition (system_partition_size); nothing was written`);
    }
    const free = await memAvailable();
    if (free !== null && free < o.rootfs.image.size + RAM_HEADROOM_BYTES) {
      throw new ImagingError(`the root filesystem image (${formatBytes(o.rootfs.image.size)}) is held in RAM while it is written, and this PC has ${formatBytes(free)} available (needs ${formatBytes(o.rootfs.image.size + RAM_HEADROOM_BYTES)}); nothing was written`);
    }
    const d = await downloadVerified({ ...common, source: o.rootfs.image, file: imageFile, progress: (f) => o.progress?.('download', f) });
    const downloadSeconds = (performance.now() - t0) / 1000;
    o.log(`root filesystem image downloaded and verified: ${formatBytes(d.bytes)} in ${downloadSeconds.toFixed(1)} s${d.resumes ? `, ${d.resumes} resume(s)` : ''} (sha256 ${d.sha256.slice(0, 16)}…)`);
    await o.beforeWrite?.();
    const t1 = performance.now();
    const applied = await applyChunkedImage({ file: imageFile, index, device: o.device, mode: 'full', onProgress: (p) => o.progress?.('write', p / 100), ...(o.signal ? { signal: o.signal } : {}) });
    const writeSeconds = (performance.now() - t1) / 1000;
    o.log(`root filesystem written to ${o.device}: ${formatBytes(applied.writtenBytes)} in ${applied.writtenChunks} chunks, each checked before it was written (${applied.engine}, ${writeSeconds.toFixed(1)} s)`);
    return { fsBytes, downloadedBytes: d.bytes, resumes: d.resumes, downloadSeconds, writeSeconds, applied };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
