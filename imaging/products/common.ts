import { ProductError } from '../../lib/netboot-product.ts';
import { CommandError } from '../../lib/process.ts';
import { ProductId } from '../../lib/products.ts';
import { DiskSelectionError } from '../disks/select.ts';
import { ImagingError } from '../errors.ts';
import { PlanError } from '../planner.ts';
import { SizeError } from '../sizes.ts';

/** The imaging engine's own products (not OS products: their states describe the disk, not the OS). */
export const ENGINE_PRODUCTS: ReadonlySet<string> = new Set([
  ProductId.prepare,
  ProductId.backup,
  ProductId.restore,
  ProductId.delimage,
  'opsi-local-image-backup-starter', // opsi's, not ours: its state too describes the disk
]);

/** Engine errors are already worded for the admin: pass them on as ProductError. */
export async function wrap(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ProductError) throw e;
    if (e instanceof ImagingError || e instanceof PlanError || e instanceof SizeError || e instanceof DiskSelectionError || e instanceof CommandError)
      throw new ProductError(e.message, { cause: e });
    throw e;
  }
}
