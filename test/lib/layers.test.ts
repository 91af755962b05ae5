// The source folders form layers; a file may import its own folder and lower layers only.
// Siblings on one layer (imaging, bootserver) stay independent of each other. Imports are read
// with TypeScript's own pre-parser (static, re-export and dynamic imports alike).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../lib/paths.ts';

/** Lowest first. Tests, benchmarks and scripts sit on top and may import anything. */
const LAYERS: readonly (readonly string[])[] = [['lib'], ['imaging', 'bootserver'], ['bootimage'], ['vm-harness']];

const layerOf = (folder: string): number => LAYERS.findIndex((l) => l.includes(folder));

/** The layering verdict for one import between top-level folders, or null when it is allowed. */
function layerViolation(fromFolder: string, toFolder: string): string | null {
  const from = layerOf(fromFolder);
  const to = layerOf(toFolder);
  if (from < 0 || fromFolder === toFolder) return null;
  if (to < 0) return `${fromFolder} imports ${toFolder}, which is not a source layer`;
  if (to > from) return `${fromFolder} (layer ${from}) imports the higher layer ${toFolder} (layer ${to})`;
  if (to === from) return `${fromFolder} imports its sibling ${toFolder}: move the shared part down to a lower layer`;
  return null;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file as top-level folders of the repo. */
function importedFolders(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(repoRoot, resolve(dirname(file), spec)).split(/[\\/]/)[0]!);
}

test('the rule: downwards only, no sibling imports, imaging and bootimage never both ways', (t) => {
  t.is(layerViolation('bootimage', 'imaging'), null);
  t.is(layerViolation('imaging', 'lib'), null);
  t.regex(layerViolation('imaging', 'bootimage')!, /higher layer/);
  t.regex(layerViolation('lib', 'bootserver')!, /higher layer/);
  t.regex(layerViolation('bootserver', 'imaging')!, /sibling/);
  t.regex(layerViolation('vm-harness', 'test')!, /not a source layer/);
  t.is(layerViolation('test', 'vm-harness'), null);
});

test('every source file imports only its own folder and lower layers', (t) => {
  const violations: string[] = [];
  let imports = 0;
  for (const folder of LAYERS.flat()) {
    for (const file of tsFiles(join(repoRoot, folder))) {
      for (const to of importedFolders(file)) {
        imports++;
        const why = layerViolation(folder, to);
        if (why) violations.push(`${relative(repoRoot, file)}: ${why}`);
      }
    }
  }
  t.true(imports > 100, 'the scan found the imports');
  t.deepEqual(violations, []);
});
