// A STAND-IN Windows installation medium built by the tests: a UDF + ISO 9660 bridge ISO
// (genisoimage -udf; Microsoft's media are UDF too) holding a real two-edition install.wim made by
// wimlib and Windows-like names (spaces, "$OEM$", mixed case, non-ASCII). Not Windows.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** Files of the stand-in medium: path -> content. */
export const MEDIUM: Record<string, Buffer> = {
  'setup.exe': Buffer.from('stand-in setup.exe\n'),
  'bootmgr.efi': Buffer.from('stand-in\n'),
  'boot/Fonts dir/Segoe UI.ttf': Buffer.from('font\n'),
  'sources/$OEM$/$$/Setup/Scripts/SetupComplete.cmd': Buffer.from('@echo off\r\n'),
  'sources/AVeryLongMixedCase-Name {1} & more.Config.xml': Buffer.from('<x/>\n'),
  'sources/Ünïcödé-名前.txt': Buffer.from('non-ascii\n'),
};

export async function writeTree(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [path, data] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** Build the stand-in ISO in a fresh temp dir (the caller removes `dir`), with the files it holds. */
export async function buildStandInMedium(): Promise<{ dir: string; iso: string; files: Record<string, Buffer> }> {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-winmedia-'));
  const wimTree = join(dir, 'wimtree');
  await writeTree(wimTree, { 'Windows/System32/config/SYSTEM': Buffer.from('hive stand-in'), 'Windows/noise.bin': randomBytes(1_300_000) });
  const wim = join(dir, 'install.wim');
  await execa('wimlib-imagex', ['capture', wimTree, wim, 'Windows 11 Pro', '--compress=none']);
  await execa('wimlib-imagex', ['append', wimTree, wim, 'Windows 11 Education']);
  const files = { ...MEDIUM, 'sources/install.wim': await readFile(wim) };
  await writeTree(join(dir, 'medium'), files);
  const iso = join(dir, 'Win11_standin.iso');
  await execa('genisoimage', ['-quiet', '-udf', '-J', '-joliet-long', '-R', '-V', 'CCCOMA_X64FRE', '-o', iso, join(dir, 'medium')]);
  return { dir, iso, files };
}

