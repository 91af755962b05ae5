// The values of a Windows answer file (unattend.xml) and how opsi's product properties map onto
// them. Shared by the server (checks at action set, before a PC is sent into the install) and the
// agent's renderer (imaging/wim/unattend.ts, which adds the PC's layout.json). Pure.
import { z } from 'zod';
import type { PropertyValue } from './agent-protocol.ts';

/** Free text that can stand in XML 1.0 (no control characters besides none at all: these are one-line values). */
const text = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f\ufffe\uffff]*$/, 'must not contain control characters');
/** A BCP 47 language tag as Windows uses them: de-DE, en-US, sr-Latn-RS. */
const languageTag = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/, 'must be a language tag like de-DE');
/** InputLocale: language tags or "LCID:KLID" pairs (0407:00000407), several separated by ';'. */
const inputLocale = z.string().regex(/^([a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8})(;([a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8}))*$/, 'must be like de-DE or 0407:00000407 (several separated by ;)');

export const unattendValues = z
  .object({
    /** The catalogue product being installed (only for the comment at the top). */
    productId: text(128),
    /** /IMAGE/NAME in install.wim (the product's imagename property). */
    imageName: text(256).min(1, 'is required (the image name inside install.wim, see opsi-wim-info)'),
    /** Empty: none (KMS, or the key in the firmware's MSDM table). */
    productKey: z.union([z.literal(''), z.string().regex(/^([A-Z0-9]{5}-){4}[A-Z0-9]{5}$/, 'must be five groups of five letters/digits')]).default(''),
    uiLanguage: languageTag,
    inputLocale: inputLocale,
    systemLocale: languageTag,
    userLocale: languageTag,
    /** A Windows time zone id, e.g. "W. Europe Standard Time" (not an IANA name). */
    timeZone: z.string().regex(/^[A-Za-z0-9 .()+-]{2,64}$/, 'must be a Windows time zone id like "W. Europe Standard Time"'),
    /** NetBIOS name: at most 15 characters, letters, digits, hyphen, not only digits. */
    computerName: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,15}$/, 'must be 1-15 letters, digits or hyphens (a NetBIOS name)')
      .refine((s) => !/^\d+$/.test(s), 'must not be only digits'),
    adminPassword: text(127).min(1, 'is required'),
    organization: text(256).default(''),
    fullName: text(256).min(1).default('User'),
    /** Join this Active Directory domain in the specialize pass; absent: join `workgroup`. */
    domain: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, 'must be a DNS domain name'),
        user: text(256).min(1, 'is required for a domain join'),
        password: text(256).min(1, 'is required for a domain join'),
        /** Domain of the joining account when it differs from the one joined. */
        credentialsDomain: text(256).optional(),
        ou: text(1024).optional(),
      })
      .strict()
      .optional(),
    workgroup: z.string().regex(/^[A-Za-z0-9-]{1,15}$/).default('WORKGROUP'),
    /** Windows' number of the target disk (0: the first disk Windows enumerates). */
    diskId: z.number().int().min(0).max(63).default(0),
    /** Folders of injected drivers for Microsoft-Windows-PnpCustomizationsWinPE DriverPaths (Windows paths). */
    driverPaths: z.array(text(260).min(1)).max(100).default([]),
  })
  .strict();
export type UnattendValues = z.input<typeof unattendValues>;

/**
 * The renderer's input from an OS product's properties (opsi's names where opsi has them:
 * imagename, productkey, orgname, fullname, system_keyboard_layout, system_timezone) and the
 * client's hostname (its first label is the computer name). Locales default to `language`.
 */
export function unattendValuesFromProperties(o: {
  productId: string;
  properties: Readonly<Record<string, PropertyValue>>;
  hostname: string;
  }): UnattendValues {
  const p = (name: string): string | undefined => {
    const v = o.properties[name];
    if (v === undefined || typeof v === 'boolean') return undefined;
    const s = (Array.isArray(v) ? (v[0] ?? '') : v).trim();
    return s === '' ? undefined : s;
  };
  const language = p('language') ?? 'en-US';
  const domainName = p('domain_name');
  return {
    productId: o.productId,
    imageName: p('imagename') ?? '',
    productKey: p('productkey') ?? '',
    uiLanguage: language,
    inputLocale: p('system_keyboard_layout') ?? language,
    systemLocale: p('system_language') ?? language,
    userLocale: p('system_language') ?? language,
    timeZone: p('system_timezone') ?? 'W. Europe Standard Time',
    computerName: o.hostname.split('.')[0] ?? '',
    adminPassword: p('administrator_password') ?? '',
    organization: p('orgname') ?? '',
    fullName: p('fullname') ?? 'User',
    ...(domainName
      ? { domain: { name: domainName, user: p('domain_user') ?? '', password: p('domain_password') ?? '', ...(p('domain_ou') ? { ou: p('domain_ou') } : {}) } }
      : {}),
    ...(p('workgroup') ? { workgroup: p('workgroup') } : {}),
  };
}
