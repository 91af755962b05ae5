// The three files of a golden image for seeding tests: metadata.json is valid (the agent's commit
// and the server's upload check parse it) and names the sha256 of the other two. The image bytes
// are random, not a partclone stream: these tests are about transport and verification, which
// check hashes only (restoring a fetched golden image is test/imaging/golden.test.ts).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageMetadata } from '../../imaging/store/metadata.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function writeGoldenFiles(dir: string, name: string, imageBytes: number): Promise<{ image: Buffer; chunks: Buffer; metadata: Buffer }> {
  await mkdir(dir, { recursive: true });
  const image = randomBytes(imageBytes);
  const chunks = Buffer.from(JSON.stringify({ note: 'stand-in chunk index', salt: randomBytes(16).toString('hex'), frames: Array.from({ length: 64 }, (_, i) => [i, i * 1024]) }));
  const meta: ImageMetadata = {
    format: 'netimage-image/2',
    name,
    sourceProduct: null,
    fsType: 'ext4',
    partitionSizeBytes: imageBytes * 2,
    logicalSectorSize: 512,
    usedBytes: imageBytes,
    imageFile: 'image.pcl.zst',
    imageBytes,
    sha256: sha(image),
    partcloneVersion: '0.3.23',
    partcloneChecksumMode: 0,
    compression: 'zstd',
    zstdVersion: '1.5.4',
    createdAt: new Date().toISOString(),
    productStates: [],
    imported: false,
    sourceDevice: null,
    chunked: { indexFile: 'chunks.json', indexSha256: sha(chunks), chunkBlocks: 1024, frames: 64, source: { fsType: 'ext4', fsUuid: null, partitionSizeBytes: imageBytes * 2, partitionStartBytes: null } },
  };
  const metadata = Buffer.from(JSON.stringify(meta, null, 2));
  await writeFile(join(dir, 'image.pcl.zst'), image);
  await writeFile(join(dir, 'chunks.json'), chunks);
  await writeFile(join(dir, 'metadata.json'), metadata);
  return { image, chunks, metadata };
}
