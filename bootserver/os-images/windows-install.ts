// Unattended Windows (opsi-local-image-win10-x64 / -win11-x64, opsi's NT6 flow) on the server
// side: the checks when an admin sets the action, before anything is stored, and the depot entry
// a job may read. The install media are a `windows-media` depot entry named by the product id
// (`netimage depot import`): `winpe/` (the admin's ADK WinPE), `installfiles/` (the ISO's
// content), `drivers/`, `custom/`, and `meta.editions` [{index, name}] read from install.wim|esd.
// A PC is only sent into the install when WinPE, the install image and the chosen edition are
// there and the answer file can be made from the properties.
import { z } from 'zod';
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { isWindowsInstall } from '../jobs/first-boot.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import type { DepotEntry } from '../depot/depot.ts';
import { entryId, type DepotManifest } from '../depot/manifest.ts';
import { PropertyValidationError, effectivePropertyValues, validatePropertyValues } from '../products/properties.ts';
import { ConflictError, type ActionSetHook } from '../service/netboot.ts';
import type { ProductDefinition } from '../store/types.ts';
import { unattendValues, unattendValuesFromProperties } from '../../lib/unattend-values.ts';
import { hostnameOf } from './install-plan.ts';
import { checkSetupAfterInstall } from './install-products.ts';

export const WINDOWS_MEDIA_KIND = 'windows-media';

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

/** The edition `imagename` names (exactly, as wimlib prints it), or a 409 listing the choices. Pure. */
export function chooseEdition(productId: string, imageName: string, list: readonly Edition[]): Edition {
  const names = list.map((e) => JSON.stringify(e.name)).join(', ');
  if (!imageName) throw new ConflictError(`${productId}.imagename is required: one of ${names}. Nothing was changed.`);
  const found = list.find((e) => e.name === imageName);
  if (!found) throw new ConflictError(`${productId}.imagename ${JSON.stringify(imageName)} is not an image of ${entryId(WINDOWS_MEDIA_KIND, productId)}: use one of ${names}. Nothing was changed.`);
  return found;
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
  get(kind: typeof WINDOWS_MEDIA_KIND, name: string): Promise<DepotEntry | null>;
}

export class WindowsInstallPolicy implements ActionSetHook {
  private readonly depot: WindowsMediaSource;

  constructor(depot: WindowsMediaSource) {
    this.depot = depot;
  }

  handles(productId: string): boolean {
    return isWindowsInstall(productId);
  }

  /** The media entry and the chosen edition of a job's (or an action's) effective values. */
  async resolve(productId: string, effective: Record<string, PropertyValue>): Promise<{ entry: DepotEntry; edition: Edition }> {
    const entry = await this.depot.get(WINDOWS_MEDIA_KIND, productId);
    const { editions: list } = checkWindowsMedia(productId, entry?.manifest ?? null);
    const imageName = typeof effective['imagename'] === 'string' ? effective['imagename'] : '';
    return { entry: entry!, edition: chooseEdition(productId, imageName, list) };
  }

  // Passwords stay as typed: Windows needs them in clear text (encoded reversibly) in unattend.xml.
  async beforeStoreProperties(_product: ProductDefinition, values: Record<string, PropertyValue>): Promise<Record<string, PropertyValue>> {
    return values;
  }

  async beforeActionSet(product: ProductDefinition, actionRequest: ActionRequest, given: Record<string, PropertyValue>, stored: Record<string, PropertyValue>, clientId: string): Promise<Record<string, PropertyValue>> {
    if (!this.handles(product.id) || !isPendingRequest(actionRequest)) return given;
    const normalised = validatePropertyValues(product, given, { allowReadOnly: false });
    const effective = effectivePropertyValues(product, { ...stored, ...normalised });
    checkSetupAfterInstall(product.id, effective);
    // Media and edition first: a missing imagename is the 409 that lists the choices.
    await this.resolve(product.id, effective);
    checkUnattendValues(product.id, clientId, effective);
    return normalised;
  }

  /** Depot entries a job of this product may read: its media. */
  grantsFor(productId: string): string[] {
    return this.handles(productId) ? [entryId(WINDOWS_MEDIA_KIND, productId)] : [];
  }
}
