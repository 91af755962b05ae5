// Where TFTP content comes from. The server only knows the TftpFileSource interface: a disk
// directory, per-request generated content (the per-client Grub configs), or a chain of both.

import { bootFileSource } from '../boot-files/source.ts';

export interface TftpRemote {
  address: string;
  port: number;
}

export interface TftpFile {
  readonly size: number;
  /** The open descriptor when the file is on disk (the native sender reads it); absent for generated content. */
  readonly fd?: number;
  /**
   * Fill `buffers` in order with the file's bytes from `position` on (like preadv(2)); resolves
   * to the number of bytes read, short only at end of file.
   */
  readv(buffers: readonly Buffer[], position: number): Promise<number>;
  close(): Promise<void>;
}

export interface TftpFileSource {
  /**
   * `relativePath` is already normalised (boot-files/names.ts) (no "..", no leading "/", "/" separators).
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

/**
 * Files under `root`, through the boot-file source HTTP uses too (same names served, same
 * refused, symlinks checked on the opened descriptor). Positional reads, never buffered whole.
 * Directories, FIFOs and devices are "not found"; refused names are access violations.
 */
export function diskFileSource(root: string, options: { maxNameLength?: number } = {}): TftpFileSource {
  const files = bootFileSource(root, options);
  return {
    async resolve(relativePath) {
      const opened = await files.open(relativePath);
      if (opened.status === 'refused') throw new TftpAccessDenied(opened.reason);
      return opened.status === 'open' ? opened.file : null;
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
