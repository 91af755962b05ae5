// unattend.xml for Windows setup (NT6, amd64), rendered from templates/unattend/unattend.xml.hbs.
// Pure: validated input in, XML text out. Every value goes through the `xml` helper (Handlebars
// runs with noEscape and strict, as the Grub templates do: HTML escaping is not XML escaping, and a
// missing key must be an error, not an empty element). The output holds the administrator password
// (Microsoft's reversible encoding) and a domain join password in clear text: whoever writes it
// keeps it 0600 and never logs it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import type { z } from 'zod';
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { ImagingError } from '../errors.ts';
import { diskLayout } from '../store/metadata.ts';
import { unattendValues, unattendValuesFromProperties } from '../../lib/unattend-values.ts';

/** XML 1.0 text: the five special characters as entities; control characters are refused by the schema. */
export function xmlEscape(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export const unattendInput = unattendValues
  .extend({
    /** layout.json written by prepare: the system partition's number is PartitionID. */
    layout: diskLayout,
  })
  .strict();
export type UnattendInput = z.input<typeof unattendInput>;

/** Microsoft's encoding for <PlainText>false</PlainText>: base64 of UTF-16LE(password + "AdministratorPassword"). */
export function encodeAdministratorPassword(password: string): string {
  return Buffer.from(password + 'AdministratorPassword', 'utf16le').toString('base64');
}

const TEMPLATE = join(import.meta.dirname, '../../templates/unattend/unattend.xml.hbs');
let compiled: Handlebars.TemplateDelegate | null = null;

function template(): Handlebars.TemplateDelegate {
  if (!compiled) {
    const hb = Handlebars.create();
    hb.registerHelper('xml', (value: unknown) => xmlEscape(value));
    compiled = hb.compile(readFileSync(TEMPLATE, 'utf8'), { noEscape: true, strict: true });
  }
  return compiled;
}

/** Render unattend.xml; invalid or missing values throw one ImagingError naming each of them (values are not echoed: some are secrets). */
export function renderUnattend(input: UnattendInput): string {
  const parsed = unattendInput.safeParse(input);
  if (!parsed.success) throw new ImagingError(`unattend.xml: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'} ${i.message}`).join('; ')}`);
  const v = parsed.data;
  if (v.layout.osFamily !== 'windows') throw new ImagingError('unattend.xml: layout.json was prepared for Linux: run opsi-local-image-prepare for Windows first');
  const system = v.layout.partitions.find((p) => p.disk === 'system' && p.role === 'system');
  if (!system) throw new ImagingError('unattend.xml: layout.json has no system partition');
  return template()({
    productId: v.productId,
    imageName: v.imageName,
    productKey: v.productKey || null,
    uiLanguage: v.uiLanguage,
    inputLocale: v.inputLocale,
    systemLocale: v.systemLocale,
    userLocale: v.userLocale,
    timeZone: v.timeZone,
    computerName: v.computerName,
    adminPasswordEncoded: encodeAdministratorPassword(v.adminPassword),
    organization: v.organization,
    fullName: v.fullName,
    domain: v.domain ? { ...v.domain, credentialsDomain: v.domain.credentialsDomain ?? v.domain.name, ou: v.domain.ou ?? null } : null,
    workgroup: v.workgroup,
    diskId: v.diskId,
    partitionId: system.number,
    driverPaths: v.driverPaths.map((path, i) => ({ key: i + 1, path })),
  });
}

/** The renderer's input from an OS product's properties and the PC's layout.json (lib/unattend-values.ts). */
export function unattendInputFromProperties(o: { productId: string; properties: Readonly<Record<string, PropertyValue>>; hostname: string; layout: unknown }): UnattendInput {
  return { ...unattendValuesFromProperties(o), layout: o.layout as never };
}
