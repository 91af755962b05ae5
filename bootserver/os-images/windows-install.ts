// Unattended Windows (opsi-local-image-win10-x64 / -win11-x64, opsi's NT6 flow) on the server
// side: the checks when an admin sets the action, before anything is stored, and the depot entry
// a job may read. The install media are a `windows-media` depot entry named by the product id
// (`netimage depot import`): `winpe/` (the admin's ADK WinPE), `installfiles/` (the ISO's
// content), `drivers/`, `custom/`, and `meta.editions` [{index, name}] read from install.wim|esd.
// A PC is only sent into the install when WinPE, the install image and the chosen edition are
// there and the answer file can be made from the properties. The images `imagename` may name are
// the medium's editions and those of a WIM captured for this product (`wim/<product>`, uploaded
// by opsi-local-image-wim-capture): both are the property's choices in every product view, and
// an image only the captured WIM has is installed from it (the plan's `installImage`).
import { z } from 'zod';
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { isWindowsInstall } from '../jobs/first-boot.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import type { DepotEntry } from '../depot/depot.ts';
import { entryId, type DepotManifest } from '../depot/manifest.ts';
import { WIM_UPLOAD_PATH } from '../depot/wim-upload.ts';
import { PropertyValidationError, effectivePropertyValues, validatePropertyValues } from '../products/properties.ts';
import { ConflictError, type ActionSetHook } from '../service/netboot.ts';
import type { ProductDefinition } from '../store/types.ts';
import { unattendValues, unattendValuesFromProperties } from '../../lib/unattend-values.ts';
import { hostnameOf } from './install-plan.ts';
import { checkSetupAfterInstall } from './install-products.ts';
import { dropMaskedSecrets, isSealed, type PropertySecrets } from '../products/secret-properties.ts';

export const WINDOWS_MEDIA_KIND = 'windows-media';
export const CAPTURED_WIM_KIND = 'wim';

/** The files WinPE must have to boot: UEFI loader, BIOS boot manager, and the WinPE image. */
export const WINPE_REQUIRED = ['winpe/EFI/Boot/bootx64.efi', 'winpe/bootmgr', 'winpe/sources/boot.wim'] as const;
export const INSTALL_IMAGES = ['installfiles/sources/install.wim', 'installfiles/sources/install.esd'] as const;

const editions = z.array(z.object({ index: z.number().int().positive(), name: z.string().min(1) }).loose()).min(1);
export type Edition = z.infer<typeof editions>[number];

/** What the depot entry of a Windows product offers, or why it cannot be installed from (409). Pure. */
export function checkWindowsMedia(productId: string, manifest: DepotManifest | null): { editions: Edition[] } {
  const id = entryId(WINDOWS_MEDIA_KIND, productId);
  if (!manifest) throw new ConflictError(`${productId}: the depot has no ${id}: import the Windows medium and the ADK WinPE first (netimage depot import ${productId} <iso-or-dir>; see docs/windows.md). Nothing was changed.`);
  const paths = new Set(manifest.files.map((f) => f.path));
  const missing = WINPE_REQUIRED.filter((p) => !paths.has(p));
  if (missing.length) throw new ConflictError(`${productId}: ${id} has no usable WinPE (missing ${missing.join(', ')}): copy the media folder of the ADK's copype into winpe/ and import again. Nothing was changed.`);
  if (!INSTALL_IMAGES.some((p) => paths.has(p))) throw new ConflictError(`${productId}: ${id} has neither ${INSTALL_IMAGES.join(' nor ')}: is installfiles/ a Windows installation medium? Nothing was changed.`);
  const parsed = editions.safeParse(manifest.meta['editions']);
  if (!parsed.success) throw new ConflictError(`${productId}: ${id} lists no editions (meta.editions) of its install image: import it again. Nothing was changed.`);
  return { editions: parsed.data };
}

/** The images of a captured WIM entry (meta.editions of wim/<product>), none when absent or unreadable. Pure. */
export function capturedEditions(manifest: DepotManifest | null): Edition[] {
  if (!manifest || !manifest.files.some((f) => f.path === WIM_UPLOAD_PATH)) return [];
  const parsed = editions.safeParse(manifest.meta['editions']);
  return parsed.success ? parsed.data : [];
}

/** The names `imagename` may take: the medium's editions, then the captured WIM's not among them. Pure. */
export function imageNameChoices(media: readonly Edition[], captured: readonly Edition[]): string[] {
  return [...new Set([...media.map((e) => e.name), ...captured.map((e) => e.name)])];
}

