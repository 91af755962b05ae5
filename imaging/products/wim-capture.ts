import type { AgentJob } from '../../lib/agent-protocol.ts';
import { ProductError, type NetbootProduct } from '../../lib/netboot-product.ts';
import { ProductId } from '../../lib/products.ts';
import { ENGINE_PRODUCTS, reportImages } from './common.ts';
import { flowContext, propBool, propList, propString, type FlowOverrides } from './props.ts';
import { wimCaptureFlow } from '../wim/flows.ts';
import { uploadToDepot } from '../depot-upload.ts';
import { WIM_COMPRESSIONS, type CaptureMode, type WimCompression } from '../wim/wimlib.ts';

/** OS products whose install.wim a capture may fill (their catalogue entries carry `imagename`). */
export const WIM_TARGETS: readonly string[] = [ProductId.win10, ProductId.win11];

/** The job's target_product, refused unless it is one of WIM_TARGETS. */
export function wimTarget(job: AgentJob): string {
  const target = propString(job, 'target_product').trim();
  if (!WIM_TARGETS.includes(target)) throw new ProductError(`target_product must be one of ${WIM_TARGETS.join(', ')} (got "${target}")`);
  return target;
}

export function makeWimCaptureProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.wimCapture,
    run: async (ctx) => {
      const target = wimTarget(ctx.job);
      const mode = propString(ctx.job, 'capture_mode', 'append') as CaptureMode;
      if (mode !== 'append' && mode !== 'always_create') throw new ProductError(`capture_mode must be append or always_create (got "${mode}")`);
      const compression = propString(ctx.job, 'compression', 'lzx') as WimCompression;
      if (!WIM_COMPRESSIONS.includes(compression)) throw new ProductError(`compression must be one of ${WIM_COMPRESSIONS.join(', ')} (got "${compression}")`);
      const host = ctx.job.client.id.split('.')[0] ?? ctx.job.client.id;
      const imageName = propString(ctx.job, 'imagename').trim() || `${host} ${ctx.job.serverTime.slice(0, 10)}`;
      const states = await ctx.server.getProductStates();
      const installedOs = states.find((s) => s.installationStatus === 'installed' && s.productId.startsWith('opsi-local-image-') && !ENGINE_PRODUCTS.has(s.productId));
      ctx.progress(1, 'checking');
      const r = await wimCaptureFlow(flowContext(ctx, { from: 1, to: 95 }, overrides), {
        targetProduct: target,
        imageName,
        description: `captured from ${ctx.job.client.id} by netimage`,
        compression,
        mode,
        requireGeneralized: propBool(ctx.job, 'require_generalized', true),
        backupImageName: propString(ctx.job, 'imagefile').trim() || `${target}-wim-master`,
        sourceProduct: installedOs?.productId ?? null,
        productStates: states,
        upload: propBool(ctx.job, 'upload_to_depot', true)
          ? (file) =>
              uploadToDepot({ server: ctx.server, file, log: ctx.log, signal: ctx.signal, onProgress: (sent, size) => ctx.progress(95 + (4 * sent) / size, 'upload') })
          : null,
      });
      await reportImages(ctx, r.backup.metadata.name, r.images);
      await ctx.server.setProperties(ProductId.backup, { free_on_backup: r.space.text });
      // This PC installs the captured image when the target product is run on it next.
      await ctx.server.setProperties(target, { imagename: r.capture.image.name });
      ctx.log(`captured "${r.capture.image.name}" as image ${r.capture.image.index} of ${r.capture.info.imageCount} into ${r.localPath} on the backup partition`);
      if (!r.upload) ctx.log(`not uploaded (upload_to_depot=false): ${r.localPath} stays on this PC's backup partition only`);
      else if (!r.upload.uploaded) ctx.log(`not uploaded: ${r.upload.reason}; ${r.localPath} stays on this PC's backup partition`);
      const after = propList(ctx.job, 'setup_after_capture');
      if (after.length) await ctx.server.setActionRequests(after.map((productId) => ({ productId, actionRequest: 'setup' as const })));
      ctx.progress(100, 'capture done');
    },
  };
}

export const wimCaptureProduct = makeWimCaptureProduct();
