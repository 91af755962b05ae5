// Builds the web UI (ui/ → var/ui) with Vite, unless the inputs are unchanged since the last
// build: the hash of every file under ui/, of the server files whose types the UI imports, and of
// package-lock.json is kept in var/ui/.input-hash. Type-checks the UI first (tsc -p ui), so a
// server change that breaks the UI fails here.
//   node ui/build.ts [--force]
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const uiDir = dirname(fileURLToPath(import.meta.url));
const root = join(uiDir, '..');
const outDir = join(root, 'var', 'ui');
const stamp = join(outDir, '.input-hash');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The files the UI's types come from: what ui/src imports outside ui/, followed one level. */
function serverTypeSources(): string[] {
  const found = new Set<string>();
  for (const file of filesUnder(join(uiDir, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.\.\/[^']+\.ts)'/g)) {
      const target = join(dirname(file), m[1]!);
      if (!target.startsWith(uiDir) && existsSync(target)) found.add(target);
    }
  }
  return [...found].sort();
}

function inputHash(): string {
  const h = createHash('sha256');
  for (const file of [...filesUnder(uiDir), ...serverTypeSources(), join(root, 'package-lock.json')]) {
    h.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

const want = inputHash();
if (!process.argv.includes('--force') && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want && existsSync(join(outDir, 'index.html'))) {
  console.log('setup: web UI built');
  process.exit(0);
}
const started = Date.now();
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(uiDir, 'tsconfig.json')], { stdio: 'inherit' });
const { build } = await import('vite');
rmSync(outDir, { recursive: true, force: true });
await build({
  root: uiDir,
  configFile: false,
  logLevel: 'warn',
  // Preact's JSX through esbuild: no Babel plugin needed.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir, emptyOutDir: true, assetsDir: 'assets', sourcemap: false, target: 'es2022', reportCompressedSize: false },
});
writeFileSync(stamp, want + '\n');
console.log(`setup: web UI built in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${relative(root, outDir)}`);
