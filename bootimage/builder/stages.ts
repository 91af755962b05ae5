// Stage to two boot stages (docs/bootimage.md "Two stages"). Stage 1 is what grub loads over
// TFTP: /init, /etc, busybox, kmod, zstd, their libraries, the NIC drivers with their closure and
// firmware (nic-modules.ts) and a module index of its own, enough to find any PC's NIC and fetch
// the rest. Stage 2 is everything else (node, the agent, the disk tools, their libraries, the
// other modules and firmware, the full module index), fetched by init over HTTP and checked
// against a sha256 pinned inside stage 1.
// The single initrd is stage 1 followed by stage 2 (the kernel unpacks concatenated compressed
// cpio archives in order, later entries replacing earlier ones), so both forms hold the same tree.
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { run } from '../../lib/process.ts';
import { STAGE1_MODULES_SQUASHFS_ARGS, writeSquashfs } from './archive.ts';
import { parseNeeded } from './elf-needed.ts';
import { parseModulesDep } from './modules-dep.ts';
import { listFiles } from './files.ts';
import { LIB_DIR } from './payload.ts';
import { NIC_TREES } from './nic-modules.ts';

/**
 * Stage 1's programs, all static (no libc, no libraries): busybox, whose applets load modules
 * (modprobe reads the text modules.dep/modules.alias) and fetch stage 2 (wget), and the hasher
 * that checks it (builder/hasher.ts: ~30 KB, faster than busybox's sha256sum; init falls back to
 * that where the hasher is missing). kmod (with libcrypto) and zstd would cost 2.3 MB of the TFTP budget.
 */
const STAGE1_PROGRAMS = ['bin/busybox', 'usr/libexec/netimage/sha256'];
/** Programs stage 1 takes when the stage has them (a stage without a hasher: tests). */
const STAGE1_OPTIONAL = new Set(['usr/libexec/netimage/sha256']);
/** Trees stage 1 takes whole. */
const STAGE1_TREES = ['etc'];
/** Directories every initramfs needs (init mounts on them). */
const STAGE1_DIRS = ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'var/log'];
const LIBRARY_DIRS = [LIB_DIR, `usr/${LIB_DIR}`];
const LD_SO = 'ld-linux-x86-64.so.2';

/** Written into stage 2 only: init sees that stage 2 is already unpacked (the single initrd). */
export const STAGE2_PRESENT = 'etc/netimage/stage2-present';
/** Pinned in stage 1: `<sha256> <bytes> <decompressor>` of the stage 2 file. */
export const STAGE2_PIN = 'etc/netimage/stage2';

/** What stage 1 carries of the kernel's modules and firmware. */
export interface Stage1Kernel {
  release: string;
  /** Module paths under lib/modules/<release>/ (as in modules.dep). */
  modules: readonly string[];
  /** Stage-relative firmware paths (lib/firmware/...). */
  firmware: readonly string[];
  /** depmod's inputs besides the modules (modules.builtin, ...), under lib/modules/<release>/. */
  indexInputs: readonly string[];
}

export interface StageSplit {
  /** Stage-relative paths of stage 2 (directories first where new, sorted). */
  stage2Paths: string[];
  stage1Files: number;
}

/** The path a symlink in the stage leads to, stage-relative (null when it leaves the stage). */
function linkTarget(stage: string, rel: string): string | null {
  const target = readlinkSync(join(stage, rel));
  const abs = target.startsWith('/') ? join(stage, target) : resolve(dirname(join(stage, rel)), target);
  const r = relative(stage, abs);
  return r.startsWith('..') ? null : r;
}

/** A soname as found in the stage's library dirs: the link and the file it leads to. */
function findLibrary(stage: string, soname: string): string[] {
  for (const d of LIBRARY_DIRS) {
    let rel = `${d}/${soname}`;
    const out: string[] = [];
    while (lstatSync(join(stage, rel), { throwIfNoEntry: false })?.isSymbolicLink()) {
      out.push(rel);
      const next = linkTarget(stage, rel);
      if (!next) break;
      rel = next;
    }
    if (existsSync(join(stage, rel))) return [...out, rel];
  }
  throw new Error(`stage 1: library ${soname} is not in the stage`);
}

