// manifest.json of a boot image: what went in, from which package and version (docs/bootimage.md).
import { readFileSync } from 'node:fs';

export type Compression = 'zstd19' | 'xz' | 'gzip';

export interface Manifest {
  variant: 'agent' | 'reference';
  inputsHash: string;
  compression: Compression;
  kernel: { package: string; version: string; release: string; bytes: number; sha256: string };
  initrd: { bytes: number; uncompressedBytes: number; sha256: string; files: number };
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
