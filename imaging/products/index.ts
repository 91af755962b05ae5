// Registry of the opsi-local-image netboot products; the agent imports this list.
import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { backupProduct } from './backup.ts';
import { debianProduct, ubuntuProduct } from './debian.ts';
import { delimageProduct } from './delimage.ts';
import { prepareProduct } from './prepare.ts';
import { restoreProduct } from './restore.ts';
import { wimCaptureProduct } from './wim-capture.ts';
import { wimInfoProduct } from './wim-info.ts';
import { win10Product, win11Product } from './windows.ts';

export const imagingProducts: NetbootProduct[] = [prepareProduct, backupProduct, restoreProduct, delimageProduct, debianProduct, ubuntuProduct, win10Product, win11Product, wimCaptureProduct, wimInfoProduct];
