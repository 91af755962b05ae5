// The one place products are registered: hwinvent from here, the imaging products from imaging/.
// Which ids belong here is decided by lib/products.ts (`inBootImage`); the server refuses action
// requests for the others, so this list and that one must match (checked at load and by tests).
import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { bootImageProductIds } from '../../lib/products.ts';
import { imagingProducts } from '../../imaging/products/index.ts';
import { hwinvent } from './products/hwinvent.ts';

export function allProducts(): NetbootProduct[] {
  const list = [hwinvent, ...imagingProducts];
  const ids = list.map((p) => p.id);
  const expected = bootImageProductIds();
  if (new Set(ids).size !== ids.length || ids.length !== expected.length || !expected.every((id) => ids.includes(id))) {
    throw new Error(`agent products [${ids.join(', ')}] differ from the boot image's list in lib/products.ts [${expected.join(', ')}]`);
  }
  return list;
}

export function findProduct(id: string): NetbootProduct | undefined {
  return allProducts().find((p) => p.id === id);
}
