// manifest.json of a boot image: what went in, from which package and version (docs/bootimage.md).
import { readFileSync } from 'node:fs';

export type Compression = 'zstd19' | 'xz' | 'gzip';

/** A compressed cpio of the image: its size, unpacked size, sha256 and file count. */
export interface ImageFile {
  bytes: number;
  uncompressedBytes: number;
  sha256: string;
  files: number;
}

export interface Manifest {
  variant: 'agent' | 'reference';
  inputsHash: string;
  compression: Compression;
  kernel: { package: string; version: string; release: string; bytes: number; sha256: string };
  initrd: ImageFile;
  /** The two boot stages (agent image only; the initrd is stage1 + stage2 concatenated). */
  stages?: { stage1: ImageFile; stage2: ImageFile } | null;
  node: { version: string; npmPackage: string; bytes: number } | null;
  agent: { bytes: number; sha256: string } | null;
  packages: { name: string; version: string; role: 'root' | 'library' }[];
  tools: { name: string; path: string; package: string; version: string }[];
  libraries: { soname: string; package: string; version: string; stub?: boolean }[];
  modules: { wanted: string[]; shipped: number; missing: string[] };
  buildSeconds: number;
}

export function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}