/** Stage 1's files: programs, their DT_NEEDED closure, links to the programs, the whole trees, its modules and firmware. */
async function stage1Selection(stage: string, kernel: Stage1Kernel | null): Promise<Set<string>> {
  const chosen = new Set<string>(['init']);
  for (const tree of STAGE1_TREES) for (const f of listFiles(join(stage, tree))) chosen.add(relative(stage, f));
  if (kernel) {
    for (const p of [...kernel.modules, ...kernel.indexInputs]) chosen.add(`lib/modules/${kernel.release}/${p}`);
    for (const p of kernel.firmware) chosen.add(p);
  }
  const queue = [...STAGE1_PROGRAMS];
  const seen = new Set<string>();
  while (queue.length) {
    const rel = queue.shift()!;
    if (seen.has(rel)) continue;
    seen.add(rel);
    if (STAGE1_OPTIONAL.has(rel) && !existsSync(join(stage, rel))) continue;
    chosen.add(rel);
    const needed = parseNeeded((await run('readelf', ['-d', join(stage, rel)])).stdout);
    if (needed.length) for (const ld of [`lib64/${LD_SO}`, `${LIB_DIR}/${LD_SO}`]) chosen.add(ld);
    for (const soname of needed) {
      const paths = findLibrary(stage, soname);
      for (const p of paths.slice(0, -1)) chosen.add(p);
      queue.push(paths.at(-1)!);
    }
  }
  // Links to the programs (busybox applets, kmod's modprobe/insmod/...).
  for (const f of listFiles(stage)) {
    const rel = relative(stage, f);
    if (!lstatSync(f).isSymbolicLink()) continue;
    const t = linkTarget(stage, rel);
    if (t && STAGE1_PROGRAMS.includes(t)) chosen.add(rel);
  }
  return chosen;
}

/**
 * Copies stage 1 out of `stage` into `stage1Dir` (with busybox applet links where stage 2 brings
 * the real tool, e.g. util-linux mount, and a depmod index over stage 1's modules only: stage 2's
 * full index replaces it when unpacked), marks stage 2 in `stage`, and lists stage 2's paths.
 * `kernel` null: stage 1 takes every module (a stage without a kernel split, as in tests).
 */
export async function splitStages(stage: string, stage1Dir: string, kernel: Stage1Kernel | null = null): Promise<StageSplit> {
  rmSync(stage1Dir, { recursive: true, force: true });
  writeFileSync(join(stage, STAGE2_PRESENT), 'stage 2 unpacked\n');
  const chosen = await stage1Selection(stage, kernel);
  if (!kernel) for (const f of listFiles(join(stage, 'lib/modules'))) chosen.add(relative(stage, f));
  chosen.delete(STAGE2_PRESENT);
  for (const d of STAGE1_DIRS) mkdirSync(join(stage1Dir, d), { recursive: true });
  for (const rel of chosen) {
    mkdirSync(dirname(join(stage1Dir, rel)), { recursive: true });
    cpSync(join(stage, rel), join(stage1Dir, rel), { verbatimSymlinks: true, preserveTimestamps: true });
  }
  if (kernel) await run('depmod', ['-b', stage1Dir, kernel.release]);
  // A real tool in stage 2 replaces its applet link: until then stage 1 uses busybox's applet.
  const busybox = join(stage1Dir, 'bin/busybox');
  const applets = (await run(busybox, ['--list-full'])).stdout.split('\n').filter(Boolean);
  for (const a of applets) {
    if (a.endsWith('/busybox') || a.endsWith('/linuxrc') || lstatSync(join(stage1Dir, a), { throwIfNoEntry: false })) continue;
    mkdirSync(dirname(join(stage1Dir, a)), { recursive: true });
    symlinkSync(relative(dirname(join(stage1Dir, a)), busybox), join(stage1Dir, a));
  }
  const stage2Paths = (await run('sh', ['-c', `cd "${stage}" && find . -mindepth 1 | LC_ALL=C sort`])).stdout
    .split('\n')
    .filter(Boolean)
    .map((p) => p.slice(2))
    .filter((rel) => {
      const st = lstatSync(join(stage, rel));
      if (st.isDirectory()) return !existsSync(join(stage1Dir, rel));
      return !chosen.has(rel);
    });
  return { stage2Paths, stage1Files: listFiles(stage1Dir).length };
}

/** The pin stage 1 carries: the stage 2 file's sha256, size and how to unpack it. */
export function writeStage2Pin(stage1Dir: string, sha256: string, bytes: number, decompressor: string): void {
  writeFileSync(join(stage1Dir, STAGE2_PIN), `${sha256} ${bytes} ${decompressor}\n`);
}

/** Inside stage 1 as grub loads it: its modules as one squashfs image (init mounts it, bootimage/init/init). */
export const STAGE1_MODULE_IMAGE = 'usr/lib/netimage/stage1-modules.squashfs';
/** Beside the image, outside it: the two modules init insmods to mount it (found by name in modules.dep). */
export const STAGE1_MOUNT_MODULES_DIR = 'usr/lib/netimage/boot-modules';
const STAGE1_MOUNT_MODULES = ['loop', 'squashfs'];

