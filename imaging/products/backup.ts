import { ProductError, type NetbootProduct } from '../../lib/netboot-product.ts';
import { backupFlow, withStore } from '../flows.ts';
import { uploadGoldenImage } from '../golden.ts';
import { ProductId } from '../../lib/products.ts';
import { ENGINE_PRODUCTS, reportImages } from './common.ts';
import { flowContext, type FlowOverrides, propBool, propList, propString } from './props.ts';

export function makeBackupProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.backup,
    run: async (ctx) => {
      const states = await ctx.server.getProductStates();
      // Default name: the installed opsi-local-image OS product (opsi's rule).
      const installedOs = states.find((s) => s.installationStatus === 'installed' && s.productId.startsWith('opsi-local-image-') && !ENGINE_PRODUCTS.has(s.productId));
      const name = propString(ctx.job, 'imagefile').trim() || installedOs?.productId;
      if (!name) throw new ProductError('no imagefile set and no installed opsi-local-image OS product to name the image after');
      ctx.progress(1, 'backup');
      const r = await backupFlow(flowContext(ctx, { from: 1, to: 95 }, overrides), {
        imageName: name,
        sourceProduct: installedOs?.productId ?? null,
        // opsi saves product states with Windows images; harmless for Linux, so keep them always.
        productStates: states,
        // Chunked by default (delta restores): with the C chunk helpers its backup and full restore
        // cost what the stream pipeline costs (bench/delta.ts, docs/performance.md); stream on request.
        format: propString(ctx.job, 'image_format') === 'stream' ? 'stream' : 'chunked',
      });
      await reportImages(ctx, r.backup.metadata.name, r.images);
      // A golden image for the server's depot (lib/golden.ts): named by imagefile, as the server's grant.
      if (propBool(ctx.job, 'upload_to_server', false)) {
        if (!propString(ctx.job, 'imagefile').trim()) throw new ProductError('upload_to_server needs imagefile set: it names the golden image in the server\'s depot (the image itself is made and kept)');
        const up = await withStore(flowContext(ctx, { from: 95, to: 99 }, overrides), (s) =>
          uploadGoldenImage({ server: ctx.server, root: s.root, imageName: r.backup.metadata.name, log: ctx.log, signal: ctx.signal, onProgress: (sent, size) => ctx.progress(95 + (4 * sent) / size, 'upload') }),
        );
        if (!up.uploaded) throw new ProductError(`upload_to_server: not uploaded: ${up.reason} (the image is made and kept on this PC's backup partition)`);
      }
      await ctx.server.setProperties(ProductId.backup, { free_on_backup: r.space.text });
      const after = propList(ctx.job, 'setup_after_install');
      if (after.length) await ctx.server.setActionRequests(after.map((productId) => ({ productId, actionRequest: 'setup' as const })));
      ctx.log(`free_on_backup: ${r.space.text}`);
      ctx.progress(100, 'backup done');
    },
  };
}

export const backupProduct = makeBackupProduct();
