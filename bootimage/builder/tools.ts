// Stage: the disk tools, file by file out of their unpacked packages, then busybox applet links
// for every command no real tool provides.
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { run } from '../../lib/process.ts';
import { TOOL_PACKAGES } from './contents.ts';
import { copyKeepingLinks } from './files.ts';
import type { Manifest } from './manifest.ts';
import type { PackageSet } from './packages.ts';

export const BIN_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin'];

/** Paths inside a package matching a TOOL_PACKAGES entry ('partclone.*' = every match in a bin dir). */
function toolPaths(dir: string, pattern: string): string[] {
  if (!pattern.includes('*')) return [pattern];
  const re = new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
  return BIN_DIRS.flatMap((b) => (existsSync(join(dir, b)) ? readdirSync(join(dir, b)).filter((f) => re.test(f)).map((f) => `${b}/${f}`) : []));
}

export interface StagedTools {
  tools: Manifest['tools'];
  /** The package of every path copied (stage-relative): where its libraries are looked for. */
  ownerOf: Map<string, string>;
}

export async function stageTools(packages: PackageSet, toolPkgs: readonly string[], stage: string): Promise<StagedTools> {
  const tools: Manifest['tools'] = [];
  const ownerOf = new Map<string, string>();
  for (const pkg of toolPkgs) {
    const { dir } = packages.get(pkg);
    for (const pattern of TOOL_PACKAGES[pkg] ?? []) {
      for (const rel of toolPaths(dir, pattern)) {
        if (!lstatSync(join(dir, rel), { throwIfNoEntry: false })) throw new Error(`${pkg} ${packages.version(pkg)} has no ${rel}`);
        for (const copied of copyKeepingLinks(dir, rel, stage)) ownerOf.set(copied, pkg);
        tools.push({ name: rel.split('/').pop()!, path: `/${rel}`, package: pkg, version: packages.version(pkg) });
      }
    }
  }
  await linkBusyboxApplets(stage, new Set(tools.map((t) => t.name)));
  return { tools: tools.sort((a, b) => a.path.localeCompare(b.path)), ownerOf };
}

/** busybox applets for everything the real tools don't provide (a real tool always wins). */
async function linkBusyboxApplets(stage: string, toolNames: ReadonlySet<string>): Promise<void> {
  const busybox = join(stage, 'bin/busybox');
  const applets = (await run(busybox, ['--list-full'])).stdout.split('\n').filter(Boolean);
  for (const a of applets) {
    const name = a.split('/').pop()!;
    if (toolNames.has(name) || name === 'busybox' || name === 'linuxrc' || existsSync(join(stage, a))) continue;
    mkdirSync(dirname(join(stage, a)), { recursive: true });
    symlinkSync(relative(dirname(join(stage, a)), busybox), join(stage, a));
  }
}