/** Where the chosen image comes from: the medium's install image, or the captured WIM. */
export type ImageSource = { from: 'media'; edition: Edition } | { from: 'captured'; edition: Edition };

/**
 * The image `imagename` names (exactly, as wimlib prints it): the medium's edition of that name,
 * else the captured WIM's; or a 409 listing every choice. Pure.
 */
export function chooseEdition(productId: string, imageName: string, list: readonly Edition[], captured: readonly Edition[] = []): ImageSource {
  const names = imageNameChoices(list, captured).map((n) => JSON.stringify(n)).join(', ');
  const where = entryId(WINDOWS_MEDIA_KIND, productId) + (captured.length ? ` or ${entryId(CAPTURED_WIM_KIND, productId)}` : '');
  if (!imageName) throw new ConflictError(`${productId}.imagename is required: one of ${names}. Nothing was changed.`);
  const found = list.find((e) => e.name === imageName);
  if (found) return { from: 'media', edition: found };
  const fromCapture = captured.find((e) => e.name === imageName);
  if (fromCapture) return { from: 'captured', edition: fromCapture };
  throw new ConflictError(`${productId}.imagename ${JSON.stringify(imageName)} is not an image of ${where}: use one of ${names}. Nothing was changed.`);
}

/**
 * The answer file's values, checked now with the renderer's own schema (the agent renders it with
 * the PC's layout.json, which only the PC has): a product key
 * of the wrong form, a missing administrator password, a bad locale are 400s at action set.
 */
export function checkUnattendValues(productId: string, clientId: string, effective: Record<string, PropertyValue>): void {
  const parsed = unattendValues.safeParse(unattendValuesFromProperties({ productId, properties: effective, hostname: hostnameOf(clientId) }));
  if (parsed.success) return;
  const names: Record<string, string> = {
    imageName: 'imagename',
    productKey: 'productkey',
    uiLanguage: 'language',
    inputLocale: 'system_keyboard_layout',
    systemLocale: 'system_language',
    userLocale: 'system_language',
    timeZone: 'system_timezone',
    computerName: 'the client id (computer name)',
    adminPassword: 'administrator_password',
    organization: 'orgname',
    fullName: 'fullname',
    domain: 'domain_*',
    workgroup: 'workgroup',
  };
  const problems = parsed.error.issues.map((i) => `${productId}.${names[String(i.path[0])] ?? String(i.path[0])}${i.path.length > 1 ? `.${i.path.slice(1).join('.')}` : ''} ${i.message}`);
  throw new PropertyValidationError(problems.join('; '));
}

export interface WindowsMediaSource {
  get(kind: typeof WINDOWS_MEDIA_KIND | typeof CAPTURED_WIM_KIND, name: string): Promise<DepotEntry | null>;
}

/** What a Windows job installs from: the media entry, the image, and the captured WIM entry when the image is its. */
export interface ResolvedImage {
  entry: DepotEntry;
  edition: Edition;
  captured: DepotEntry | null;
}

/**
 * The Windows passwords as typed, checked with the answer file's own rules before they are
 * sealed (once sealed they are opened only for the job's plan). Names the property, never the value.
 */
export function checkWindowsSecrets(productId: string, values: Record<string, PropertyValue>): void {
  const rules = { administrator_password: unattendValues.shape.adminPassword, domain_password: unattendValues.shape.domain.unwrap().shape.password } as const;
  const problems: string[] = [];
  for (const [name, rule] of Object.entries(rules)) {
    const v = values[name];
    if (v === undefined || v === '' || isSealed(v)) continue;
    if (typeof v !== 'string') problems.push(`${productId}.${name} is one text value`);
    else {
      const r = rule.safeParse(v);
      if (!r.success) problems.push(`${productId}.${name} ${r.error.issues.map((i) => i.message).join(', ')}`);
    }
  }
  if (problems.length) throw new PropertyValidationError(problems.join('; '));
}

/** A sealed secret stands as "set" for the checks at action set (it was checked when it was stored). */
const SET_PLACEHOLDER = 'set';
const sealedAsSet = (values: Record<string, PropertyValue>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, isSealed(v) ? SET_PLACEHOLDER : v]));

export class WindowsInstallPolicy implements ActionSetHook {
  private readonly depot: WindowsMediaSource;
  private readonly secrets: PropertySecrets;

