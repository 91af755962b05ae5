// What a root filesystem build is made of, pure: the OS, its apt sources, the package list and
// the builder's recipe version. The sha256 of these inputs names the depot entry, so a second
// build with the same inputs is a cache hit. The proxy is not an input: it changes the way, not
// the bytes. The mirror's content is not an input either: `os build --rebuild` picks up updates.
import { createHash } from 'node:crypto';
import type { AptSource } from './apt-sources.ts';
import { NetimageError } from '../../lib/errors.ts';

export interface OsDefinition {
  id: string;
  /** Same recipe, other archive: what differs is in the fields below (docs/linux-install.md). */
  family: 'debian' | 'ubuntu';
  /** apt suite (release code name). */
  suite: string;
  label: string;
  /** Archive components the build installs from (Ubuntu: universe holds some of the base). */
  components: string[];
  /** The kernel meta-package. */
  kernel: string;
  /** systemd-resolved is a package of its own (Debian 12, Ubuntu 24.04), not part of systemd. */
  resolvedPackage: boolean;
  /** Keyring mmdebstrap checks the archive with; null: the build host's default (Debian's). */
  keyring: string | null;
  /** Where the security suite lives: the server's apt's (Debian) or the install mirror (Ubuntu). */
  security: 'server-apt' | 'mirror';
  /** Mirror when neither online_repository nor osImages.mirror names one; null: this server's apt's. */
  defaultMirror: string | null;
}

type Family = Omit<OsDefinition, 'id' | 'suite' | 'label' | 'resolvedPackage'>;
const DEBIAN: Family = { family: 'debian', components: ['main'], kernel: 'linux-image-amd64', keyring: null, security: 'server-apt', defaultMirror: null };
const UBUNTU: Family = {
  family: 'ubuntu',
  components: ['main', 'universe'],
  kernel: 'linux-image-generic',
  keyring: '/usr/share/keyrings/ubuntu-archive-keyring.gpg',
  security: 'mirror',
  defaultMirror: 'http://archive.ubuntu.com/ubuntu',
};

/** The OSes the server can build; the keys are what `netimage os build <os>` takes. */
export const OS_DEFINITIONS: Record<string, OsDefinition> = {
  'debian-12': { id: 'debian-12', suite: 'bookworm', label: 'Debian 12 (bookworm)', resolvedPackage: true, ...DEBIAN },
  // Untested end to end: no Ubuntu mirror is reachable where this is developed (docs/linux-install.md).
  'ubuntu-22.04': { id: 'ubuntu-22.04', suite: 'jammy', label: 'Ubuntu 22.04 LTS (jammy)', resolvedPackage: false, ...UBUNTU },
  'ubuntu-24.04': { id: 'ubuntu-24.04', suite: 'noble', label: 'Ubuntu 24.04 LTS (noble)', resolvedPackage: true, ...UBUNTU },
};

export function osForSuite(suite: string): OsDefinition | null {
  return Object.values(OS_DEFINITIONS).find((o) => o.suite === suite) ?? null;
}

/**
 * Bump when the recipe changes (variant, base packages, hooks, artefact format): old cache
 * entries then no longer match and the next build makes a fresh one.
 */
export const BUILDER_VERSION = 'netimage-rootfs/3'; // 2: the short-code languages' locales compiled in; 3: an ext4 chunked image instead of a tar stream

/** mmdebstrap variant: required + important priority, the base a Debian installer leaves. */
export const VARIANT = 'important';

/**
 * Always in the image: kernel, init, the bootloaders the agent installs (signed shim + grub for
 * UEFI with Secure Boot, grub modules for BIOS), what the PC needs to be reached and configured
 * (ssh, sudo, locales, keymaps, time zones) and to check its file systems at boot.
 * DHCP on every NIC comes from systemd-networkd (part of systemd) with systemd-resolved for DNS.
 */
export const BASE_PACKAGES = [
  'systemd-sysv',
  'shim-signed',
  'grub-efi-amd64-signed',
  'grub-efi-amd64-bin',
  'grub-pc-bin',
  'openssh-server',
  'locales',
  'console-setup',
  'keyboard-configuration',
  'tzdata',
  'sudo',
  'e2fsprogs',
  'dosfstools',
] as const;

/** BASE_PACKAGES plus what the OS names differently: the kernel, systemd-resolved where it is split out. */
export function basePackagesFor(os: OsDefinition): string[] {
  return [...BASE_PACKAGES, os.kernel, ...(os.resolvedPackage ? ['systemd-resolved'] : [])];
}

/** Debian policy: lower case letters, digits, "+", "-", "."; at least two, starting alphanumeric. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

export class SpecError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'SpecError';
  }
}

/** additional_packages as opsi takes it: separated by spaces (commas accepted too). */
export function parsePackageList(text: string): string[] {
  const names = text.split(/[\s,]+/).filter(Boolean);
  const bad = names.filter((n) => !PACKAGE_NAME.test(n));
  if (bad.length) throw new SpecError(`not a Debian package name: ${bad.map((b) => JSON.stringify(b)).join(', ')} (letters a-z, digits, "+", "-", ".")`);
  return names;
}

export interface OsImageSpec {
  os: string;
  suite: string;
  variant: string;
  builder: string;
  /** The image's apt sources, in order: the mirror's suite, its -updates, the security archive. */
  sources: AptSource[];
  /** Base plus additional packages, sorted, without duplicates. */
  packages: string[];
}

export function makeSpec(input: { os: OsDefinition; mirror: string; security: AptSource | null; additionalPackages: string[] }): OsImageSpec {
  const mirror = input.mirror.replace(/\/+$/, '');
  const components = input.os.components;
  const sources: AptSource[] = [
    { uri: mirror, suite: input.os.suite, components },
    { uri: mirror, suite: `${input.os.suite}-updates`, components },
  ];
  if (input.os.security === 'mirror') sources.push({ uri: mirror, suite: `${input.os.suite}-security`, components });
  else if (input.security) sources.push({ uri: input.security.uri, suite: input.security.suite, components });
  return {
    os: input.os.id,
    suite: input.os.suite,
    variant: VARIANT,
    builder: BUILDER_VERSION,
    sources,
    packages: [...new Set([...basePackagesFor(input.os), ...input.additionalPackages])].sort(),
  };
}

/** sha256 over the inputs in a fixed key order. */
export function specHash(spec: OsImageSpec): string {
  const canonical = JSON.stringify({
    os: spec.os,
    suite: spec.suite,
    variant: spec.variant,
    builder: spec.builder,
    sources: spec.sources.map((s) => ({ uri: s.uri, suite: s.suite, components: s.components })),
    packages: spec.packages,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** Depot entry name of a spec's root filesystem: "debian-12-<first 16 hex of the input hash>". */
export function rootfsEntryName(spec: OsImageSpec): string {
  return `${spec.os}-${specHash(spec).slice(0, 16)}`;
}

/** One-line apt source for mmdebstrap and the image's sources.list. */
export function sourceLine(s: AptSource): string {
  return `deb ${s.uri} ${s.suite} ${s.components.join(' ')}`;
}
