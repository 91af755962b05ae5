// A directory as the target of a seeding: the manifest's files, each written in place at its
// pieces' offsets. A restarted receiver keeps what it already wrote: `has` re-hashes a piece
// (reading is cheaper than fetching), so only missing or damaged pieces are transferred again.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256Of, type Piece, type SeedManifest } from '../../lib/seed/manifest.ts';
import type { PieceSink } from './receiver.ts';

export interface DirectorySink extends PieceSink {
  /** fsync and close every file. */
  close(): Promise<void>;
}

export async function directorySink(dir: string, manifest: SeedManifest): Promise<DirectorySink> {
  const handles: FileHandle[] = [];
  /** Files that were empty or absent: nothing in them to keep, so `has` need not read holes. */
  const fresh: boolean[] = [];
  try {
    for (const f of manifest.files) {
      const path = join(dir, f.name);
      await mkdir(dirname(path), { recursive: true });
      // 'a+' would ignore offsets; open for update, creating the file if needed, never truncating.
      const h = await open(path, 'a').then((h) => h.close()).then(() => open(path, 'r+'));
      handles.push(h);
      const size = (await h.stat()).size;
      fresh.push(size === 0);
      if (size !== f.size) await h.truncate(f.size);
    }
  } catch (e) {
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }
  return {
    async write(piece, data) {
      const { bytesWritten } = await handles[piece.file]!.write(data, 0, piece.length, piece.offset);
      if (bytesWritten !== piece.length) throw new Error(`short write to ${piece.name}`);
    },
    async has(piece: Piece) {
      if (fresh[piece.file]) return false;
      const buf = Buffer.allocUnsafe(piece.length);
      const { bytesRead } = await handles[piece.file]!.read(buf, 0, piece.length, piece.offset);
      return bytesRead === piece.length && sha256Of(buf) === piece.sha256;
    },
    async close() {
      for (const h of handles) {
        await h.sync();
        await h.close();
      }
    },
  };
}
