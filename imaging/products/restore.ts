import { ProductError, type NetbootProduct } from '../../lib/netboot-product.ts';
import { restoreFlow, withStore } from '../flows.ts';
import { fetchGoldenImage } from '../golden.ts';
import { imageReports } from '../store/store.ts';
import { ProductId } from '../../lib/products.ts';
import { ENGINE_PRODUCTS, reportImages } from './common.ts';
import { flowContext, type FlowOverrides, propList, propString } from './props.ts';

export function makeRestoreProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.restore,
    run: async (ctx) => {
      let name = propString(ctx.job, 'imagefile').trim();
      // server_image: a golden image from the server's depot onto the backup partition first (imaging/golden.ts).
      const golden = propString(ctx.job, 'server_image').trim();
      if (golden) {
        ctx.progress(1, 'fetching image');
        const fetched = await withStore(flowContext(ctx, { from: 1, to: 40 }, overrides), async (s) => {
          const f = await fetchGoldenImage({ fetchFile: (p, h, sig) => ctx.server.fetchFile(p, h, sig), root: s.root, name: golden, log: ctx.log, signal: ctx.signal, onProgress: (got, size) => ctx.progress(1 + (39 * got) / size, 'fetching image') });
          return { name: f.meta.name, images: await imageReports(s.root) };
        });
        await reportImages(ctx, fetched.name, fetched.images);
        name = fetched.name;
      }
      if (!name) throw new ProductError('imagefile is empty: nothing to restore (run opsi-local-image-backup first or pick one from imagefiles_list)');
      ctx.progress(1, 'verifying image');
      const r = await restoreFlow(flowContext(ctx, { from: golden ? 40 : 1, to: 95 }, overrides), { imageName: name });
      // Only the OS side comes back with the image: the engine's own states (prepare, backup, ...)
      // describe what happened to the disk since, and putting back the backup job's own
      // in-progress state made a finished backup look never run.
      const saved = r.productStates.filter((s) => !ENGINE_PRODUCTS.has(s.productId));
      if (saved.length > 0) {
        await ctx.server.putProductStates(saved);
        ctx.log(`restored ${saved.length} saved product states`);
      }
      // The disk is restored at this point: a request the server refuses is a warning, not a
      // failed restore. One request per product so the others are still set. A product the
      // catalogue does not have (opsi's default `windomain` is a localboot product) is recorded
      // as setup for an agent in the restored OS (bootserver/service/agent-session.ts).
      const set: string[] = [];
      for (const productId of propList(ctx.job, 'setup_after_restore')) {
        try {
          await ctx.server.setActionRequests([{ productId, actionRequest: 'setup' }]);
          set.push(productId);
        } catch (error) {
          ctx.log(`warning: setup_after_restore: could not set ${productId} to setup: ${(error as Error).message}`);
        }
      }
      if (set.length) ctx.log(`set to setup: ${set.join(', ')}`);
      ctx.progress(100, 'restore done');
    },
  };
}

export const restoreProduct = makeRestoreProduct();
