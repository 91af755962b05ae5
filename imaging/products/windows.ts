// opsi-local-image-win10-x64 / -win11-x64: stage WinPE, the install sources, drivers and the
// answer file on the winpe partition (imaging/windows-install/), then reboot: the PC's Grub config
// chainloads the staged WinPE, which runs Windows setup onto the system partition. The job
// succeeds when WinPE is staged; the product is installed only when SetupComplete.cmd reports.
import type { NetbootProduct } from '../../lib/netboot-product.ts';
import { ProductId } from '../../lib/products.ts';
import { askBeforeInstall, type ConsoleIo } from '../linux-install/confirm.ts';
import { readPciDevices, type PciDevice } from '../windows-install/drivers.ts';
import { stageWindows } from '../windows-install/stage.ts';
import { findWindowsTarget } from '../windows-install/target.ts';
import { flowContext, type FlowOverrides, propBool } from './props.ts';
import { ASK_SECONDS } from './debian.ts';

export function makeWindowsProduct(id: typeof ProductId.win10 | typeof ProductId.win11, overrides: FlowOverrides & { console?: () => ConsoleIo; pciDevices?: () => Promise<PciDevice[]> } = {}): NetbootProduct {
  const { console: openConsole, pciDevices, ...flow } = overrides;
  return {
    id,
    run: async (ctx) => {
      const fc = flowContext(ctx, { from: 0, to: 100 }, flow);
      ctx.progress(1, 'looking for the prepared disk');
      const target = await findWindowsTarget(fc, ctx.firmware);
      const lines = [
        `${id} will stage Windows setup on disk ${target.disk}:`,
        `  ${target.winpe}: winpe partition - ERASED (new NTFS with WinPE, the install sources, drivers, unattend.xml)`,
        ...(target.esp ? [`  ${target.esp}: EFI system partition - WinPE's loader in \\EFI\\netimage-winpe`] : []),
        `  ${target.system}: system partition - Windows setup installs here after the reboot`,
        `  ${target.backup}: backup partition - kept`,
      ];
      for (const l of lines) ctx.log(l);
      // The plan (and its one-time completion token) only now: a refusal above costs no token.
      const plan = await ctx.server.getWindowsInstallPlan();
      if (propBool(ctx.job, 'askbeforeinst', false)) await askBeforeInstall(lines, ASK_SECONDS, ctx.log, openConsole?.(), ctx.signal);
      const r = await stageWindows({
        target,
        plan,
        fetchFile: (path, headers, signal) => ctx.server.fetchFile(path, headers, signal),
        pciDevices: await (pciDevices ?? readPciDevices)(),
        log: ctx.log,
        progress: ctx.progress,
        signal: ctx.signal,
      });
      ctx.log(`WinPE staged (${r.files} files, ${(r.bytes / 1048576).toFixed(1)} MiB, ${r.drivers.length} driver folders); rebooting into WinPE, Windows setup reports to the server when it is done`);
    },
  };
}

export const win10Product = makeWindowsProduct(ProductId.win10);
export const win11Product = makeWindowsProduct(ProductId.win11);
