// Stage: the kernel's modules. The wanted list plus every NIC driver (nic-modules.ts), closed over
// modules.dep/softdep, copied into the stage and indexed with depmod there. Stage 1's share (the
// NIC drivers it carries and their closure) is returned for the split into boot stages.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../../lib/process.ts';
import { KERNEL_MODULES, MODULES_ALWAYS_LOADED, STAGE1_ROOT_MODULES } from './contents.ts';
import { closeModules, moduleName, parseBuiltin, parseModulesDep, parseSoftdeps } from './modules-dep.ts';
import { NIC_EXTRA_MODULES, selectNicModules, type NicSelection } from './nic-modules.ts';

/** Index inputs depmod reads besides the modules (copied from the package, not generated). */
export const MODULE_INDEX_INPUTS = ['modules.builtin', 'modules.builtin.modinfo', 'modules.order'] as const;

export interface StagedKernel {
  release: string;
  /** The vmlinuz inside the unpacked kernel package. */
  kernelFile: string;
  /** Wanted modules that are loadable modules (not built in). */
  wanted: string[];
  shipped: number;
  missing: string[];
  /** Paths (under lib/modules/<release>/) of every shipped module. */
  paths: string[];
  /** Stage 1's NIC drivers and the paths of their closure. */
  nic: NicSelection;
}

export async function stageKernelModules(kernelDir: string, stage: string, log: (l: string) => void): Promise<StagedKernel> {
  const release = readdirSync(join(kernelDir, 'lib/modules'))[0];
  if (!release) throw new Error(`${kernelDir} has no lib/modules`);
  const kmodDir = join(kernelDir, 'lib/modules', release);
  if (!existsSync(join(kmodDir, 'modules.dep'))) await run('depmod', ['-b', kernelDir, release]);
  const depMap = parseModulesDep(readFileSync(join(kmodDir, 'modules.dep'), 'utf8'));
  const builtin = parseBuiltin(readFileSync(join(kmodDir, 'modules.builtin'), 'utf8'));
  const softdeps = existsSync(join(kmodDir, 'modules.softdep'))
    ? parseSoftdeps(readFileSync(join(kmodDir, 'modules.softdep'), 'utf8'))
    : new Map<string, string[]>();
  const nicOnly = selectNicModules(depMap, builtin, softdeps);
  // Stage 1 also mounts stage 2 (loop, squashfs, overlay): their closure joins the NIC drivers'.
  const rootMods = closeModules(STAGE1_ROOT_MODULES, depMap, builtin, softdeps);
  const nic: NicSelection = {
    ...nicOnly,
    paths: [...new Set([...nicOnly.paths, ...rootMods.paths])].sort(),
    missing: [...new Set([...nicOnly.missing, ...rootMods.missing])],
  };
  // The image carries every NIC driver; those stage 1 leaves out come with stage 2.
  const allNics = selectNicModules(depMap, builtin, softdeps, []);
  const closure = closeModules([...KERNEL_MODULES, ...allNics.drivers, ...NIC_EXTRA_MODULES], depMap, builtin, softdeps);
  const stagedDir = join(stage, 'lib/modules', release);
  for (const p of closure.paths) {
    mkdirSync(dirname(join(stagedDir, p)), { recursive: true });
    copyFileSync(join(kmodDir, p), join(stagedDir, p));
  }
  for (const f of MODULE_INDEX_INPUTS) copyFileSync(join(kmodDir, f), join(stagedDir, f));
  await run('depmod', ['-b', stage, release]);
  writeFileSync(join(stage, 'etc/netimage/modules'), `${MODULES_ALWAYS_LOADED.join('\n')}\n`);
  const missing = [...new Set([...closure.missing, ...nic.missing])];
  if (missing.length) log(`modules neither built in nor shipped: ${missing.join(', ')}`);
  log(`modules: ${closure.paths.length} shipped; stage 1 carries ${nic.paths.length} (${nic.drivers.length} NIC drivers; ${nic.stage2Only.length} data-centre NIC drivers only in stage 2)`);
  return {
    release,
    kernelFile: join(kernelDir, 'boot', `vmlinuz-${release}`),
    wanted: KERNEL_MODULES.filter((m) => !builtin.has(m) && depMap.has(m)).map(moduleName),
    shipped: closure.paths.length,
    missing,
    paths: closure.paths,
    nic,
  };
}
