// Import a foreign image (stock `partclone.<fs> -c -s dev -o - | zstd`, e.g. from Clonezilla
// or a shell) into the store: check it fully (zstd -t, partclone magic), compute the metadata.
import { copyFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagingError } from './errors.ts';
import { readImageHeader, zstdIntegrity } from './imagefile.ts';
import { IMAGE_FILE, type ImageMetadata } from './store/metadata.ts';
import { normalizeImageName } from './store/names.ts';
import { appendMasterLog, commitStaging, createStaging, rebuildIndex, sha256File, writeMetadata } from './store/store.ts';
import { zstdVersion } from './partclone.ts';

/** partclone's fs names -> blkid TYPE (EXTFS covers ext2/3/4; restore does not care which). */
const FS_FROM_PARTCLONE: Record<string, string> = { EXTFS: 'ext4', NTFS: 'ntfs', FAT12: 'vfat', FAT16: 'vfat', FAT32: 'vfat', EXFAT: 'exfat', XFS: 'xfs', BTRFS: 'btrfs' };

export interface ImportOptions {
  storeRoot: string;
  file: string;
  imageName: string;
  /** Sector size of the disk the image was taken from; partclone images do not record it. */
  logicalSectorSize?: number | undefined;
  sourceProduct?: string | null | undefined;
  /** Move the file instead of copying (same filesystem only). */
  move?: boolean | undefined;
}

export async function importImage(opts: ImportOptions): Promise<ImageMetadata> {
  const name = normalizeImageName(opts.imageName);
  await zstdIntegrity(opts.file);
  const header = await readImageHeader(opts.file);
  if (header.imageVersion !== '0002' || header.blockSize === 0)
    throw new ImagingError(`${opts.file}: partclone image format ${header.imageVersion} is not supported for import (need 0002, partclone >= 0.3)`);
  const staging = await createStaging(opts.storeRoot, name);
  const target = join(staging, IMAGE_FILE);
  if (opts.move) await rename(opts.file, target);
  else await copyFile(opts.file, target);
  const meta: ImageMetadata = {
    format: 'netimage-image/1',
    name,
    sourceProduct: opts.sourceProduct ?? null,
    fsType: FS_FROM_PARTCLONE[header.fs] ?? header.fs.toLowerCase(),
    partitionSizeBytes: header.deviceSize,
    logicalSectorSize: opts.logicalSectorSize ?? 512,
    usedBytes: header.usedBlocks * header.blockSize,
    imageFile: IMAGE_FILE,
    imageBytes: (await stat(target)).size,
    sha256: await sha256File(target),
    partcloneVersion: header.partcloneVersion,
    partcloneChecksumMode: header.checksumMode,
    compression: 'zstd',
    zstdVersion: await zstdVersion(),
    createdAt: new Date().toISOString(),
    productStates: [],
    imported: true,
    sourceDevice: null,
  };
  await writeMetadata(staging, meta);
  await commitStaging(opts.storeRoot, name, staging);
  await rebuildIndex(opts.storeRoot);
  await appendMasterLog(opts.storeRoot, `import image=${name} from=${opts.file} fs=${meta.fsType} sha256=${meta.sha256}`);
  return meta;
}