  constructor(depot: WindowsMediaSource, secrets: PropertySecrets) {
    this.depot = depot;
    this.secrets = secrets;
  }

  /** The job's effective values with its passwords opened: only for the staging plan (service/os-install.ts). */
  async openSecrets(effective: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    return this.secrets.open(effective);
  }

  handles(productId: string): boolean {
    return isWindowsInstall(productId);
  }

  /** The media entry and the chosen image of a job's (or an action's) effective values. */
  async resolve(productId: string, effective: Record<string, PropertyValue>): Promise<ResolvedImage> {
    const entry = await this.depot.get(WINDOWS_MEDIA_KIND, productId);
    const { editions: list } = checkWindowsMedia(productId, entry?.manifest ?? null);
    const captured = await this.depot.get(CAPTURED_WIM_KIND, productId);
    const imageName = typeof effective['imagename'] === 'string' ? effective['imagename'] : '';
    const chosen = chooseEdition(productId, imageName, list, capturedEditions(captured?.manifest ?? null));
    return { entry: entry!, edition: chosen.edition, captured: chosen.from === 'captured' ? captured : null };
  }

  /**
   * Whether an install with these effective values takes its image from the captured WIM
   * (wim/<product>): its imagename is one only the captured WIM has (the medium's edition of a
   * name wins, as in resolve). `depot rm wim/<product>` is refused while a pending install does.
   */
  async readsCapturedWim(productId: string, effective: Record<string, PropertyValue>): Promise<boolean> {
    if (!this.handles(productId)) return false;
    const imageName = typeof effective['imagename'] === 'string' ? effective['imagename'] : '';
    const media = editions.safeParse((await this.depot.get(WINDOWS_MEDIA_KIND, productId))?.manifest.meta['editions']);
    if (media.success && media.data.some((e) => e.name === imageName)) return false;
    return capturedEditions((await this.depot.get(CAPTURED_WIM_KIND, productId))?.manifest ?? null).some((e) => e.name === imageName);
  }

  /**
   * The product as the admin sees it: `imagename`'s choices are the images the depot has for it
   * now (medium and captured WIM), read at each view, so an import or an upload shows at once.
   * Still editable: the action set checks the name (409 with the list).
   */
  async withImageChoices(product: ProductDefinition): Promise<ProductDefinition> {
    if (!this.handles(product.id)) return product;
    const media = await this.depot.get(WINDOWS_MEDIA_KIND, product.id);
    const parsed = editions.safeParse(media?.manifest.meta['editions']);
    const captured = capturedEditions((await this.depot.get(CAPTURED_WIM_KIND, product.id))?.manifest ?? null);
    const choices = imageNameChoices(parsed.success ? parsed.data : [], captured);
    return { ...product, properties: product.properties.map((p) => (p.name === 'imagename' ? { ...p, choices } : p)) };
  }

  // Passwords: Windows needs them in clear text (encoded reversibly) in unattend.xml, so they are
  // sealed with the server key (products/secret-properties.ts), not hashed like the Linux ones.
  async beforeStoreProperties(product: ProductDefinition, values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    const given = dropMaskedSecrets(values);
    checkWindowsSecrets(product.id, given);
    return this.secrets.seal(given);
  }

  async beforeActionSet(product: ProductDefinition, actionRequest: ActionRequest, given: Record<string, PropertyValue>, stored: Record<string, PropertyValue>, clientId: string): Promise<Record<string, PropertyValue>> {
    given = dropMaskedSecrets(given);
    checkWindowsSecrets(product.id, given);
    if (!this.handles(product.id) || !isPendingRequest(actionRequest)) return this.secrets.seal(given);
    const normalised = validatePropertyValues(product, given, { allowReadOnly: false });
    const effective = effectivePropertyValues(product, { ...stored, ...normalised });
    checkSetupAfterInstall(product.id, effective);
    // Media and edition first: a missing imagename is the 409 that lists the choices.
    await this.resolve(product.id, effective);
    checkUnattendValues(product.id, clientId, sealedAsSet(effective));
    return this.secrets.seal(normalised);
  }

  /** Depot entries a job of this product may read: its media and the WIM captured for it. */
  grantsFor(productId: string): string[] {
    return this.handles(productId) ? [entryId(WINDOWS_MEDIA_KIND, productId), entryId(CAPTURED_WIM_KIND, productId)] : [];
  }
}
