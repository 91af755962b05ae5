// metadata.json beside each image: what it is, where it came from, how to check it.
import { z } from 'zod';
import { productOnClientState } from '../../lib/agent-protocol.ts';
import { CHUNKS_FILE, INODE_TABLE_FILE, NTFS_RECORD_TABLE_FILE, sourceIdentity } from '../chunked/format.ts';

export const IMAGE_FILE = 'image.pcl.zst';
export const METADATA_FILE = 'metadata.json';

export const imageMetadata = z.object({
  /** /1: one zstd stream; /2: chunked (imaging/chunked/format.ts, `chunked` below). */
  format: z.enum(['netimage-image/1', 'netimage-image/2']),
  name: z.string(),
  /** opsi product that installed what the image holds (e.g. opsi-local-image-win11-x64), if known. */
  sourceProduct: z.string().nullable(),
  /** blkid TYPE of the source partition: ext4, ntfs, ... */
  fsType: z.string(),
  partitionSizeBytes: z.number().int().nonnegative(),
  logicalSectorSize: z.number().int().positive(),
  usedBytes: z.number().int().nonnegative(),
  imageFile: z.literal(IMAGE_FILE),
  imageBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  partcloneVersion: z.string(),
  /** partclone checksum mode in the image: 0 = none (-a0), 0x20 = CRC32 (partclone's default). */
  partcloneChecksumMode: z.number().int(),
  compression: z.literal('zstd'),
  zstdVersion: z.string(),
  createdAt: z.string(),
  /** opsi product states saved with a Windows image and put back on restore. */
  productStates: z.array(productOnClientState),
  /** Made by importImage from a foreign partclone|zstd file rather than by backup. */
  imported: z.boolean(),
  sourceDevice: z.string().nullable(),
  /** Chunked images: the chunk index (its sha256 guards it) and the partition the image came from. */
  chunked: z
    .object({
      indexFile: z.literal(CHUNKS_FILE),
      indexSha256: z.string().regex(/^[0-9a-f]{64}$/),
      chunkBlocks: z.number().int().positive(),
      frames: z.number().int().positive(),
      source: sourceIdentity,
      /** ext2/3/4: the inode table, NTFS: the MFT record table, as backed up (imaging/chunked/fs-records.ts), for delta restores that read only what may have changed; absent: delta compares every chunk. */
      inodeTable: z
        .object({
          file: z.enum([INODE_TABLE_FILE, NTFS_RECORD_TABLE_FILE]),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
          records: z.number().int().nonnegative(),
        })
        .optional(),
    })
    .optional(),
});
export type ImageMetadata = z.infer<typeof imageMetadata>;

/** images.json at the root of the backup partition: a summary rebuilt from the metadata files. */
export const imageIndex = z.object({
  format: z.literal('netimage-index/1'),
  updatedAt: z.string(),
  images: z.array(
    z.object({
      name: z.string(),
      fsType: z.string(),
      imageBytes: z.number(),
      createdAt: z.string(),
      sourceProduct: z.string().nullable(),
    }),
  ),
});
export type ImageIndex = z.infer<typeof imageIndex>;

/** layout.json written by prepare: which partition on which disk plays which role. */
export const diskLayout = z.object({
  format: z.literal('netimage-layout/1'),
  createdAt: z.string(),
  firmware: z.enum(['uefi', 'bios']),
  osFamily: z.enum(['windows', 'linux']),
  systemDisk: z.object({ serial: z.string().nullable(), wwn: z.string().nullable(), location: z.string(), sizeBytes: z.number(), logicalSectorSize: z.number() }),
  backupOnSameDisk: z.boolean(),
  partitions: z.array(z.object({ disk: z.enum(['system', 'backup']), number: z.number().int().positive(), role: z.string(), fs: z.string(), sizeBytes: z.number() })),
});
export type DiskLayout = z.infer<typeof diskLayout>;