/**
 * Stage 1 as grub loads it, made from `stage1Dir` (the form the single initrd carries) in `outDir`:
 * the module files under lib/modules/<release>/kernel become one squashfs image init mounts there,
 * so the kernel does not unpack ~24 MiB of drivers of which a PC loads a handful (the index files
 * stay beside it, busybox modprobe reads them on every call). loop and squashfs are copied beside
 * the image, so init can mount it. Returns the image's size.
 */
export async function packStage1Modules(stage1Dir: string, release: string, outDir: string): Promise<number> {
  rmSync(outDir, { recursive: true, force: true });
  cpSync(stage1Dir, outDir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  const modDir = join(outDir, 'lib/modules', release);
  const kernelDir = join(modDir, 'kernel');
  if (!existsSync(kernelDir)) throw new Error(`stage 1: no modules under lib/modules/${release}/kernel to pack`);
  const dep = parseModulesDep(readFileSync(join(modDir, 'modules.dep'), 'utf8'));
  mkdirSync(join(outDir, STAGE1_MOUNT_MODULES_DIR), { recursive: true });
  for (const name of STAGE1_MOUNT_MODULES) {
    const entry = dep.get(name);
    if (!entry || !existsSync(join(modDir, entry.path))) throw new Error(`stage 1: ${entry?.path ?? `${name}.ko`} is missing: init needs it to mount the module image`);
    // init insmods it by file, without modprobe: a dependency would not be loaded.
    if (entry.deps.length) throw new Error(`stage 1: ${name} needs ${entry.deps.join(', ')}: init insmods it alone to mount the module image`);
    copyFileSync(join(modDir, entry.path), join(outDir, STAGE1_MOUNT_MODULES_DIR, `${name}.ko`));
  }
  const bytes = await writeSquashfs(kernelDir, join(outDir, STAGE1_MODULE_IMAGE), STAGE1_MODULES_SQUASHFS_ARGS);
  rmSync(kernelDir, { recursive: true, force: true });
  mkdirSync(kernelDir);
  return bytes;
}

/**
 * Stage 2's paths split into what stage 1 fetches over HTTP and what only the single initrd
 * carries: the modules under `trees` (the data-centre NIC drivers, STAGE2_ONLY_NIC_TREES). A PC
 * booted from stage 1 reached the server through a NIC stage 1 drives, so those drivers would only
 * name a second data-centre NIC in the inventory; fetched, they cost ~20 MiB of download, hash and
 * unpack on every two-stage boot (docs/performance.md "Two-stage boot"). Their dependencies (shared
 * helpers outside the trees) stay in the fetched part.
 */
export function splitInitrdOnly(stage2Paths: readonly string[], release: string, trees: readonly string[]): { fetched: string[]; initrdOnly: string[] } {
  const base = `lib/modules/${release}/`;
  const inTrees = (p: string): boolean => {
    if (!p.startsWith(base)) return false;
    const rel = p.slice(base.length);
    return trees.some((t) => (t.endsWith('/') ? rel.startsWith(t) || `${rel}/` === t : rel === t));
  };
  const fetched: string[] = [];
  const initrdOnly: string[] = [];
  for (const p of stage2Paths) (inTrees(p) ? initrdOnly : fetched).push(p);
  return { fetched, initrdOnly };
}

/**
 * Stage 1's modules that the fetched stage 2 root (the squashfs) leaves out: the NIC drivers under
 * NIC_TREES (Ethernet, USB NICs, PHYs, MDIO, PCS). Booted from stage 1, every one of them that a
 * device present needs is loaded before the switch (init's first module pass, which found the
 * boot NIC), and no module outside those trees depends on them (checked on Debian 12's modules.dep:
 * only net/core/selftests, itself a NIC helper, needs libphy), so after the switch they would only be
 * downloaded and hashed: 165 files, 17.4 MiB unpacked, 3.7 MB of the 54.9 MB image. The helpers
 * they share with other drivers (usbcore, the USB host controllers, mii, ssb, ...) stay. The full
 * module index still names them; `modprobe -b -q` of one that is already loaded is a no-op.
 * Returns stage-relative paths (lib/modules/<release>/...).
 */
export function stage1OnlyModules(stage1Modules: readonly string[], release: string, trees: readonly string[] = NIC_TREES): string[] {
  return stage1Modules.filter((p) => trees.some((t) => p.startsWith(t))).map((p) => `lib/modules/${release}/${p}`);
}
