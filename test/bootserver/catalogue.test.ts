import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalogue } from '../../bootserver/products/catalogue.ts';
import { repoRoot } from '../../lib/paths.ts';
import { allProducts } from '../../bootimage/agent/registry.ts';
import { bootImageProductIds, PRODUCTS, ProductId } from '../../lib/products.ts';

const catalogue = loadCatalogue(join(repoRoot, 'products'));

test('the catalogue holds the opsi product ids the issue names, with opsi property names', (t) => {
  const ids = catalogue.map((p) => p.id);
  t.deepEqual([...ids].sort(), ['hwinvent', 'opsi-local-image-backup', 'opsi-local-image-debian', 'opsi-local-image-delimage', 'opsi-local-image-prepare', 'opsi-local-image-restore', 'opsi-local-image-ubuntu', 'opsi-local-image-wim-capture', 'opsi-local-image-win10-x64', 'opsi-local-image-win11-x64', 'opsi-wim-info']);
  const prepare = catalogue.find((p) => p.id === 'opsi-local-image-prepare')!;
  const props = Object.fromEntries(prepare.properties.map((p) => [p.name, p.default]));
  t.like(props, { system_partition_size: '30G', data_partition_size: '0G', winpe_partition_size: '4G', minimal_backup_partition_size: '55%', multi_disk_mode: '0', backup_partition_on_same_disk: true });
  const restore = catalogue.find((p) => p.id === 'opsi-local-image-restore')!;
  t.deepEqual(restore.properties.find((p) => p.name === 'setup_after_restore')!.default, ['windomain']);
});

test('catalogue, product list and agent agree: the same ids, the same destructive flags, the agent runs exactly the boot image products', async (t) => {
  t.deepEqual(
    catalogue.map((p) => ({ id: p.id, destructive: p.destructive })).sort((a, b) => a.id.localeCompare(b.id)),
    PRODUCTS.map((p) => ({ id: p.id, destructive: p.destructive })).sort((a, b) => a.id.localeCompare(b.id)),
  );
  t.deepEqual((await allProducts()).map((p) => p.id).sort(), bootImageProductIds().sort());
  t.deepEqual(bootImageProductIds(), ['hwinvent', 'opsi-local-image-prepare', 'opsi-local-image-backup', 'opsi-local-image-restore', 'opsi-local-image-delimage', 'opsi-local-image-ubuntu', 'opsi-local-image-debian', 'opsi-local-image-win10-x64', 'opsi-local-image-win11-x64', 'opsi-local-image-wim-capture', 'opsi-wim-info']);
});

test('a catalogue entry contradicting the product list is refused at load', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'netimage-catalogue-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const restore = JSON.parse(await readFile(join(repoRoot, 'products', 'opsi-local-image-restore.json'), 'utf8'));
  await writeFile(join(dir, 'opsi-local-image-restore.json'), JSON.stringify({ ...restore, destructive: false }));
  t.throws(() => loadCatalogue(dir), { message: /opsi-local-image-restore\.json: destructive must be true for opsi-local-image-restore \(lib\/products\.ts\)/ });
});

test('every product the agent can run is in the catalogue, and every property it reads is defined there', async (t) => {
  const byId = new Map(catalogue.map((p) => [p.id, p]));
  const agentProducts = await allProducts();
  for (const product of agentProducts) t.true(byId.has(product.id), `${product.id} missing from products/`);
  const dir = join(repoRoot, 'imaging', 'products');
  let checked = 0;
  for (const file of await readdir(dir)) {
    const text = await readFile(join(dir, file), 'utf8');
    // `id: ProductId.x` of one product; `make…Product(ProductId.x` of each product a file's maker serves.
    for (const [, key] of text.matchAll(/(?:id: |make[A-Za-z]+Product\()ProductId\.([a-zA-Z0-9]+)/g)) {
      const id = ProductId[key as keyof typeof ProductId];
      checked++;
      const defined = new Set(byId.get(id)!.properties.map((p) => p.name));
      for (const m of text.matchAll(/prop(?:String|List|Bool)\((?:ctx\.)?job, '([a-z_]+)'/g)) {
        t.true(defined.has(m[1]!), `${file} reads ${m[1]} which ${id} does not define`);
      }
    }
  }
  t.is(checked, 10, 'prepare, backup, restore, delimage, debian, ubuntu, win10, win11, wim-capture and wim-info were checked');
  // flowContext reads disk_hints for every imaging product
  for (const p of catalogue.filter((p) => p.id.startsWith('opsi-local-image-') && p.destructive !== undefined && agentProducts.some((a) => a.id === p.id))) {
    t.true(p.properties.some((d) => d.name === 'disk_hints'), `${p.id} lacks disk_hints`);
  }
});
