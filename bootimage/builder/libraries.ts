// Stage: shared libraries. Walks DT_NEEDED from every ELF file in the stage; each soname comes from
// an unpacked package, looked for through the Depends of the package the needing file came from.
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from '../../lib/process.ts';
import { ICU_DATA_SONAME } from './contents.ts';
import { isElf, parseNeeded } from './elf-needed.ts';
import { listFiles, readHead } from './files.ts';
import type { Manifest } from './manifest.ts';
import type { PackageSet } from './packages.ts';
import { LIB_DIR } from './payload.ts';

export interface StagedLibraries {
  libraries: Manifest['libraries'];
  /** Packages a library came from that are not root packages. */
  libraryPackages: Set<string>;
}

/**
 * @param ownerOf the package each staged ELF file came from (stage-relative path -> package); files
 *   not listed (node) look through `unownedDepends`.
 */
export async function stageLibraries(opts: {
  stage: string;
  packages: PackageSet;
  rootNames: readonly string[];
  ownerOf: ReadonlyMap<string, string>;
  unownedDepends: readonly string[];
  keepIcu: boolean;
  tmp: string;
}): Promise<StagedLibraries> {
  const { stage, packages } = opts;
  const libraries: Manifest['libraries'] = [];
  const libraryPackages = new Set<string>();
  const resolved = new Set<string>();
  const isStagedElf = (f: string): boolean => !f.includes('/lib/modules/') && statSync(f, { throwIfNoEntry: false })?.isFile() === true && isElf(readHead(f));
  const queue = listFiles(stage)
    .filter(isStagedElf)
    .map((file) => ({ file, from: ownersOf(opts.ownerOf.get(relative(stage, file)), opts.unownedDepends) }));
  while (queue.length) {
    const { file, from } = queue.shift()!;
    const needed = parseNeeded((await run('readelf', ['-d', '-W', file], { env: { LC_ALL: 'C' } })).stdout);
    for (const soname of needed) {
      if (resolved.has(soname)) continue;
      resolved.add(soname);
      const dst = join(stage, LIB_DIR, soname);
      const icu = ICU_DATA_SONAME.exec(soname);
      if (icu?.[1] && !opts.keepIcu) {
        // ~31 MB of ICU data only libxml2 (via wimlib) links; WIM XML is UTF-16LE, which libxml2 handles itself.
        await buildIcuStub(icu[1], dst, opts.tmp);
        libraries.push({ soname, package: 'stub (bootimage/builder/libraries.ts)', version: '-', stub: true });
        continue;
      }
      const found = await packages.findLibViaDepends(soname, from);
      if (!found) throw new Error(`no package in the Depends of ${from.join(', ')} has ${soname} (needed by ${relative(stage, file)})`);
      copyFileSync(found.path, dst); // dereferences: the soname becomes the real file
      chmodSync(dst, 0o755);
      libraries.push({ soname, package: found.pkg, version: packages.version(found.pkg) });
      if (!opts.rootNames.includes(found.pkg)) libraryPackages.add(found.pkg);
      queue.push({ file: dst, from: [found.pkg] });
    }
  }
  // The ELF interpreter is looked up by absolute path.
  copyFileSync(join(stage, LIB_DIR, 'ld-linux-x86-64.so.2'), join(stage, 'lib64/ld-linux-x86-64.so.2'));
  chmodSync(join(stage, 'lib64/ld-linux-x86-64.so.2'), 0o755);
  await run('ldconfig', ['-r', stage]).catch(() => undefined);
  rmSync(join(stage, 'var'), { recursive: true, force: true });
  return { libraries: libraries.sort((a, b) => a.soname.localeCompare(b.soname)), libraryPackages };
}

function ownersOf(pkg: string | undefined, unowned: readonly string[]): readonly string[] {
  return pkg ? [pkg] : unowned;
}

/** A tiny libicudata with an empty table of contents (ICU's own "stubdata"), built with binutils only. */
async function buildIcuStub(major: string, outFile: string, tmp: string): Promise<void> {
  mkdirSync(tmp, { recursive: true });
  const asm = `
  .section .rodata
  .globl icudt${major}_dat
  .type icudt${major}_dat, @object
  .size icudt${major}_dat, 40
  .balign 16
icudt${major}_dat:
  .short 32
  .byte 0xda, 0x27
  .short 20, 0
  .byte 0, 0, 2, 0
  .byte 0x54, 0x6f, 0x43, 0x50
  .byte 1, 0, 0, 0
  .byte 0, 0, 0, 0
  .zero 8
  .long 0, 0
  .section .note.GNU-stack,"",@progbits
`;
  writeFileSync(join(tmp, 'icustub.s'), asm);
  await run('as', ['-o', join(tmp, 'icustub.o'), join(tmp, 'icustub.s')]);
  await run('ld', ['-shared', '-soname', `libicudata.so.${major}`, '--build-id=none', '-o', outFile, join(tmp, 'icustub.o')]);
}
