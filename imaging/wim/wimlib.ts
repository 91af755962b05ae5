// The WIM engine: capture an NTFS partition into a WIM, apply a WIM image onto a partition, and
// list a WIM's images, with wimlib-imagex. Given a block device, wimlib uses its NTFS-3G mode
// (libntfs-3g, no mount): security descriptors (the ACLs ntfs-3g shows as `system.ntfs_acl`),
// alternate data streams, reparse points, short names and timestamps are taken and put back
// as they are on disk, which a capture from a mounted directory would lose.
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa, run, splitLines } from '../../lib/process.ts';
import { fsyncPath } from '../../lib/files.ts';
import { ImagingError } from '../errors.ts';
import { checkImageable, probeFilesystem } from '../fsdetect.ts';
import { describeImage, parseWimInfo, type WimImage, type WimInfo } from './info.ts';

export const WIM_COMPRESSIONS = ['none', 'xpress', 'lzx', 'lzms'] as const;
export type WimCompression = (typeof WIM_COMPRESSIONS)[number];
/** opsi's capture_mode: add an image to the existing install.wim, or start a new file. */
export type CaptureMode = 'append' | 'always_create';

interface Reporting {
  log?: ((line: string) => void) | undefined;
  onProgress?: ((percent: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

const PROGRESS = /\((\d{1,3})%\) done/;

/** Run wimlib-imagex, turning its "(NN%) done" lines into progress; throws ImagingError with its last lines. */
async function wimlib(args: string[], r: Reporting): Promise<string> {
  // LC_ALL=C.UTF-8: names are UTF-8 on the way in and out whatever locale the caller has.
  const child = execa('wimlib-imagex', args, { reject: false, all: true, cancelSignal: r.signal, env: { LC_ALL: 'C.UTF-8' } });
  const tail: string[] = [];
  let out = '';
  for await (const line of splitLines(child.all!)) {
    out += line + '\n';
    const p = PROGRESS.exec(line);
    if (p) r.onProgress?.(Number(p[1]));
    else tail.push(line);
    if (tail.length > 20) tail.shift();
  }
  const res = await child;
  if (res.isCanceled) throw new ImagingError(`wimlib-imagex ${args[0]} was cancelled`);
  if (res.exitCode !== 0) throw new ImagingError(`wimlib-imagex ${args[0]} failed (exit ${res.exitCode}): ${tail.slice(-4).join(' | ')}`);
  return out;
}

export async function wimInfo(wimFile: string): Promise<WimInfo> {
  const text = await wimlib(['info', wimFile], {});
  return parseWimInfo(text);
}

export interface CaptureOptions extends Reporting {
  /** Block device holding the NTFS to capture (e.g. the system partition); it must not be mounted. */
  device: string;
  wimFile: string;
  imageName: string;
  description?: string | undefined;
  /** For a new file; appending keeps the existing file's compression (wimlib's rule). */
  compression: WimCompression;
  mode: CaptureMode;
}

export interface CaptureResult {
  wimFile: string;
  image: WimImage;
  info: WimInfo;
}

/**
 * Capture `device` into `wimFile`. always_create writes a new file beside the old one and renames
 * it into place (a failed capture leaves the old file); append adds an image in place, which
 * wimlib does by writing behind the existing data and rewriting the header last, so a failed
 * append leaves the file as it was. --check adds wimlib's integrity table (verified on apply).
 */
export async function captureWim(o: CaptureOptions): Promise<CaptureResult> {
  const { fsType } = await checkImageable(o.device);
  if (fsType !== 'ntfs') throw new ImagingError(`${o.device} holds ${fsType}: only an NTFS (Windows) partition can be captured as WIM`);
  if (o.imageName.trim() === '') throw new ImagingError('the WIM image needs a name');
  const exists = await stat(o.wimFile).then(
    () => true,
    () => false,
  );
  const append = o.mode === 'append' && exists;
  if (append) {
    const before = await wimInfo(o.wimFile);
    if (before.images.some((i) => i.name === o.imageName))
      throw new ImagingError(`${o.wimFile} already has an image named "${o.imageName}": choose another name or capture_mode always_create`);
  }
  const target = append ? o.wimFile : join(dirname(o.wimFile), `.tmp-${basename(o.wimFile)}-${randomBytes(4).toString('hex')}`);
  const desc = o.description ? [o.description] : [];
  o.log?.(`wim: ${append ? 'appending' : 'capturing'} ${o.device} as "${o.imageName}" ${append ? 'to' : 'into new'} ${o.wimFile}${append ? '' : ` (${o.compression})`}`);
  try {
    const args = append
      ? ['append', o.device, target, o.imageName, ...desc, '--check']
      : ['capture', o.device, target, o.imageName, ...desc, `--compress=${o.compression}`, '--check'];
    await wimlib(args, o);
    await fsyncPath(target);
    if (!append) {
      await rename(target, o.wimFile);
      await fsyncPath(dirname(o.wimFile));
    }
  } catch (e) {
    if (!append) await rm(target, { force: true });
    throw e;
  }
  const info = await wimInfo(o.wimFile);
  const image = info.images.find((i) => i.name === o.imageName);
  if (!image) throw new ImagingError(`after the capture, ${o.wimFile} has no image named "${o.imageName}"`);
  o.log?.(`wim: ${describeImage(image)}; ${o.wimFile} holds ${info.imageCount} image(s), ${info.sizeBytes} bytes`);
  return { wimFile: o.wimFile, image, info };
}

export interface ApplyOptions extends Reporting {
  wimFile: string;
  /** Image index (1-based) or name. */
  image: number | string;
  /** Partition to write; it is formatted NTFS first (everything on it is replaced). */
  device: string;
  label?: string | undefined;
}

/** Apply one image of a WIM onto a partition (destructive: formats it NTFS first, as Windows setup does). */
export async function applyWim(o: ApplyOptions): Promise<WimImage> {
  const info = await wimInfo(o.wimFile);
  const image = info.images.find((i) => (typeof o.image === 'number' ? i.index === o.image : i.name === o.image));
  if (!image) throw new ImagingError(`${o.wimFile} has no image ${typeof o.image === 'number' ? o.image : `"${o.image}"`} (it has: ${info.images.map((i) => `${i.index} "${i.name}"`).join(', ')})`);
  const probe = await probeFilesystem(o.device);
  o.log?.(`wim: formatting ${o.device} (was ${probe.type ?? 'empty'}) and applying ${describeImage(image)}`);
  await run('mkntfs', ['--quick', '--force', '--label', o.label ?? 'system', o.device], { cancelSignal: o.signal });
  await wimlib(['apply', o.wimFile, String(image.index), o.device, '--check'], o);
  return image;
}
