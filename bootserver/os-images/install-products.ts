// The OS install products (opsi-local-image-debian, -ubuntu) on the server side: what their
// properties mean for a root filesystem build, and the checks that run when an admin sets the
// action, before anything is stored: passwords are hashed (only the hash is kept and sent), the
// release, the mirror (through the proxy) and every additional package are checked, so a PC is
// never told to boot into an install that cannot complete.
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { PRODUCT_ID_PATTERN, ProductId, productFacts } from '../../lib/products.ts';
import { productIds } from '../service/agent-scope.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import type { ProductDefinition } from '../store/types.ts';
import { PropertyValidationError, effectivePropertyValues, validatePropertyValues } from '../products/properties.ts';
import { ConflictError, type ActionSetHook } from '../service/netboot.ts';
import { entryId } from '../depot/manifest.ts';
import { sourceForSuite, type AptSource } from './apt-sources.ts';
import type { BuildRequest } from './build.ts';
import { MirrorError, type MirrorChecker } from './mirror.ts';
import { SECRET_PROPERTIES, type SecretProperty } from '../products/secret-properties.ts';
import { PasswordError, checkClearPassword, hashPassword, isPasswordHash } from './passwords.ts';
import { OS_DEFINITIONS, SpecError, makeSpec, parsePackageList, rootfsEntryName, type OsDefinition, type OsImageSpec } from './spec.ts';

export interface InstallProduct {
  /** release property value -> OS the server builds for it (spec.ts OS_DEFINITIONS). */
  releases: Record<string, string>;
}

export const INSTALL_PRODUCTS: Record<string, InstallProduct> = {
  [ProductId.debian]: { releases: { bookworm: 'debian-12' } },
  // Same code, Ubuntu's archive (spec.ts says what differs); untested end to end: this machine
  // reaches no Ubuntu mirror (docs/linux-install.md).
  [ProductId.ubuntu]: { releases: { jammy: 'ubuntu-22.04', noble: 'ubuntu-24.04' } },
};

/** The hashed secret properties (products/secret-properties.ts has the one list). */
export const PASSWORD_PROPERTIES = (Object.keys(SECRET_PROPERTIES) as SecretProperty[]).filter((n) => SECRET_PROPERTIES[n] === 'hashed');

export interface InstallPolicyOptions {
  /** Sources of this server's own apt (for the default mirror and the security archive). */
  aptSources: AptSource[];
  /** config osImages.mirror: overrides the server's apt mirror as the default. */
  mirror: string | null;
  mirrors: MirrorChecker;
  /**
   * Starts (or joins) the root filesystem build when the action is set; none: checks only.
   * A site server passes one that pulls from its main server instead (os-images/wiring.ts).
   */
  builds?: { ensure(request: BuildRequest): Promise<unknown> };
}

export interface ResolvedInstall {
  spec: OsImageSpec;
  proxy: string | null;
  entryId: string;
}

