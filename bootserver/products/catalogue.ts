// The netboot product catalogue is data (products/*.json); this module loads and validates it.
// Ids and destructive flags of our own products are defined once in lib/products.ts: a catalogue
// entry that contradicts it is refused, so the admin's listing and the agent mean the same thing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { propertyValue } from '../../lib/agent-protocol.ts';
import { productFacts } from '../../lib/products.ts';
import type { ProductDefinition } from '../store/types.ts';

const propertyDefinitionSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    type: z.enum(['unicode', 'bool']),
    description: z.string(),
    default: propertyValue,
    choices: z.array(z.string()),
    editable: z.boolean(),
    multiValue: z.boolean(),
    readOnly: z.boolean(),
  })
  .strict();

export const productDefinitionSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
    version: z.string().min(1),
    name: z.string().min(1),
    description: z.string(),
    priority: z.number().int(),
    destructive: z.boolean(),
    properties: z.array(propertyDefinitionSchema),
  })
  .strict();

export function loadCatalogue(dir: string): ProductDefinition[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return files.map((file) => {
    const path = join(dir, file);
    const parsed = productDefinitionSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`product catalogue ${path}: ${issue.path.join('.')}: ${issue.message}`);
    }
    if (`${parsed.data.id}.json` !== file) throw new Error(`product catalogue ${path}: file name must be ${parsed.data.id}.json`);
    const facts = productFacts(parsed.data.id);
    if (facts && facts.destructive !== parsed.data.destructive) {
      throw new Error(`product catalogue ${path}: destructive must be ${facts.destructive} for ${facts.id} (lib/products.ts)`);
    }
    return parsed.data;
  });
}
