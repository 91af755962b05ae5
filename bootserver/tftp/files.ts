// Where TFTP content comes from. The server only knows the TftpFileSource interface: a disk
// directory, per-request generated content (the per-client Grub configs), or a chain of both.

import { constants as fsc } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface TftpRemote {
  address: string;
  port: number;
}

export interface TftpFile {
  readonly size: number;
  /**
   * Fill `buffers` in order with the file's bytes from `position` on (like preadv(2)); resolves
   * to the number of bytes read, short only at end of file.
   */
  readv(buffers: readonly Buffer[], position: number): Promise<number>;
  close(): Promise<void>;
}

export interface TftpFileSource {
  /**
   * `relativePath` is already normalised by paths.ts (no "..", no leading "/", "/" separators).
   * Resolves to null when the file does not exist here; throws TftpAccessDenied to refuse it.
   */
  resolve(relativePath: string, remote: TftpRemote): Promise<TftpFile | null>;
}

/** Thrown by a source to answer with TFTP error 2 (access violation) instead of "not found". */
export class TftpAccessDenied extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TftpAccessDenied';
  }
}

/** A TftpFile over bytes in memory. */
export function bufferFile(content: Buffer): TftpFile {
  return {
    size: content.length,
    readv(buffers, position) {
      let at = position;
      for (const b of buffers) {
        if (at >= content.length) break;
        at += content.copy(b, 0, at, Math.min(content.length, at + b.length));
      }
      return Promise.resolve(at - position);
    },
    close: () => Promise.resolve(),
  };
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : root + '/');
}

class DiskFile implements TftpFile {
  readonly size: number;
  private readonly handle: FileHandle;
  constructor(handle: FileHandle, size: number) {
    this.handle = handle;
    this.size = size;
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
  close(): Promise<void> {
    return this.handle.close();
  }
}

/**
 * Files under `root`, read with positional reads (never buffered whole: the initrd is tens of MB).
 * Symlinks are followed only while they stay inside the root: the check is made on the opened
 * descriptor (/proc/self/fd), so swapping a path component between check and open does not help.
 * Directories, FIFOs and devices are "not found" (FIFOs are opened non-blocking so they cannot hang us).
 */
export function diskFileSource(root: string): TftpFileSource {
  let realRoot: string | null = null;
  return {
    async resolve(relativePath) {
      realRoot ??= await realpath(root);
      const full = path.join(realRoot, relativePath);
      if (!isInside(realRoot, full)) throw new TftpAccessDenied('outside the root');
      let handle: FileHandle;
      try {
        handle = await open(full, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return null;
        if (code === 'EACCES' || code === 'EPERM') throw new TftpAccessDenied('permission denied');
        throw error;
      }
      try {
        const opened = await readlink(`/proc/self/fd/${handle.fd}`);
        if (!isInside(realRoot, opened)) throw new TftpAccessDenied('resolves outside the root');
        const st = await handle.stat();
        if (!st.isFile()) {
          await handle.close();
          return null;
        }
        return new DiskFile(handle, st.size);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
    },
  };
}

export type VirtualContent = Buffer | string | null | undefined;

/** Content generated per request (e.g. the Grub config for the asking client). null = not here. */
export function virtualFileSource(
  handler: (relativePath: string, remote: TftpRemote) => VirtualContent | Promise<VirtualContent>,
): TftpFileSource {
  return {
    async resolve(relativePath, remote) {
      const content = await handler(relativePath, remote);
      if (content === null || content === undefined) return null;
      return bufferFile(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    },
  };
}

/** Ask each source in order; the first that has the file wins. A refusal stops the chain. */
export function chainFileSources(...sources: TftpFileSource[]): TftpFileSource {
  return {
    async resolve(relativePath, remote) {
      for (const source of sources) {
        const file = await source.resolve(relativePath, remote);
        if (file) return file;
      }
      return null;
    },
  };
}
