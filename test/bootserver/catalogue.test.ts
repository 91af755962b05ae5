import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCatalogue } from '../../bootserver/products/catalogue.ts';
import { repoRoot } from '../../lib/paths.ts';
import { allProducts } from '../../bootimage/agent/registry.ts';

const catalogue = loadCatalogue(join(repoRoot, 'products'));

test('the catalogue holds the opsi product ids the issue names, with opsi property names', (t) => {
  const ids = catalogue.map((p) => p.id);
  for (const id of ['opsi-local-image-prepare', 'opsi-local-image-backup', 'opsi-local-image-restore', 'opsi-local-image-delimage', 'opsi-local-image-wim-capture', 'opsi-wim-info', 'opsi-local-image-win10-x64', 'opsi-local-image-win11-x64', 'opsi-local-image-ubuntu', 'hwinvent']) {
    t.true(ids.includes(id), id);
  }
  const prepare = catalogue.find((p) => p.id === 'opsi-local-image-prepare')!;
  const props = Object.fromEntries(prepare.properties.map((p) => [p.name, p.default]));
  t.like(props, { system_partition_size: '30G', data_partition_size: '0G', winpe_partition_size: '4G', minimal_backup_partition_size: '55%', multi_disk_mode: '0', backup_partition_on_same_disk: true });
  const restore = catalogue.find((p) => p.id === 'opsi-local-image-restore')!;
  t.deepEqual(restore.properties.find((p) => p.name === 'setup_after_restore')!.default, ['windomain']);
});

test('every product the agent can run is in the catalogue, and every property it reads is defined there', async (t) => {
  const byId = new Map(catalogue.map((p) => [p.id, p]));
  for (const product of allProducts()) t.true(byId.has(product.id), `${product.id} missing from products/`);
  const dir = join(repoRoot, 'imaging', 'products');
  for (const file of await readdir(dir)) {
    const text = await readFile(join(dir, file), 'utf8');
    const id = /id: '([a-z0-9-]+)'/.exec(text)?.[1];
    if (!id) continue;
    const defined = new Set(byId.get(id)!.properties.map((p) => p.name));
    for (const m of text.matchAll(/prop(?:String|List|Bool)\((?:ctx\.)?job, '([a-z_]+)'/g)) {
      t.true(defined.has(m[1]!), `${file} reads ${m[1]} which ${id} does not define`);
    }
  }
  // flowContext reads disk_hints for every imaging product
  for (const p of catalogue.filter((p) => p.id.startsWith('opsi-local-image-') && p.destructive !== undefined && allProducts().some((a) => a.id === p.id))) {
    t.true(p.properties.some((d) => d.name === 'disk_hints'), `${p.id} lacks disk_hints`);
  }
});
