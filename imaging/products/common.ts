import { ProductError } from '../../bootimage/agent/product.ts';
import { CommandError } from '../../lib/process.ts';
import { DiskSelectionError } from '../disks/select.ts';
import { ImagingError } from '../errors.ts';
import { PlanError } from '../planner.ts';
import { SizeError } from '../sizes.ts';

export const RESTORE_PRODUCT = 'opsi-local-image-restore';
export const BACKUP_PRODUCT = 'opsi-local-image-backup';

/** The imaging engine's own products (not OS products: their states describe the disk, not the OS). */
export const ENGINE_PRODUCTS: ReadonlySet<string> = new Set([
  'opsi-local-image-prepare',
  'opsi-local-image-backup',
  'opsi-local-image-restore',
  'opsi-local-image-delimage',
  'opsi-local-image-backup-starter',
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
