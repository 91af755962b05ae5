import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { ProductId } from '../../lib/products.ts';
import { flowContext, type FlowOverrides } from './props.ts';
import { wimInfoFlow } from '../wim/flows.ts';
import { wimTarget } from './wim-capture.ts';

/**
 * Lists the images of the target product's install.wim in the job log (index, name, edition,
 * version, architecture, languages, size). Reads the copy on this PC's backup partition: the
 * depot has no WIM entries yet. Changes nothing: `imagename` choices are catalogue data, which
 * the agent API cannot write (docs/windows.md).
 */
export function makeWimInfoProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.wimInfo,
    run: async (ctx) => {
      const target = wimTarget(ctx.job);
      ctx.progress(1, 'reading install.wim');
      const r = await wimInfoFlow(flowContext(ctx, { from: 1, to: 95 }, overrides), target);
      ctx.log(`imagename choices for ${target}: ${r.info.images.map((i) => JSON.stringify(i.name)).join(', ')}`);
      ctx.progress(100, 'done');
    },
  };
}

export const wimInfoProduct = makeWimInfoProduct();
