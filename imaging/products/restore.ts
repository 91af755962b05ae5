import { z } from 'zod';
import { ProductError, type NetbootProduct } from '../../lib/netboot-product.ts';
import { restoreFlow, withStore } from '../flows.ts';
import { fetchGoldenImage, parseSeedSession, type GoldenSeed } from '../golden.ts';
import { SEED_SESSION_PATH } from '../../lib/golden.ts';
import type { ProductContext } from '../../lib/netboot-product.ts';
import { imageReports } from '../store/store.ts';
import { ProductId } from '../../lib/products.ts';
import { PAGEFILE_SETTINGS, RESTORE_MODES } from '../restore-mode.ts';
import { ENGINE_PRODUCTS, reportImages } from './common.ts';
import { flowContext, type FlowOverrides, propBool, propList, propString } from './props.ts';

/** restore_mode as the agent takes it (the server checks the choices when it is set, too). */
const RestoreModeSchema = z.enum(RESTORE_MODES);
/** pagefile as the agent takes it. */
const PagefileSchema = z.enum(PAGEFILE_SETTINGS);

export function makeRestoreProduct(overrides: FlowOverrides = {}): NetbootProduct {
  return {
    id: ProductId.restore,
    run: async (ctx) => {
      let name = propString(ctx.job, 'imagefile').trim();
      // server_image: a golden image from the server's depot onto the backup partition first (imaging/golden.ts).
      const golden = propString(ctx.job, 'server_image').trim();
      const restoreAfter = !golden || propBool(ctx.job, 'restore_after_fetch', true);
      if (golden) {
        // server_image_multicast: the room's seeding session, if the group action started one.
        const seed = propBool(ctx.job, 'server_image_multicast', false) ? await roomSeedSession(ctx) : null;
        const to = restoreAfter ? 40 : 95;
        ctx.progress(1, seed ? 'receiving image (room seeding)' : 'fetching image');
        const fetched = await withStore(flowContext(ctx, { from: 1, to }, overrides), async (s) => {
          const f = await fetchGoldenImage({
            fetchFile: (p, h, sig) => ctx.server.fetchFile(p, h, sig),
            root: s.root,
            name: golden,
            log: ctx.log,
            signal: ctx.signal,
            seed,
            onProgress: (got, size) => ctx.progress(1 + ((to - 1) * got) / size, seed ? 'receiving image (room seeding)' : 'fetching image'),
          });
          return { name: f.meta.name, images: await imageReports(s.root) };
        });
        await reportImages(ctx, fetched.name, fetched.images);
        name = fetched.name;
      }
      if (!restoreAfter) {
        ctx.log(`restore_after_fetch=false: image ${name} is on the backup partition; the system partition was not touched`);
        ctx.progress(100, 'image fetched');
        return;
      }
      if (!name) throw new ProductError('imagefile is empty: nothing to restore (run opsi-local-image-backup first or pick one from imagefiles_list)');
      const given = propString(ctx.job, 'restore_mode', 'auto').trim() || 'auto';
      const parsed = RestoreModeSchema.safeParse(given);
      if (!parsed.success) throw new ProductError(`restore_mode "${given}" is not one of ${RESTORE_MODES.join(', ')}`);
      const mode = parsed.data;
      const givenPagefile = propString(ctx.job, 'pagefile', 'restore').trim() || 'restore';
      const pagefile = PagefileSchema.safeParse(givenPagefile);
      if (!pagefile.success) throw new ProductError(`pagefile "${givenPagefile}" is not one of ${PAGEFILE_SETTINGS.join(', ')}`);
      ctx.progress(1, 'verifying image');
      const r = await restoreFlow(flowContext(ctx, { from: golden ? 40 : 1, to: 95 }, overrides), { imageName: name, mode, pagefile: pagefile.data });
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

/** The room's seeding session for this job, or null (then unicast, and the log says why). */
async function roomSeedSession(ctx: ProductContext): Promise<GoldenSeed | null> {
  try {
    const res = await ctx.server.agentRequest('GET', SEED_SESSION_PATH, { signal: ctx.signal });
    const body = (await res.json().catch(() => null)) as { message?: string } | null;
    if (!res.ok) {
      ctx.log(`room seeding: no session for this PC (HTTP ${res.status}: ${body?.message ?? ''}): fetching over HTTP (unicast)`);
      return null;
    }
    return { session: parseSeedSession(body) };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log(`room seeding: asking the server for the session failed (${(error as Error).message}): fetching over HTTP (unicast)`);
    return null;
  }
}
