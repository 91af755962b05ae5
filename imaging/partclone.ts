// partclone facts: which binary clones which filesystem, the image header (v2), progress lines.
import { run, runAllowFailure } from '../lib/process.ts';

/** blkid TYPE -> partclone tool. Anything else is refused rather than imaged sector by sector. */
const TOOL: Record<string, string> = {
  ext2: 'partclone.ext2',
  ext3: 'partclone.ext3',
  ext4: 'partclone.ext4',
  ntfs: 'partclone.ntfs',
  vfat: 'partclone.fat',
  exfat: 'partclone.exfat',
  xfs: 'partclone.xfs',
  btrfs: 'partclone.btrfs',
};

export function partcloneToolFor(fsType: string): string | null {
  return TOOL[fsType] ?? null;
}

export const PARTCLONE_MAGIC = 'partclone-image';

export interface PartcloneHeader {
  /** Image format version, e.g. "0002". */
  imageVersion: string;
  /** partclone version that wrote it. */
  partcloneVersion: string;
  /** partclone's fs name: EXTFS, NTFS, FAT32, ... */
  fs: string;
  deviceSize: number;
  totalBlocks: number;
  usedBlocks: number;
  blockSize: number;
  /** 0 = none (-a0), 0x20 = CRC32 (CSM_CRC32, partclone's default). */
  checksumMode: number;
}

const cstr = (b: Buffer, start: number, len: number) => {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('latin1');
};

/**
 * Parse the first bytes of a (decompressed) partclone image. Layout of image_head_v2 +
 * file_system_info_v2 (packed, little endian): magic[16] version[14] image_version[4]
 * endianness u16 | fs[16] device_size u64 totalblock u64 usedblocks u64 used_bitmap u64
 * block_size u32 feature_size u32 image_version u16 cpu_bits u16 checksum_mode u16 ...
 * Returns null if the magic is missing.
 */
export function parsePartcloneHeader(buf: Buffer): PartcloneHeader | null {
  if (buf.length < 36 || cstr(buf, 0, 16) !== PARTCLONE_MAGIC) return null;
  const imageVersion = cstr(buf, 30, 4);
  const header: PartcloneHeader = {
    imageVersion,
    partcloneVersion: cstr(buf, 16, 14),
    fs: '',
    deviceSize: 0,
    totalBlocks: 0,
    usedBlocks: 0,
    blockSize: 0,
    checksumMode: 1,
  };
  if (imageVersion === '0002' && buf.length >= 98) {
    header.fs = cstr(buf, 36, 16);
    header.deviceSize = Number(buf.readBigUInt64LE(52));
    header.totalBlocks = Number(buf.readBigUInt64LE(60));
    header.usedBlocks = Number(buf.readBigUInt64LE(68));
    header.blockSize = buf.readUInt32LE(84);
    header.checksumMode = buf.readUInt16LE(96);
  }
  return header;
}

/**
 * Progress from partclone's '\r'-rewritten status lines. Before the data phase partclone prints
 * a 100 % bitmap pass; callers should only count lines after `dataPhaseStarted` saw the summary.
 */
export function parsePartcloneProgress(line: string): number | null {
  const m = /Complete(?:d)?:\s*([\d.]+)%/.exec(line);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? Math.min(100, Math.max(0, v)) : null;
}

/** The summary line partclone prints right before it copies blocks. */
export function isDataPhaseMarker(line: string): boolean {
  return /^\s*Block size:/.test(line);
}

/** A tracker turning partclone stderr lines into monotone percent updates. */
export function progressTracker(onPercent: (p: number) => void): (line: string) => void {
  let dataPhase = false;
  let last = -1;
  return (line) => {
    if (isDataPhaseMarker(line)) dataPhase = true;
    if (!dataPhase) return;
    const p = parsePartcloneProgress(line);
    if (p !== null && p > last) {
      last = p;
      onPercent(p);
    }
  };
}

let versionCache: string | null = null;
export async function partcloneVersion(): Promise<string> {
  if (versionCache) return versionCache;
  const r = await runAllowFailure('partclone.restore', ['-v']);
  const m = /v(\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr);
  versionCache = m?.[1] ?? 'unknown';
  return versionCache;
}

export async function zstdVersion(): Promise<string> {
  const { stdout } = await run('zstd', ['--version']);
  return /v(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? 'unknown';
}
