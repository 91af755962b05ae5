// Stage: the kernel's modules. The wanted list closed over modules.dep/softdep, copied into the
// stage and indexed with depmod there.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../../lib/process.ts';
import { KERNEL_MODULES, MODULES_ALWAYS_LOADED } from './contents.ts';
import { closeModules, moduleName, parseBuiltin, parseModulesDep, parseSoftdeps } from './modules-dep.ts';

export interface StagedKernel {
  release: string;
  /** The vmlinuz inside the unpacked kernel package. */
  kernelFile: string;
  /** Wanted modules that are loadable modules (not built in). */
  wanted: string[];
  shipped: number;
  missing: string[];
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
  const closure = closeModules(KERNEL_MODULES, depMap, builtin, softdeps);
  const stagedDir = join(stage, 'lib/modules', release);
  for (const p of closure.paths) {
    mkdirSync(dirname(join(stagedDir, p)), { recursive: true });
    copyFileSync(join(kmodDir, p), join(stagedDir, p));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    copyFileSync(join(kmodDir, f), join(stagedDir, f));
  }
  await run('depmod', ['-b', stage, release]);
  writeFileSync(join(stage, 'etc/netimage/modules'), `${MODULES_ALWAYS_LOADED.join('\n')}\n`);
  if (closure.missing.length) log(`modules neither built in nor shipped: ${closure.missing.join(', ')}`);
  return {
    release,
    kernelFile: join(kernelDir, 'boot', `vmlinuz-${release}`),
    wanted: KERNEL_MODULES.filter((m) => !builtin.has(m) && depMap.has(m)).map(moduleName),
    shipped: closure.paths.length,
    missing: closure.missing,
  };
}
