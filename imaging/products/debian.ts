// opsi-local-image-debian and opsi-local-image-ubuntu (same code; the plan's OS says which archive
// the server built from): lay the server's root filesystem onto the disk prepare made
// (imaging/linux-install/), then reboot into it. The job succeeds when the system is laid down;
// the product becomes installed only when the installed system reports its first boot.
import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { ProductId } from '../../lib/products.ts';
import { askBeforeInstall, type ConsoleIo } from '../linux-install/confirm.ts';
import { installDebian } from '../linux-install/install.ts';
import { describeTarget, findInstallTarget } from '../linux-install/target.ts';
import { flowContext, type FlowOverrides, propBool } from './props.ts';

/** How long askbeforeinst waits for Enter before it goes on. */
export const ASK_SECONDS = 30;

type InstallOverrides = FlowOverrides & { console?: () => ConsoleIo };

export function makeOsInstallProduct(id: typeof ProductId.debian | typeof ProductId.ubuntu, overrides: InstallOverrides = {}): NetbootProduct {
  const { console: openConsole, ...flow } = overrides;
  return {
    id,
    run: async (ctx) => {
      const fc = flowContext(ctx, { from: 0, to: 100 }, flow);
      ctx.progress(1, 'looking for the prepared disk');
      const target = await findInstallTarget(fc, ctx.firmware);
      const lines = [`${id} will install ${id === ProductId.ubuntu ? 'Ubuntu' : 'Debian'} onto`, ...describeTarget(target)];
      for (const l of lines) ctx.log(l);
      // The plan (and its one-time first-boot token) only now: a refusal above costs no token.
      const plan = await ctx.server.getOsInstallPlan();
      if (propBool(ctx.job, 'askbeforeinst', true)) await askBeforeInstall(lines, ASK_SECONDS, ctx.log, openConsole?.(), ctx.signal);
      const r = await installDebian({
        target,
        plan,
        fetchFile: (path, headers, signal) => ctx.server.fetchFile(path, headers, signal),
        log: ctx.log,
        progress: ctx.progress,
        signal: ctx.signal,
      });
      ctx.log(`installed ${plan.os} on ${target.system} (root UUID ${r.rootUuid}); rebooting into it, the first boot reports to the server`);
    },
  };
}

export const makeDebianProduct = (overrides: InstallOverrides = {}) => makeOsInstallProduct(ProductId.debian, overrides);
export const debianProduct = makeDebianProduct();
export const ubuntuProduct = makeOsInstallProduct(ProductId.ubuntu);
