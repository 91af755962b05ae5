// Stage: the firmware files the shipped kernel modules name (`modinfo -F firmware`), taken from
// Debian's firmware packages: firmware-linux-free (main) and the non-free-firmware component.
// The host's apt sources usually list only main, so non-free-firmware is read through a private
// apt configuration (its own sources list, lists and cache under .tools/apt-firmware/) built from
// the host's own mirror URIs and suites: the host's apt setup is left as it is. When the mirror
// does not serve the component the image is built without those files and the manifest says so.
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { run } from '../../lib/process.ts';
import { copyKeepingLinks, listFiles } from './files.ts';
import { selectFirmware, type FirmwareChoice } from './nic-modules.ts';
import { PackageSet } from './packages.ts';
import { knownCandidateVersions } from './debs.ts';

/** Packages whose files NIC, storage and USB drivers name. Only files a shipped module names are taken. */
export const FIRMWARE_PACKAGES: readonly string[] = [
  'firmware-linux-free', // main
  'firmware-realtek', 'firmware-misc-nonfree', 'firmware-bnx2', 'firmware-bnx2x', 'firmware-qlogic',
  'firmware-netxen', 'firmware-myricom', 'firmware-cavium', 'firmware-netronome',
];

const FIRMWARE_DIR = 'lib/firmware';

/** apt options that read the private non-free-firmware configuration in `aptDir`. */
export function firmwareAptArgs(aptDir: string): string[] {
  return [
    '-o', `Dir::Etc::sourcelist=${join(aptDir, 'sources.list')}`,
    '-o', 'Dir::Etc::sourceparts=-',
    '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
    '-o', `Dir::Cache=${join(aptDir, 'cache')}`,
  ];
}

/** `deb URI SUITE non-free-firmware` for every Debian main archive the host's apt knows (from `apt-cache policy`; o=Debian only). */
export function nonFreeFirmwareSources(policy: string, keyring: string | null): string[] {
  const lines = new Set<string>();
  // An archive line is followed by its release line; only Debian's own (o=Debian) have the component.
  for (const m of policy.matchAll(/^\s+\d+\s+(\S+)\s+(\S+)\/main\s+amd64\s+Packages\n\s+release\s+(\S+)/gm)) {
    if (!/(^|,)o=Debian(,|$)/.test(m[3] ?? '')) continue;
    lines.add(`deb ${keyring ? `[signed-by=${keyring}] ` : ''}${m[1]} ${m[2]} non-free-firmware`);
  }
  return [...lines].sort();
}

export interface FirmwareRepo {
  aptArgs: string[];
  /** Candidate versions of the firmware packages the mirror serves. */
  versions: Map<string, string>;
  /** The packages found through the private configuration (the rest through the host's). */
  fromPrivate: ReadonlySet<string>;
  /** Why non-free-firmware could not be read (null when it could). */
  unreachable: string | null;
}

/** The private apt config, its lists fetched once (`apt-get update` when it has none), and the candidates. */
export async function firmwareRepo(aptDir: string, log: (l: string) => void): Promise<FirmwareRepo> {
  const aptArgs = firmwareAptArgs(aptDir);
  let unreachable: string | null = null;
  const hasLists = existsSync(join(aptDir, 'lists')) && readdirSync(join(aptDir, 'lists')).some((f) => f.includes('non-free-firmware'));
  if (!hasLists) {
    const policy = (await run('apt-cache', ['policy'], { env: { LC_ALL: 'C' } })).stdout;
    const keyring = existsSync('/usr/share/keyrings/debian-archive-keyring.gpg') ? '/usr/share/keyrings/debian-archive-keyring.gpg' : null;
    const sources = nonFreeFirmwareSources(policy, keyring);
    mkdirSync(join(aptDir, 'lists/partial'), { recursive: true });
    mkdirSync(join(aptDir, 'cache/archives/partial'), { recursive: true });
    writeFileSync(join(aptDir, 'sources.list'), `${sources.join('\n')}\n`);
    if (sources.length === 0) unreachable = 'the host apt sources list no Debian main archive';
    else {
      log(`apt: fetching the non-free-firmware lists (${sources.length} suites)`);
      const r = await run('apt-get', [...aptArgs, 'update', '-qq'], { reject: false, env: { LC_ALL: 'C' } });
      if (r.exitCode !== 0 || !readdirSync(join(aptDir, 'lists')).some((f) => f.includes('non-free-firmware'))) {
        unreachable = `apt-get update of non-free-firmware failed: ${(r.stderr || r.stdout).split('\n').slice(-2).join(' ')}`;
      }
    }
  }
  const versions = await knownCandidateVersions([...FIRMWARE_PACKAGES], aptArgs);
  const fromPrivate = new Set(versions.keys());
  // firmware-linux-free is in main: the host's own lists.
  for (const [n, v] of await knownCandidateVersions(FIRMWARE_PACKAGES.filter((n) => !versions.has(n)))) versions.set(n, v);
  if (!unreachable && versions.size < FIRMWARE_PACKAGES.length) {
    unreachable = `no candidate for ${FIRMWARE_PACKAGES.filter((n) => !versions.has(n)).join(', ')}`;
  }
  return { aptArgs, versions, fromPrivate, unreachable };
}

