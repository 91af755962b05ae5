// The Debian packages of one build: fetched into the .deb cache, unpacked under the work dir, and
// the search for a library through the Depends of the packages that need it. Only the fetched
// .debs and apt's candidate versions decide anything: never what the host has installed, so the
// same apt lists give the same packages on every machine.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debDepends, fetchDeb, knownCandidateVersions, unpackDeb, type DebPackage } from './debs.ts';

const LIB_SEARCH = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'lib', 'usr/lib'];

function libIn(dir: string, soname: string): string | null {
  for (const d of LIB_SEARCH) {
    const p = join(dir, d, soname);
    if (existsSync(p)) return p;
  }
  return null;
}

export interface Unpacked {
  deb: DebPackage;
  dir: string;
}

export class PackageSet {
  /** name -> unpacked tree, in the order unpacked (a deterministic order: lookups go in it). */
  private readonly unpacked = new Map<string, Unpacked>();
  private readonly depends = new Map<string, string[][]>();

  private readonly debCache: string;
  private readonly workDir: string;
  /** Candidate versions; grows as dependencies are looked up. */
  readonly versions: Map<string, string>;

  /** apt options for another configuration (the firmware packages' non-free-firmware lists). */
  private readonly aptArgs: readonly string[];

  constructor(debCache: string, workDir: string, versions: Map<string, string>, aptArgs: readonly string[] = []) {
    this.aptArgs = aptArgs;
    this.debCache = debCache;
    this.workDir = workDir;
    this.versions = versions;
  }

  get(name: string): Unpacked {
    const have = this.unpacked.get(name);
    if (!have) throw new Error(`package ${name} is not unpacked`);
    return have;
  }

  version(name: string): string {
    const v = this.versions.get(name);
    if (v === undefined) throw new Error(`no version known for ${name}`);
    return v;
  }

  /** Fetch and unpack name at its candidate version (once; an unpacked tree of that version is reused). */
  async unpack(name: string): Promise<Unpacked> {
    const have = this.unpacked.get(name);
    if (have) return have;
    const version = this.version(name);
    const deb = await fetchDeb(this.debCache, name, version, this.aptArgs);
    const dir = join(this.workDir, name);
    const stamp = join(dir, '.netimage-version');
    if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== version) {
      rmSync(dir, { recursive: true, force: true });
      await unpackDeb(deb, dir);
      writeFileSync(stamp, version);
    }
    const entry = { deb, dir };
    this.unpacked.set(name, entry);
    return entry;
  }

  /** A file named soname in a library dir of an unpacked package, first package first. */
  findLib(soname: string): { path: string; pkg: string } | null {
    for (const [pkg, { dir }] of this.unpacked) {
      const path = libIn(dir, soname);
      if (path) return { path, pkg };
    }
    return null;
  }

  /**
   * The package that provides soname for a file of the packages `from`: already unpacked, else
   * found by walking their Depends breadth first (each level fetched in name order until one has it;
   * the first alternative apt has a candidate for), the way a library's users declare it in Debian.
   */
  async findLibViaDepends(soname: string, from: readonly string[]): Promise<{ path: string; pkg: string } | null> {
    const unknown = from.filter((n) => !this.versions.has(n));
    for (const [n, v] of await knownCandidateVersions(unknown)) this.versions.set(n, v);
    for (const pkg of from) await this.unpack(pkg);
    const seen = new Set<string>(from);
    let level = [...from];
    for (;;) {
      const found = this.findLib(soname);
      if (found) return found;
      const next = new Set<string>();
      for (const pkg of level) {
        for (const alternatives of await this.dependsOf(pkg)) {
          const pick = alternatives.find((a) => this.versions.has(a));
          if (pick && !seen.has(pick)) next.add(pick);
        }
      }
      if (next.size === 0) return null;
      level = [...next].sort();
      for (const pkg of level) {
        seen.add(pkg);
        const { dir } = await this.unpack(pkg);
        const path = libIn(dir, soname);
        if (path) return { path, pkg };
      }
    }
  }

  /** Depends of an unpacked package; the candidate versions of every name it mentions are looked up. */
  private async dependsOf(name: string): Promise<string[][]> {
    const have = this.depends.get(name);
    if (have) return have;
    const deps = await debDepends((await this.unpack(name)).deb);
    const unknown = [...new Set(deps.flat())].filter((n) => !this.versions.has(n));
    for (const [n, v] of await knownCandidateVersions(unknown)) this.versions.set(n, v);
    this.depends.set(name, deps);
    return deps;
  }
}
