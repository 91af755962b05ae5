// What a WIM capture job may upload: the install.wim of its target product, as entry
// `wim/<target_product>` (file install.wim; meta: product, capturedFrom, job, editions).
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { ProductId } from '../../lib/products.ts';
import type { Job } from '../store/types.ts';
import { depotEntryName } from './manifest.ts';
import type { UploadGrant } from './upload-http.ts';
import { wimEditions } from './wim-editions.ts';

export const WIM_UPLOAD_PATH = 'install.wim';

export function wimUploadGrant(job: Job, properties: Record<string, PropertyValue>): UploadGrant | null {
  if (job.productId !== ProductId.wimCapture) return null;
  const target = depotEntryName.safeParse(String(properties['target_product'] ?? '').trim());
  if (!target.success) return null;
  return {
    target: { kind: 'wim', name: target.data, path: WIM_UPLOAD_PATH },
    meta: async (file) => ({ product: target.data, capturedFrom: job.clientId, job: job.id, editions: await wimEditions(file) }),
  };
}
