// Setting a restore with server_image: the depot must hold golden/<server_image>, checked when the
// action is set (before anything is stored), so an admin learns of a typo or a removed image at
// once instead of from every PC's failed job. An ActionSetHook (service/netboot.ts).
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { GOLDEN_KIND, goldenEntryName } from '../../lib/golden.ts';
import { ProductId } from '../../lib/products.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import { PropertyValidationError } from '../products/properties.ts';
import { ConflictError, type ActionSetHook } from '../service/netboot.ts';
import type { ProductDefinition } from '../store/types.ts';
import type { Depot } from './depot.ts';

const str = (v: PropertyValue | undefined) => String(Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();

/** The server_image a restore with these values (given over stored) fetches, or '' for none. */
export function serverImageOf(given: Record<string, PropertyValue>, stored: Record<string, PropertyValue> = {}): string {
  return str('server_image' in given ? given['server_image'] : stored['server_image']);
}

export function goldenRestoreCheck(depot: Depot): ActionSetHook {
  return {
    handles: (productId) => productId === ProductId.restore,
    beforeStoreProperties: async (_product: ProductDefinition, values) => values,
    async beforeActionSet(_product, actionRequest: ActionRequest, given, stored, clientId) {
      if (!isPendingRequest(actionRequest)) return given;
      const image = serverImageOf(given, stored);
      if (!image) return given;
      const entry = goldenEntryName(image);
      if (!entry) throw new PropertyValidationError(`server_image "${image}" is not a golden image name (letters, digits, ".", "_", "-"); nothing was changed`);
      if (!(await depot.get(GOLDEN_KIND, entry))) {
        const have = (await depot.list()).filter((e) => e.manifest.kind === GOLDEN_KIND).map((e) => e.manifest.name);
        const stale = !('server_image' in given) ? ` (server_image is still set on ${clientId}: set it empty to restore from the backup partition)` : '';
        throw new ConflictError(`the depot has no golden image ${GOLDEN_KIND}/${entry}${stale} (it has ${have.length ? have.join(', ') : 'none'}): upload one with opsi-local-image-backup upload_to_server=true; nothing was changed`);
      }
      return given;
    },
  };
}
