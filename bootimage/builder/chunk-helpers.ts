// Stage: the chunked image format's C helpers (imaging/chunked/native/), compiled on the build
// host (Debian 12 like the image's packages) and found by the agent in /usr/libexec/netimage.
// Their libraries come through the DT_NEEDED walk (libraries.ts) via CHUNK_HELPER_DEPENDS.
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BOOT_IMAGE_HELPER_DIR, buildChunkHelpers, CHUNK_HELPERS, HELPER_CACHE } from '../../imaging/chunked/native.ts';

/** What the helpers link besides libc (libzstd.so.1, libcrypto.so.3; ext4records: libext2fs.so.2, libcom_err.so.2; ntfsrecords: libntfs-3g.so.89, also ntfs-3g's): where libraries.ts looks for them. */
export const CHUNK_HELPER_DEPENDS: readonly string[] = ['libc6', 'libzstd1', 'libssl3', 'libext2fs2', 'libcom-err2', 'libntfs-3g89'];

/** The helpers' sources: part of the build's input hash. */
export const CHUNK_HELPER_SOURCES = 'imaging/chunked/native';

export async function stageChunkHelpers(root: string, stage: string): Promise<void> {
  const built = await buildChunkHelpers(join(root, HELPER_CACHE));
  const dir = join(stage, BOOT_IMAGE_HELPER_DIR);
  mkdirSync(dir, { recursive: true });
  for (const name of CHUNK_HELPERS) {
    copyFileSync(join(built, name), join(dir, name));
    chmodSync(join(dir, name), 0o755);
  }
}
