// The one place products are registered: hwinvent from here, the imaging products from imaging/.
import { imagingProducts } from '../../imaging/products/index.ts';
import type { NetbootProduct } from './product.ts';
import { hwinvent } from './products/hwinvent.ts';

export function allProducts(): NetbootProduct[] {
  const list = [hwinvent, ...imagingProducts];
  const seen = new Set<string>();
  for (const p of list) {
    if (seen.has(p.id)) throw new Error(`product ${p.id} registered twice`);
    seen.add(p.id);
  }
  return list;
}

export function findProduct(id: string): NetbootProduct | undefined {
  return allProducts().find((p) => p.id === id);
}
