// Debian packages for the boot image: resolve versions with apt-cache, fetch with `apt-get download`
// into a cache (never installed on the host), unpack with `dpkg-deb -x`, read their Depends from the
// .deb itself. Nothing here looks at which packages the host has installed.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';

export interface DebPackage {
  name: string;
  version: string;
  file: string;
}

/** Candidate versions of those names apt has a candidate for (virtual packages have none), one apt-cache call. */
export async function knownCandidateVersions(names: readonly string[], aptArgs: readonly string[] = []): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  if (names.length === 0) return versions;
  const out = await run('apt-cache', [...aptArgs, 'policy', ...names], { env: { LC_ALL: 'C' } });
  let current: string | null = null;
  for (const line of out.stdout.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head?.[1]) {
      current = head[1];
      continue;
    }
    const cand = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (cand?.[1] && current && cand[1] !== '(none)') versions.set(current, cand[1]);
  }
  return versions;
}

/** Candidate versions of many packages; every one must have a candidate. */
export async function candidateVersions(names: readonly string[]): Promise<Map<string, string>> {
  const versions = await knownCandidateVersions(names);
  for (const n of names) if (!versions.has(n)) throw new Error(`apt has no candidate for ${n}: run apt-get update`);
  return versions;
}

/** The versioned kernel package the metapackage points at (linux-image-amd64 -> linux-image-6.1.0-N-amd64). */
export async function kernelPackage(meta = 'linux-image-amd64'): Promise<string> {
  const out = await run('apt-cache', ['depends', meta], { env: { LC_ALL: 'C' } });
  const m = /Depends:\s+(linux-image-\S+)/.exec(out.stdout);
  if (!m?.[1]) throw new Error(`cannot resolve ${meta} to a kernel package`);
  return m[1];
}

function debFileName(name: string, version: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_amd64.deb`;
}

/** The cached .deb for name=version, downloading it when absent (`aptArgs`: another apt configuration). */
export async function fetchDeb(cacheDir: string, name: string, version: string, aptArgs: readonly string[] = []): Promise<DebPackage> {
  mkdirSync(cacheDir, { recursive: true });
  const want = debFileName(name, version);
  const allName = want.replace(/_amd64\.deb$/, '_all.deb');
  for (const f of [want, allName]) if (existsSync(join(cacheDir, f))) return { name, version, file: join(cacheDir, f) };
  await run('apt-get', [...aptArgs, 'download', '-q', `${name}=${version}`], { cwd: cacheDir });
  for (const f of [want, allName]) if (existsSync(join(cacheDir, f))) return { name, version, file: join(cacheDir, f) };
  const near = readdirSync(cacheDir).filter((f) => f.startsWith(`${name}_`));
  throw new Error(`apt-get download ${name}=${version} produced no ${want} (have: ${near.join(', ')})`);
}

export async function unpackDeb(deb: DebPackage, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await run('dpkg-deb', ['-x', deb.file, dir]);
}

/**
 * The `Depends` and `Pre-Depends` of a package as alternatives (`a | b` -> ['a', 'b']), names only:
 * versions, architecture qualifiers and build profiles are dropped.
 */
export function parseDepends(control: string): string[][] {
  const fields: string[] = [];
  let current: string | null = null;
  for (const line of control.split('\n')) {
    if (/^\s/.test(line) && current !== null) {
      current += ` ${line.trim()}`;
      continue;
    }
    if (current !== null) fields.push(current);
    const m = /^(Pre-Depends|Depends):\s*(.*)$/.exec(line);
    current = m ? (m[2] ?? '') : null;
  }
  if (current !== null) fields.push(current);
  return fields
    .flatMap((f) => f.split(','))
    .map((group) =>
      group
        .split('|')
        .map((alt) => alt.trim().split(/[\s(:[<]/)[0] ?? '')
        .filter(Boolean),
    )
    .filter((alts) => alts.length > 0);
}

/** What a fetched .deb declares it depends on (its control file, not the host's dpkg database). */
export async function debDepends(deb: DebPackage): Promise<string[][]> {
  return parseDepends((await run('dpkg-deb', ['-f', deb.file], { env: { LC_ALL: 'C' } })).stdout);
}
