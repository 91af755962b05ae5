// File helpers of the build: hashing, walking the stage, copying out of unpacked packages.
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readSync,
  readlinkSync, rmSync, symlinkSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

/** Every non-directory path under dir (symlinks included), sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/** The first four bytes of a file (enough to recognise ELF). */
export function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const n = readSync(fd, buf, 0, 4, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copy one path from an unpacked package into the stage, keeping symlinks (and their targets).
 * Returns every stage-relative path it wrote.
 */
export function copyKeepingLinks(srcRoot: string, rel: string, stage: string): string[] {
  const src = join(srcRoot, rel);
  const dst = join(stage, rel);
  mkdirSync(dirname(dst), { recursive: true });
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(src);
    rmSync(dst, { force: true });
    symlinkSync(target, dst);
    const targetRel = target.startsWith('/') ? target.slice(1) : relative(srcRoot, resolve(dirname(src), target));
    const more = !existsSync(join(stage, targetRel)) && existsSync(join(srcRoot, targetRel)) ? copyKeepingLinks(srcRoot, targetRel, stage) : [];
    return [rel, ...more];
  }
  copyFileSync(src, dst);
  chmodSync(dst, st.mode & 0o7777);
  return [rel];
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
