// Bulk client import from CSV (hostname,mac,uuid,group[,description]). Pure parsing and
// validation: the whole file is checked before anything is written, and every bad line is named.
import { z } from 'zod';
import { pcMac, pcUuid } from './schemas.ts';
import type { ClientImportRow } from '../service/admin.ts';
import { clientId, groupId } from './schemas.ts';

/** A validated row, as the import service takes it. */
export type ImportRow = ClientImportRow;

/** Split one CSV line; handles "quoted, fields" and "" escapes. */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === ';') {
      out.push(field.trim());
      field = '';
    } else field += ch;
  }
  out.push(field.trim());
  return out;
}

const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' || v === undefined ? null : v), schema.nullable());

const rowSchema = z.object({
  id: clientId,
  mac: optional(pcMac),
  uuid: optional(pcUuid),
  group: optional(groupId),
  description: z.string().max(500).default(''),
});

export function parseClientCsv(text: string): { rows: ImportRow[]; errors: string[] } {
  const rows: ImportRow[] = [];
  const errors: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const seen = { id: new Map<string, number>(), mac: new Map<string, number>(), uuid: new Map<string, number>() };
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.trim().startsWith('#')) return;
    const cells = splitCsvLine(raw);
    // A header: hostname first, or a MAC column named so (no MAC starts with "m"): "Name;MAC-Adresse"
    // from a spreadsheet is one too. Columns are read by position, whatever the header says.
    if (index === 0 && (/^(host(name)?|name|client)$/i.test(cells[0] ?? '') || /^mac/i.test(cells[1] ?? ''))) return;
    if (cells.length < 2 || cells.length > 5) {
      errors.push(`line ${line}: expected hostname,mac,uuid,group[,description], got ${cells.length} field(s)`);
      return;
    }
    const parsed = rowSchema.safeParse({ id: cells[0], mac: cells[1], uuid: cells[2] ?? '', group: cells[3] ?? '', description: cells[4] ?? '' });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      errors.push(`line ${line}: ${issue.path.join('.') === 'id' ? 'hostname' : issue.path.join('.')}: ${issue.message}`);
      return;
    }
    const row: ImportRow = { line, ...parsed.data, mac: parsed.data.mac ?? null, uuid: parsed.data.uuid ?? null, group: parsed.data.group ?? null };
    if (!row.mac && !row.uuid) {
      errors.push(`line ${line}: ${row.id} needs a MAC or an SMBIOS UUID to be recognised at boot`);
      return;
    }
    for (const key of ['id', 'mac', 'uuid'] as const) {
      const value = row[key];
      if (!value) continue;
      const first = seen[key].get(value);
      if (first !== undefined) errors.push(`line ${line}: ${key === 'id' ? 'hostname' : key} ${value} repeats line ${first}`);
      else seen[key].set(value, line);
    }
    rows.push(row);
  });
  return { rows, errors };
}
