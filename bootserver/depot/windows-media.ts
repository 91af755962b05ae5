// Windows media in the depot: entry `windows-media/<product id>` with four parts (the contract
// with the agent's unattended install, docs/windows.md):
//   installfiles/  the installation medium's files, paths and case as on the medium
//   winpe/         a WinPE tree the admin made with Microsoft's ADK (copype)
//   drivers/       any tree; the agent matches .inf files by PCI ids
//   custom/        anything the admin adds
// meta: { product, importedFrom: { <part>: <source path> }, editions?: [{ index, name }] }.
// A part is imported from a Windows ISO (UDF, read by 7-Zip's `7zz`: no mount, no hand-written
// UDF reader) or copied from a directory. Re-importing one part writes a new version of the
// entry (Depot.commitVersion): the other parts are hard-linked from the current version.
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { DepotError, checkSpace, type Depot, type DepotEntry } from './depot.ts';
import { lockEntry } from './import-lock.ts';
import { depotEntryName, depotFilePath, entryId, type ManifestFile } from './manifest.ts';
import { wimEditions, type WimEdition } from './wim-editions.ts';

export const WINDOWS_MEDIA_PARTS = ['installfiles', 'winpe', 'drivers', 'custom'] as const;
export const windowsMediaPart = z.enum(WINDOWS_MEDIA_PARTS);
export type WindowsMediaPart = z.infer<typeof windowsMediaPart>;

/** The files a part must have (case-insensitive), so a wrong ISO is refused before anything is written. */
const REQUIRED: Partial<Record<WindowsMediaPart, { pattern: RegExp; what: string }>> = {
  installfiles: { pattern: /^sources\/install\.(wim|esd)$/i, what: 'Windows installation media: no sources/install.wim or sources/install.esd' },
  winpe: { pattern: /^sources\/boot\.wim$/i, what: 'a WinPE tree (ADK copype ... media): no sources/boot.wim' },
};

export interface SourceFile {
  /** Path inside the part, "/"-separated, as on the medium. */
  path: string;
  size: number;
}

export interface ImportProgress {
  bytes: number;
  total: number;
}

export interface ImportOptions {
  depot: Depot;
  product: string;
  /** An ISO file (UDF) or a directory. */
  source: string;
  part: WindowsMediaPart;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportResult {
  entry: DepotEntry;
  part: WindowsMediaPart;
  files: number;
  bytes: number;
  editions: WimEdition[] | null;
}

async function walk(root: string, dir = root): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(root, full)));
    else if (e.isFile()) out.push({ path: relative(root, full).split(sep).join('/'), size: (await stat(full)).size });
    else throw new DepotError(`${full}: not a regular file or folder (symlinks and devices are not imported)`, undefined, 'invalid');
  }
  return out;
}

/** The files of a UDF medium from `7zz l -slt` (blocks of "Key = value" lines per item). Pure. */
export function parse7zList(text: string): SourceFile[] {
  const items = text.split(/^----------$/m)[1] ?? '';
  const out: SourceFile[] = [];
  for (const block of items.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z ]+) = (.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    const path = fields.get('Path');
    if (!path || fields.get('Folder') === '+') continue;
    out.push({ path, size: Number(fields.get('Size') || 0) });
  }
  return out;
}