/** Firmware names by module path, one modinfo run over all (records split by a marker line). */
export async function firmwareNames(moduleRoot: string, paths: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (paths.length === 0) return out;
  const script = 'for f; do echo "@@netimage $f"; modinfo -F firmware "$f"; done';
  const { stdout } = await run('sh', ['-c', script, 'sh', ...paths], { cwd: moduleRoot });
  let current: string | null = null;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('@@netimage ')) {
      current = line.slice('@@netimage '.length);
      out.set(current, []);
    } else if (current && line.trim()) out.get(current)!.push(line.trim());
  }
  return out;
}

export interface StagedFirmware {
  choice: FirmwareChoice;
  /** Stage-relative paths written (lib/firmware/...), symlinks included. */
  paths: string[];
  bytes: number;
  packages: { name: string; version: string }[];
  unreachable: string | null;
  /** Stage-relative paths of the firmware these modules (names) name, link targets included. */
  pathsFor: (modules: ReadonlySet<string>) => string[];
}

/**
 * Copies into the stage's /lib/firmware every file a shipped module names that the firmware
 * packages have. `modules`: module name -> firmware names.
 */
export async function stageFirmware(opts: {
  stage: string;
  debCache: string;
  workDir: string;
  repo: FirmwareRepo;
  modules: ReadonlyMap<string, readonly string[]>;
}): Promise<StagedFirmware> {
  const privatePkgs = new PackageSet(opts.debCache, opts.workDir, opts.repo.versions, opts.repo.aptArgs);
  const hostPkgs = new PackageSet(opts.debCache, opts.workDir, opts.repo.versions);
  const available = new Map<string, { pkg: string; linkTo?: string }>();
  const dirs = new Map<string, string>();
  for (const name of [...opts.repo.versions.keys()].sort()) {
    const { dir } = await (opts.repo.fromPrivate.has(name) ? privatePkgs : hostPkgs).unpack(name);
    dirs.set(name, dir);
    for (const f of listFiles(join(dir, FIRMWARE_DIR))) {
      const rel = relative(join(dir, FIRMWARE_DIR), f);
      if (available.has(rel)) continue;
      const st = lstatSync(f);
      const entry: { pkg: string; linkTo?: string } = { pkg: name };
      if (st.isSymbolicLink()) entry.linkTo = posix.normalize(posix.join(posix.dirname(rel), readlinkSync(f)));
      available.set(rel, entry);
    }
  }
  const choice = selectFirmware(opts.modules, available);
  const pathsFor = (names: ReadonlySet<string>): string[] =>
    selectFirmware(new Map([...opts.modules].filter(([m]) => names.has(m))), available).files.map((f) => `${FIRMWARE_DIR}/${f.name}`);
  const paths = new Set<string>();
  let bytes = 0;
  for (const f of choice.files) {
    const dir = dirs.get(f.pkg)!;
    for (const p of copyKeepingLinks(dir, join(FIRMWARE_DIR, f.name), opts.stage)) {
      if (paths.has(p)) continue;
      paths.add(p);
      const st = lstatSync(join(opts.stage, p));
      if (st.isFile()) bytes += st.size;
    }
  }
  const used = new Set(choice.files.map((f) => f.pkg));
  return {
    choice,
    paths: [...paths].sort(),
    bytes,
    packages: [...used].sort().map((name) => ({ name, version: opts.repo.versions.get(name)! })),
    unreachable: opts.repo.unreachable,
    pathsFor,
  };
}
