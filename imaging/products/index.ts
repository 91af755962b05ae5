// Registry of the opsi-local-image netboot products; the agent imports this list.
import type { NetbootProduct } from '../../bootimage/agent/product.ts';

export const imagingProducts: NetbootProduct[] = [];
