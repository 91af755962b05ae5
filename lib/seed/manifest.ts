// What a room seeding transfers: files cut into pieces, each with the sha256 a receiver checks
// before the piece counts. The same manifest drives the multicast sender, the receivers and their
// HTTP catch-up (a piece is a byte range of a file the HTTP server serves under the same name).
// Pieces may have any length (e.g. one per zstd frame of a chunked image); `buildManifest` cuts
// files into equal pieces.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { NetimageError } from '../errors.ts';

/** Upper bound of one piece: a receiver holds a piece in memory while it assembles it. */
export const MAX_PIECE_BYTES = 64 * 1024 * 1024;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const fileName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/, 'a relative path of plain names');

export const seedFile = z
  .object({
    name: fileName,
    size: z.number().int().nonnegative(),
    /** [offset, length, sha256] in file order, covering the file without gaps or overlap. */
    pieces: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().positive().max(MAX_PIECE_BYTES), sha256])),
  })
  .strict()
  .superRefine((f, ctx) => {
    let at = 0;
    for (const [offset, length] of f.pieces) {
      if (offset !== at) return ctx.addIssue({ code: 'custom', message: `${f.name}: piece at ${offset} leaves a gap or overlaps (expected ${at})` });
      at += length;
    }
    if (at !== f.size) ctx.addIssue({ code: 'custom', message: `${f.name}: pieces cover ${at} of ${f.size} bytes` });
  });

export const seedManifest = z
  .object({
    format: z.literal('netimage-seed/1'),
    files: z.array(seedFile).min(1),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (new Set(m.files.map((f) => f.name)).size !== m.files.length) ctx.addIssue({ code: 'custom', message: 'file names repeat' });
  });
export type SeedManifest = z.infer<typeof seedManifest>;

/** One piece with its place in the whole transfer (index = position over all files, in order). */
export interface Piece {
  index: number;
  file: number;
  name: string;
  offset: number;
  length: number;
  sha256: string;
}

export function piecesOf(manifest: SeedManifest): Piece[] {
  const out: Piece[] = [];
  manifest.files.forEach((f, file) => {
    for (const [offset, length, sha] of f.pieces) out.push({ index: out.length, file, name: f.name, offset, length, sha256: sha });
  });
  return out;
}

/** 32-bit tag of a manifest on the wire: a receiver ignores packets of any other transfer. */
export function sessionOf(manifest: SeedManifest): number {
  return createHash('sha256').update(JSON.stringify(manifest)).digest().readUInt32BE(0);
}

export const sha256Of = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export function parseManifest(value: unknown): SeedManifest {
  const parsed = seedManifest.safeParse(value);
  if (!parsed.success) throw new NetimageError('invalid', `not a seeding manifest: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

/** Hash files of `dir` into pieces of `pieceBytes` (the last piece of a file may be shorter). */
export async function buildManifest(dir: string, names: readonly string[], pieceBytes = 1024 * 1024): Promise<SeedManifest> {
  if (!Number.isInteger(pieceBytes) || pieceBytes <= 0 || pieceBytes > MAX_PIECE_BYTES) throw new NetimageError('invalid', `piece size ${pieceBytes} (1 … ${MAX_PIECE_BYTES} bytes)`);
  const files: SeedManifest['files'] = [];
  for (const name of names) {
    const path = join(dir, name);
    const { size } = await stat(path);
    const pieces: SeedManifest['files'][number]['pieces'] = [];
    const handle = await open(path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(pieceBytes, Math.max(size, 1)));
      for (let offset = 0; offset < size; offset += pieceBytes) {
        const length = Math.min(pieceBytes, size - offset);
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        if (bytesRead !== length) throw new NetimageError('failed', `${path} changed while it was hashed`);
        pieces.push([offset, length, sha256Of(buf.subarray(0, length))]);
      }
    } finally {
      await handle.close();
    }
    files.push({ name, size, pieces });
  }
  return parseManifest({ format: 'netimage-seed/1', files });
}
