import { ProductId } from '../../lib/products.ts';

/** The imaging engine's own products (not OS products: their states describe the disk, not the OS). */
export const ENGINE_PRODUCTS: ReadonlySet<string> = new Set([
  ProductId.prepare,
  ProductId.backup,
  ProductId.restore,
  ProductId.delimage,
  'opsi-local-image-backup-starter', // opsi's, not ours: its state too describes the disk
]);
