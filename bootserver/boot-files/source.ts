// The boot root as clients see it. TFTP and HTTP open every boot file on disk through one
// BootFileSource, so both protocols serve the same files and refuse the same names for the same
// reasons (docs/tftp.md, "File names"). The name rules are pure (names.ts); this adds what only
// the open file can tell: where a symlink really leads, and what kind of file it is.
import { constants as fsc, type ReadStream } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MAX_NAME_LENGTH, normaliseBootFileName } from './names.ts';

/** An open regular file inside the boot root. The caller closes it (or lets readStream do it). */
export interface BootFile {
  /** The normalised name, relative to the root ("grub/grub.cfg"). */
  readonly name: string;
  readonly size: number;
  readonly mtime: Date;
  /** The open descriptor (TFTP's native sender reads the file through /proc/<pid>/fd/<fd>). */
  readonly fd: number;
  /**
   * Fill `buffers` in order with the file's bytes from `position` on (like preadv(2)); resolves
   * to the number of bytes read, short only at end of file. Never reads the file whole: the
   * initrd is tens of MB.
   */
  readv(buffers: readonly Buffer[], position: number): Promise<number>;
  /** Bytes start..end (inclusive) as a stream; the file is closed when the stream ends or is destroyed. */
  readStream(start: number, end: number): ReadStream;
  close(): Promise<void>;
}

/**
 * - open: the file, ready to read.
 * - refused: the name or its target is not allowed (TFTP error 2).
 * - missing: nothing servable under that name: absent, a directory, FIFO or device (TFTP error 1).
 * HTTP answers 404 to both, so a probe cannot tell "forbidden" from "absent".
 */
export type BootFileOpen =
  | { status: 'open'; file: BootFile }
  | { status: 'refused'; reason: string }
  | { status: 'missing'; reason: string };

export interface BootFileSource {
  /** `clientName` as the client sent it (after HTTP's URL decoding); never trusted. */
  open(clientName: string): Promise<BootFileOpen>;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : root + '/');
}

class DiskBootFile implements BootFile {
  readonly name: string;
  readonly size: number;
  readonly mtime: Date;
  private readonly handle: FileHandle;
  constructor(name: string, handle: FileHandle, size: number, mtime: Date) {
    this.name = name;
    this.handle = handle;
    this.size = size;
    this.mtime = mtime;
  }
  get fd(): number {
    return this.handle.fd;
  }
  async readv(buffers: readonly Buffer[], position: number): Promise<number> {
    // preadv takes at most IOV_MAX (1024) buffers per call.
    let total = 0;
    for (let i = 0; i < buffers.length; i += 1024) {
      const part = i === 0 && buffers.length <= 1024 ? buffers : buffers.slice(i, i + 1024);
      let want = 0;
      for (const b of part) want += b.length;
      const { bytesRead } = await this.handle.readv(part, position + total);
      total += bytesRead;
      if (bytesRead < want) break;
    }
    return total;
  }
  readStream(start: number, end: number): ReadStream {
    return this.handle.createReadStream({ start, end, highWaterMark: 1024 * 1024, autoClose: true });
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  return 'not a regular file';
}

/**
 * Files under `root`. Symlinks are followed only while they stay inside the root: the check is
 * made on the opened descriptor (/proc/self/fd), so swapping a path component between check and
 * open does not help. FIFOs are opened non-blocking so they cannot hang the server.
 */
export function bootFileSource(root: string, options: { maxNameLength?: number } = {}): BootFileSource {
  const maxNameLength = options.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  return {
    async open(clientName) {
      const name = normaliseBootFileName(clientName, maxNameLength);
      if (!name.ok) return { status: 'refused', reason: name.reason };
      // Resolved on every open: the root may be a symlink that set-up re-points to a new build.
      let realRoot: string;
      try {
        realRoot = await realpath(root);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing', reason: 'boot root does not exist' };
        throw error;
      }
      const full = path.join(realRoot, name.path);
      if (!isInside(realRoot, full)) return { status: 'refused', reason: 'outside the root' };
      let handle: FileHandle;
      try {
        handle = await open(full, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (MISSING_CODES.has(code)) return { status: 'missing', reason: code };
        if (code === 'EACCES' || code === 'EPERM') return { status: 'refused', reason: 'permission denied' };
        throw error;
      }
      try {
        const opened = await readlink(`/proc/self/fd/${handle.fd}`);
        if (!isInside(realRoot, opened)) {
          await handle.close();
          return { status: 'refused', reason: 'resolves outside the root' };
        }
        const st = await handle.stat();
        if (!st.isFile()) {
          await handle.close();
          return { status: 'missing', reason: kindOf(st) };
        }
        return { status: 'open', file: new DiskBootFile(name.path, handle, st.size, st.mtime) };
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
    },
  };
}
