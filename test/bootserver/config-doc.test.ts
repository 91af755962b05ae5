import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.ts';
import { renderConfigDoc } from '../../scripts/gen-config-doc.ts';
import { environmentKeys } from '../../bootserver/config/load.ts';

test('docs/configuration.md is generated from the current schema and lists every key', async (t) => {
  const doc = await readFile(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  t.is(doc, renderConfigDoc(), 'run: node scripts/gen-config-doc.ts');
  for (const { key, env } of environmentKeys()) {
    t.true(doc.includes(`\`${key}\``), key);
    t.true(doc.includes(`\`${env}\``), env);
  }
});
