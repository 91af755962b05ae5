// What a backup job with upload_to_server=true may upload: the image it made, as golden/<name>
// (name: its imagefile property, lower case), the three files of a chunked image and its file
// system records if it has them. The entry appears only once all are in and metadata.json agrees
// with the others' sha256.
// A restore job with server_image=<name> may read golden/<name>.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { GOLDEN_FILES, GOLDEN_KIND, GOLDEN_METADATA, GOLDEN_RECORD_FILES, goldenEntryName } from '../../lib/golden.ts';
import { ProductId } from '../../lib/products.ts';
import type { Job } from '../store/types.ts';
import { z } from 'zod';
import { DepotError } from './depot.ts';
import type { UploadGrant } from './upload-http.ts';

/** The fields of the image's metadata.json (imaging/store/metadata.ts) the server checks and shows. */
const goldenMetadata = z.object({
  format: z.literal('netimage-image/2', { error: 'not a chunked image (image_format=stream): only chunked images are golden images' }),
  name: z.string(),
  fsType: z.string(),
  sha256: z.string(),
  usedBytes: z.number(),
  partitionSizeBytes: z.number(),
  createdAt: z.string(),
  chunked: z.object({ indexSha256: z.string(), inodeTable: z.object({ file: z.enum(GOLDEN_RECORD_FILES), sha256: z.string() }).optional() }),
});

const bool = (v: PropertyValue | undefined) => /^(true|1|yes|on)$/i.test(String(Array.isArray(v) ? v[0] : (v ?? '')).trim());
const str = (v: PropertyValue | undefined) => String(Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();

export function goldenUploadGrant(job: Job, properties: Record<string, PropertyValue>): UploadGrant | null {
  if (job.productId !== ProductId.backup || !bool(properties['upload_to_server'])) return null;
  const name = goldenEntryName(str(properties['imagefile']));
  if (!name) return null;
  return {
    target: { kind: GOLDEN_KIND, name, path: GOLDEN_METADATA },
    parts: GOLDEN_FILES,
    optionalParts: GOLDEN_RECORD_FILES,
    meta: async (_file, parts) => {
      const text = await readFile(parts[GOLDEN_METADATA]!.file, 'utf8');
      const parsed = goldenMetadata.safeParse((() => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return null;
        }
      })());
      const refuse = (why: string) => new DepotError(`golden image ${name} refused: ${why}; nothing was stored`, undefined, 'invalid');
      if (!parsed.success) throw refuse(`metadata.json is invalid: ${parsed.error.issues[0]?.message ?? ''}`);
      const m = parsed.data;
      if (m.sha256 !== parts['image.pcl.zst']!.sha256) throw refuse('metadata.json names another image.pcl.zst (sha256 differs)');
      if (m.chunked.indexSha256 !== parts['chunks.json']!.sha256) throw refuse('metadata.json names another chunks.json (sha256 differs)');
      const table = m.chunked.inodeTable;
      if (table && parts[table.file]?.sha256 !== table.sha256) throw refuse(`metadata.json names a ${table.file} that was not uploaded with it (or another one: sha256 differs)`);
      for (const f of GOLDEN_RECORD_FILES) if (parts[f] && table?.file !== f) throw refuse(`${f} was uploaded but metadata.json does not name it`);
      return { image: m.name, fsType: m.fsType, usedBytes: m.usedBytes, partitionSizeBytes: m.partitionSizeBytes, imageCreated: m.createdAt, capturedFrom: job.clientId, job: job.id };
    },
  };
}

/** What `depot show golden/<name>` tells of the image, from its metadata.json (the depot's copy). */
export interface GoldenImageFacts {
  name: string;
  fsType: string;
  /** sha256 of image.pcl.zst (the restore checks it). */
  sha256: string;
  usedBytes: number;
  /** The partition it was taken from: a PC's system partition must be at least this large. */
  partitionSizeBytes: number;
  createdAt: string;
  /** Chunks with data (a delta restore compares and writes these), and the disk span of one. */
  chunks: number;
  chunkBlocks: number;
  /** The file system's records file (inodes.ext4, records.ntfs) that lets a delta restore skip unchanged chunks unread, or null. */
  records: string | null;
}

const factsSchema = goldenMetadata.extend({ chunked: z.object({ frames: z.number().int().positive(), chunkBlocks: z.number().int().positive(), inodeTable: z.object({ file: z.string() }).optional() }) });

/** The image's facts from the entry's metadata.json, or null when it cannot be read (say so, do not guess). */
export async function goldenImageFacts(entryDir: string): Promise<GoldenImageFacts | null> {
  const text = await readFile(join(entryDir, GOLDEN_METADATA), 'utf8').catch(() => null);
  let json: unknown = null;
  try {
    json = text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
  const m = factsSchema.safeParse(json);
  if (!m.success) return null;
  const { name, fsType, sha256, usedBytes, partitionSizeBytes, createdAt, chunked } = m.data;
  // Frame 0 is partclone's header and bitmap; every other frame is one chunk's used blocks.
  return { name, fsType, sha256, usedBytes, partitionSizeBytes, createdAt, chunks: chunked.frames - 1, chunkBlocks: chunked.chunkBlocks, records: chunked.inodeTable?.file ?? null };
}

/** The golden entry a restore job reads (its server_image), if any. */
export function goldenReadGrants(job: Job, properties: Record<string, PropertyValue>): string[] {
  if (job.productId !== ProductId.restore) return [];
  const name = goldenEntryName(str(properties['server_image']));
  return name ? [`${GOLDEN_KIND}/${name}`] : [];
}
