// The one place products are registered: hwinvent from here, the imaging products from imaging/.
// Which ids belong here is decided by lib/products.ts (`inBootImage`); the server refuses action
// requests for the others, so this list and that one must match (checked at load and by tests).
// Loaded by import(): the bundle keeps the products and what only they use (systeminformation,
// handlebars, the imaging code: half of its bytes) in chunks of their own, so node's start to
// `agent running` and the first calls to the server do not parse them (docs/performance.md "Session 9").
import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { bootImageProductIds } from '../../lib/products.ts';

export async function allProducts(): Promise<NetbootProduct[]> {
  const [{ hwinvent }, { imagingProducts }] = await Promise.all([import('./products/hwinvent.ts'), import('../../imaging/products/index.ts')]);
  const list = [hwinvent, ...imagingProducts];
  const ids = list.map((p) => p.id);
  const expected = bootImageProductIds();
  if (new Set(ids).size !== ids.length || ids.length !== expected.length || !expected.every((id) => ids.includes(id))) {
    throw new Error(`agent products [${ids.join(', ')}] differ from the boot image's list in lib/products.ts [${expected.join(', ')}]`);
  }
  return list;
}

export async function findProduct(id: string): Promise<NetbootProduct | undefined> {
  return (await allProducts()).find((p) => p.id === id);
}
