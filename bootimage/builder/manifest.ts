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
  /** The two boot stages (agent image only; the initrd is stage1 + stage2 + the data-centre NIC drivers, concatenated). */
  stages?: { stage1: ImageFile; stage2: ImageFile } | null;
  node: { version: string; npmPackage: string; bytes: number } | null;
  /** snapshotBytes: /agent/agent.blob, the agent's V8 startup snapshot (builder/snapshot.ts). */
  agent: { bytes: number; sha256: string; snapshotBytes?: number } | null;
  packages: { name: string; version: string; role: 'root' | 'library' }[];
  tools: { name: string; path: string; package: string; version: string }[];
  libraries: { soname: string; package: string; version: string; stub?: boolean }[];
  modules: {
    wanted: string[];
    shipped: number;
    missing: string[];
    /** Boot stage 1's share: modules carried (NIC drivers and their closure), NIC drivers, those left to stage 2. */
    stage1?: { modules: number; nicDrivers: number; stage2OnlyNicDrivers: string[] };
  };
  /** Firmware files the shipped modules name (builder/firmware.ts); null for the reference image. */
  firmware?: {
    packages: { name: string; version: string }[];
    files: number;
    bytes: number;
    stage1Files: number;
    /** `module: file` pairs that no firmware package has. */
    missing: string[];
    /** Why Debian's non-free-firmware component could not be read (null when it could). */
    unreachable: string | null;
  } | null;
  /** Uncompressed bytes of boot stage 1 by part (modules with their index, firmware, busybox, init and /etc). */
  stage1Parts?: Record<string, number> | null;
  buildSeconds: number;
}

export function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}
