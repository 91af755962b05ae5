import type { BackupImageReport } from '../../lib/agent-protocol.ts';
import type { ProductContext } from '../../lib/netboot-product.ts';
import { ProductId } from '../../lib/products.ts';

/** The imaging engine's own products (not OS products: their states describe the disk, not the OS). */
export const ENGINE_PRODUCTS: ReadonlySet<string> = new Set([
  ProductId.prepare,
  ProductId.backup,
  ProductId.restore,
  ProductId.delimage,
  'opsi-local-image-backup-starter', // opsi's, not ours: its state too describes the disk
]);

/**
 * Tell the server which images the backup partition now holds: restore's `imagefile` (the one a
 * restore uses unless told otherwise) and `imagefiles_list` as opsi has them, and beside them
 * each image's size, date, source partition and format for the admin (lib/agent-protocol.ts).
 */
export async function reportImages(ctx: ProductContext, imagefile: string, images: readonly BackupImageReport[]): Promise<void> {
  await ctx.server.setProperties(ProductId.restore, { imagefile, imagefiles_list: images.map((i) => i.name) }, [...images]);
}
