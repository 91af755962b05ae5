import { ProductError, type NetbootProduct } from '../../bootimage/agent/product.ts';
import { restoreFlow } from '../flows.ts';
import { RESTORE_PRODUCT, wrap } from './common.ts';
import { flowContext, type FlowOverrides, propList, propString } from './props.ts';

export function makeRestoreProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: RESTORE_PRODUCT,
    destructive: true,
    run: (ctx) =>
      wrap(async () => {
        const name = propString(ctx.job, 'imagefile').trim();
        if (!name) throw new ProductError('imagefile is empty: nothing to restore (run opsi-local-image-backup first or pick one from imagefiles_list)');
        ctx.progress(1, 'verifying image');
        const r = await restoreFlow(flowContext(ctx, { from: 1, to: 95 }, overrides), { imageName: name });
        if (r.productStates.length > 0) {
          await ctx.server.putProductStates(r.productStates);
          ctx.log(`restored ${r.productStates.length} saved product states`);
        }
        const after = propList(ctx.job, 'setup_after_restore');
        if (after.length) {
          await ctx.server.setActionRequests(after.map((productId) => ({ productId, actionRequest: 'setup' as const })));
          ctx.log(`set to setup: ${after.join(', ')}`);
        }
        ctx.progress(100, 'restore done');
      }),
  };
}

export const restoreProduct = makeRestoreProduct();
