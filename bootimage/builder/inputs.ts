// The build's inputs and their hash: apt candidate versions of every package, the node binary,
// the agent bundle, the build's own sources. An unchanged hash means an unchanged image.
import { relative } from 'node:path';
import { run } from '../../lib/process.ts';
import { TOOL_PACKAGES } from './contents.ts';
import { candidateVersions, kernelPackage } from './debs.ts';
import { sha256, sha256File } from './files.ts';
import { agentDigest } from './payload.ts';
import type { Compression, Manifest } from './manifest.ts';

export interface BuildInputs {
  kernelPackage: string;
  /** Packages every build unpacks (kernel, tools, libc6). */
  rootNames: string[];
  /** Candidate versions of the root packages and of the previous build's library packages. */
  versions: Map<string, string>;
  nodeVersion: string | null;
  /** The hash over these inputs plus the given library packages (found by walking DT_NEEDED). */
  hash: (libraryPackages: Iterable<string>) => string;
}

export async function resolveInputs(opts: {
  root: string;
  variant: 'agent' | 'reference';
  compression: Compression;
  keepIcu: boolean;
  nodeBin: string;
  /** The bundled agent's directory (agent variant only). */
  agentDir: string | null;
  ownSources: string[];
  previous: Manifest | null;
  /** Versions of packages outside the host's apt lists (the firmware packages), hashed too. */
  extraVersions?: ReadonlyMap<string, string>;
}): Promise<BuildInputs> {
  const kernelPkg = await kernelPackage();
  const rootNames = [kernelPkg, ...Object.keys(TOOL_PACKAGES), 'libc6'];
  const previousLibs = (opts.previous?.packages ?? []).filter((p) => p.role === 'library').map((p) => p.name);
  const versions = await candidateVersions([...new Set([...rootNames, ...previousLibs])]);
  const nodeVersion = opts.agentDir ? (await run(opts.nodeBin, ['--version'])).stdout.trim().replace(/^v/, '') : null;
  const fixed = {
    variant: opts.variant,
    compression: opts.compression,
    keepIcu: opts.keepIcu,
    node: opts.agentDir ? { nodeVersion, sha: sha256File(opts.nodeBin) } : null,
    agent: opts.agentDir ? agentDigest(opts.agentDir).sha256 : null,
    sources: opts.ownSources.map((f) => [relative(opts.root, f), sha256File(f)]),
    extra: [...(opts.extraVersions ?? new Map())].sort(),
  };
  // The library packages are only known after a build walked DT_NEEDED: the hash covers the set
  // the last build found (from its manifest), at today's candidate versions.
  const hash = (libraryPackages: Iterable<string>): string =>
    sha256(
      JSON.stringify({
        ...fixed,
        versions: [...new Set([...rootNames, ...libraryPackages])].sort().map((n) => [n, versions.get(n) ?? null]),
      }),
    );
  return { kernelPackage: kernelPkg, rootNames, versions, nodeVersion, hash };
}