function text(values: Record<string, PropertyValue>, name: string): string {
  const v = values[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(' ') : '';
}

function asHttpUrl(what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PropertyValidationError(`${what} is not a URL: ${JSON.stringify(value)} (e.g. http://deb.example.org/debian)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PropertyValidationError(`${what} must be an http:// or https:// URL, not ${url.protocol}`);
  return value.replace(/\/+$/, '');
}

/** Queued by the server at the first boot (service/os-install.ts): refuse now what it could not queue. */
export function checkSetupAfterInstall(productId: string, effective: Record<string, PropertyValue>): void {
  const bad = productIds(effective['setup_after_install']).filter((id) => !PRODUCT_ID_PATTERN.test(id) || id === productId);
  if (bad.length) throw new PropertyValidationError(`${productId}.setup_after_install: ${bad.map((b) => JSON.stringify(b)).join(', ')} cannot be queued after the install (product ids only, not the install itself)`);
}

export class InstallPolicy implements ActionSetHook {
  private readonly options: InstallPolicyOptions;

  constructor(options: InstallPolicyOptions) {
    this.options = options;
  }

  handles(productId: string): boolean {
    return productId in INSTALL_PRODUCTS;
  }

  /**
   * The mirror builds use when nothing else is said. Debian: config, else this server's apt.
   * Ubuntu: the OS's public archive (config osImages.mirror is the Debian mirror).
   */
  defaultMirror(os: OsDefinition): string {
    const mirror = os.defaultMirror ?? this.options.mirror ?? sourceForSuite(this.options.aptSources, os.suite)?.uri ?? null;
    if (!mirror) throw new ConflictError(`no Debian mirror known for ${os.suite}: this server's apt has none; set osImages.mirror or the online_repository property`);
    return mirror;
  }

  /** Build spec and proxy for an OS by id (the `os build` verb and the action check). */
  resolveOs(os: string, input: { mirror?: string | null; additionalPackages?: string[]; proxy?: string | null }): ResolvedInstall {
    const def = OS_DEFINITIONS[os];
    if (!def) throw new PropertyValidationError(`unknown OS ${JSON.stringify(os)}: the server builds ${Object.keys(OS_DEFINITIONS).join(', ')}`);
    const mirror = input.mirror ? asHttpUrl('online_repository', input.mirror) : this.defaultMirror(def);
    const proxy = input.proxy ? asHttpUrl('proxy', input.proxy) : null;
    const security = sourceForSuite(this.options.aptSources, `${def.suite}-security`);
    const spec = makeSpec({ os: def, mirror, security, additionalPackages: input.additionalPackages ?? [] });
    return { spec, proxy, entryId: entryId('rootfs', rootfsEntryName(spec)) };
  }

  /** What an install product's effective property values ask the server to build. */
  resolveProduct(productId: string, effective: Record<string, PropertyValue>): ResolvedInstall {
    const product = INSTALL_PRODUCTS[productId];
    if (!product) throw new Error(`${productId} is not an install product`);
    const release = text(effective, 'release');
    if (!(release in product.releases)) {
      throw new PropertyValidationError(`${productId}.release ${JSON.stringify(release)} is unknown: use one of ${Object.keys(product.releases).join(', ')}`);
    }
    const os = product.releases[release]!;
    let additionalPackages: string[];
    try {
      additionalPackages = parsePackageList(text(effective, 'additional_packages'));
    } catch (error) {
      if (error instanceof SpecError) throw new PropertyValidationError(`${productId}.additional_packages: ${error.message}`);
      throw error;
    }
    // Empty online_repository: the mirror this server's own apt uses.
    return this.resolveOs(os, { mirror: text(effective, 'online_repository') || null, additionalPackages, proxy: text(effective, 'proxy') || null });
  }

  /** Reachable mirror with the release, and every package known to it; 400 otherwise. */
  async checkMirror(productId: string, resolved: ResolvedInstall): Promise<void> {
    let names: Set<string>;
    try {
      names = await this.options.mirrors.check(resolved.spec.sources, { proxy: resolved.proxy });
    } catch (error) {
      if (error instanceof MirrorError) throw new PropertyValidationError(
          `${productId}: the mirror cannot be used: ${error.message}; ${productId.startsWith('os build') ? 'give a mirror this server reaches (--mirror URL) or an HTTP proxy (--proxy URL)' : 'set a mirror this server reaches (--prop online_repository=URL) or an HTTP proxy (--prop proxy=URL)'}; nothing was changed`,
        );
      throw error;
    }
    const unknown = resolved.spec.packages.filter((p) => !names.has(p));
    if (unknown.length) {
      throw new PropertyValidationError(`${productId}.additional_packages: not on the mirror ${resolved.spec.sources[0]!.uri} (${resolved.spec.suite} ${resolved.spec.sources[0]!.components.join(' ')}): ${unknown.join(', ')}`);
    }
  }

  /** Passwords become yescrypt hashes; a value that already is a hash is kept. */
  async hashPasswords(productId: string, values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    if (!this.handles(productId)) return values;
    const out = { ...values };
    for (const name of PASSWORD_PROPERTIES) {
      const value = out[name];
      if (value === undefined) continue;
      if (typeof value !== 'string') throw new PropertyValidationError(`${productId}.${name} is one text value`);
      if (isPasswordHash(value)) continue;
      try {
        checkClearPassword(`${productId}.${name}`, value);
        out[name] = await hashPassword(value);
      } catch (error) {
        if (error instanceof PasswordError) throw new PropertyValidationError(error.message);
        throw error;
      }
    }
    return out;
  }

  // ---- ActionSetHook ----

  async beforeStoreProperties(product: ProductDefinition, values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    return this.hashPasswords(product.id, values);
  }

  async beforeActionSet(product: ProductDefinition, actionRequest: ActionRequest, given: Record<string, PropertyValue>, stored: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    if (!this.handles(product.id) || !isPendingRequest(actionRequest)) return this.hashPasswords(product.id, given);
    const hashed = await this.hashPasswords(product.id, given);
    const normalised = validatePropertyValues(product, hashed, { allowReadOnly: false });
    const effective = effectivePropertyValues(product, { ...stored, ...normalised });
    // Defaults (linux123) are clear text in the catalogue: store their hash for this client,
    // so the job the agent gets carries only hashes.
    for (const name of PASSWORD_PROPERTIES) {
      const value = effective[name];
      if (typeof value === 'string' && !isPasswordHash(value)) Object.assign(normalised, await this.hashPasswords(product.id, { [name]: value }));
    }
    checkSetupAfterInstall(product.id, effective);
    checkTimezone(product.id, effective);
    const resolved = this.resolveProduct(product.id, effective);
    await this.checkMirror(product.id, resolved);
    // The boot image's agent cannot install an OS yet (issue 11: laydown, bootloader, first-boot
    // report come next; lib/products.ts says so). After every check, so the admin learns of bad
    // input now, this 409 keeps a PC from being sent into an install that stops half way.
    if (!productFacts(product.id)?.inBootImage) {
      throw new ConflictError(
        `${product.id} cannot be set yet: the boot image has no installer for it (its root filesystem ${resolved.entryId} can be built already: netimage os build ${resolved.spec.os}). Nothing was changed.`,
      );
    }
    // The PC's config offers the install only once the root filesystem is in the depot
    // (service/os-install.ts holds it meanwhile): start or join its build now. A cached entry
    // answers at once; a failed build fails the action with its reason.
    await this.options.builds?.ensure({ spec: resolved.spec, proxy: resolved.proxy });
    return normalised;
  }

  /** Depot entries a job of this product may read: the root filesystem of its properties. */
  grantsFor(productId: string, effective: Record<string, PropertyValue>): string[] {
    if (!this.handles(productId)) return [];
    try {
      return [this.resolveProduct(productId, effective).entryId];
    } catch {
      return [];
    }
  }
}

/**
 * The PC looks the zone up in the root filesystem's tzdata only after the build and the laydown
 * (imaging/linux-install/configure.ts): an unknown zone is refused here, where the admin sees it.
 * Node's ICU knows the IANA zones tzdata has (aliases like UTC too).
 */
function checkTimezone(productId: string, effective: Record<string, PropertyValue>): void {
  const zone = text(effective, 'timezone').trim();
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    if (zone !== '') return;
  } catch {
    // RangeError: an unknown zone
  }
  throw new PropertyValidationError(`${productId}.timezone: ${JSON.stringify(zone)} is not a time zone (an IANA name like Europe/Berlin); nothing was changed`);
}