/** The files of an ISO, read as UDF (Windows media are UDF; their ISO 9660 side has short names only). */
export async function listIso(iso: string): Promise<SourceFile[]> {
  const r = await execa('7zz', ['l', '-slt', '-tudf', '--', iso], { reject: false, env: { LC_ALL: 'C.UTF-8' } });
  if (r.exitCode !== 0) {
    const why = `${r.stderr}\n${r.stdout}`.match(/(Cannot open the file as \[Udf\] archive|Is not archive|No such file[^\n]*|cannot find[^\n]*)/i)?.[0];
    throw new DepotError(`${iso} is not a UDF medium (Windows installation media are UDF): 7zz says ${why ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}`}`, undefined, 'invalid');
  }
  return parse7zList(r.stdout);
}

/** Check names and the part's required files, before anything is written. Pure. */
export function checkSourceFiles(source: string, part: WindowsMediaPart, files: SourceFile[]): void {
  for (const f of files) {
    const r = depotFilePath.safeParse(`${part}/${f.path}`);
    if (!r.success) throw new DepotError(`${source}: the file name ${JSON.stringify(f.path)} cannot be stored: ${r.error.issues[0]?.message ?? ''}`, undefined, 'invalid');
  }
  const need = REQUIRED[part];
  if (need && !files.some((f) => need.pattern.test(f.path)))
    throw new DepotError(`${source} is not ${need.what} (${files.length} files, e.g. ${files.slice(0, 3).map((f) => f.path).join(', ') || 'none'})`, undefined, 'invalid');
}

/** Copy with a byte counter (a 5 GB install.wim is one file: progress must move inside it). */
async function copyTree(from: string, to: string, files: SourceFile[], onBytes: (n: number) => void): Promise<void> {
  for (const f of files) {
    const dest = join(to, ...f.path.split('/'));
    await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        onBytes(chunk.length);
        done(null, chunk);
      },
    });
    await pipeline(createReadStream(join(from, ...f.path.split('/'))), count, createWriteStream(dest, { flags: 'wx', mode: 0o600 }));
  }
}

/** 7zz extracts the medium; its -bsp1 percentages become bytes of `total`. */
async function extractIso(iso: string, to: string, total: number, onBytes: (done: number) => void): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  const child = execa('7zz', ['x', '-tudf', '-y', '-bsp1', '-bso0', '-bse2', `-o${to}`, '--', iso], { reject: false, env: { LC_ALL: 'C.UTF-8' }, buffer: { stdout: false } });
  child.stdout?.on('data', (chunk: Buffer) => {
    const all = [...chunk.toString().matchAll(/(\d+)%/g)];
    const last = all.at(-1);
    if (last) onBytes(Math.round((Number(last[1]) / 100) * total));
  });
  const r = await child;
  if (r.exitCode !== 0) throw new DepotError(`extracting ${iso} failed: ${String(r.stderr).trim().split('\n').slice(-3).join(' ')}`);
}

/**
 * Import one part of a Windows medium into `windows-media/<product>` as a new version of the entry.
 * One import per entry at a time (import-lock.ts): a second one is refused before it reads anything.
 */
export async function importWindowsMedia(o: ImportOptions): Promise<ImportResult> {
  const product = depotEntryName.safeParse(o.product);
  if (!product.success) throw new DepotError(`"${o.product}" is not a product id for the depot: ${product.error.issues[0]?.message ?? ''}`, undefined, 'invalid');
  const lock = await lockEntry(o.depot.dir, entryId('windows-media', product.data), `depot import ${o.source} --part ${o.part}`);
  try {
    return await importLocked(o, product.data);
  } finally {
    await lock.release();
  }
}

async function importLocked(o: ImportOptions, productId: string): Promise<ImportResult> {
  const info = await stat(o.source).catch(() => null);
  if (!info) throw new DepotError(`${o.source}: no such file or folder`, undefined, 'not_found');
  const isDir = info.isDirectory();
  const files = isDir ? await walk(o.source) : await listIso(o.source);
  checkSourceFiles(o.source, o.part, files);
  const total = files.reduce((n, f) => n + f.size, 0);
  await checkSpace(o.depot.dir, total, `${o.part} of ${productId}`);

  const current = await o.depot.get('windows-media', productId);
  const keptMeta = (current?.manifest.meta ?? {}) as { importedFrom?: Record<string, string>; editions?: WimEdition[] };
  let editions: WimEdition[] | null = o.part === 'installfiles' ? null : (keptMeta.editions ?? null);
  const report = (bytes: number) => o.onProgress?.({ bytes: Math.min(bytes, total), total });
  report(0);
  const entry = await o.depot.commitVersion(
    'windows-media',
    productId,
    // Evaluated after fill: the editions are read from the extracted install.wim.
    () => ({ product: productId, importedFrom: { ...(keptMeta.importedFrom ?? {}), [o.part]: o.source }, ...(editions ? { editions } : {}) }),
    async (dir) => {
      const target = join(dir, o.part);
      if (isDir) {
        let done = 0;
        await copyTree(o.source, target, files, (n) => report((done += n)));
      } else await extractIso(o.source, target, total, report);
      // What arrived must be what was listed (7zz skips what it cannot read, with a warning only).
      const got = new Map((await walk(target).catch(() => [])).map((f) => [f.path, f.size]));
      const missing = files.filter((f) => got.get(f.path) !== f.size);
      if (missing.length) throw new DepotError(`${o.source}: ${missing.length} file(s) did not arrive whole, e.g. ${missing[0]!.path}`);
      report(total);
      if (o.part === 'installfiles') {
        const wim = files.find((f) => REQUIRED.installfiles!.pattern.test(f.path));
        editions = wim ? await wimEditions(join(target, ...wim.path.split('/'))) : null;
      }
      // The other parts: hard links to the current version's files (immutable, already hashed).
      const kept: ManifestFile[] = (current?.manifest.files ?? []).filter((f) => !f.path.startsWith(`${o.part}/`));
      for (const f of kept) {
        const dest = join(dir, ...f.path.split('/'));
        await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
        await link(join(current!.dir, ...f.path.split('/')), dest);
      }
      return kept;
    },
  );
  return { entry, part: o.part, files: files.length, bytes: total, editions };
}
