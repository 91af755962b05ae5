import { ProductError, type NetbootProduct } from '../../lib/netboot-product.ts';
import { delimageFlow } from '../flows.ts';
import { ProductId } from '../../lib/products.ts';
import { flowContext, type FlowOverrides, propString } from './props.ts';
import { reportImages } from './common.ts';

export function makeDelimageProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.delimage,
    run: async (ctx) => {
      const imagefile = propString(ctx.job, 'imagefile').trim();
      if (!imagefile) throw new ProductError('imagefile is empty: name an image or all_images');
      const r = await delimageFlow(flowContext(ctx, { from: 1, to: 90 }, overrides), imagefile);
      // The newest remaining image becomes restore's default, as after a backup.
      await reportImages(ctx, r.remaining.at(-1) ?? '', r.images);
      await ctx.server.setProperties(ProductId.backup, { free_on_backup: r.space.text });
      ctx.progress(100, `deleted ${r.deleted.join(', ') || 'nothing'}`);
    },
  };
}

export const delimageProduct = makeDelimageProduct();
