// Demo / manual use of the VM harness: a private lab, the reference PXE chain (dnsmasq serving the
// boot root) and N VMs whose serial consoles are streamed here, prefixed by VM name.
//
//   npm run vm -- [--count 2] [--firmware uefi,bios] [--boot-image] [--memory 1024] [--disk 8G] [--logs DIR]
//   npm run vm -- --sweep        remove namespaces/temp dirs left by a killed harness process
//
// Runs until Ctrl-C (or until every VM has exited); then everything it started is torn down.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { createLab, type Lab } from './netns.ts';
import { startReferenceChain } from './reference-chain.ts';
import { startLabVm } from './lab-vm.ts';
import { bootRootDefault } from './paths.ts';
import { sweepStale } from './cleanup.ts';
import type { VmFirmware, Vm } from './qemu.ts';

const FIRMWARES: readonly VmFirmware[] = ['uefi', 'uefi-secureboot', 'bios'];

function demoGrubCfg(bootImage: boolean): string {
  const lines = [
    'serial --unit=0 --speed=115200',
    'terminal_input serial',
    'terminal_output serial',
    'smbios --type 1 --get-uuid 8 --set smbios_uuid',
    'echo "netimage demo: grub.cfg from the reference chain"',
    'echo "mac  $net_default_mac"',
    'echo "uuid $smbios_uuid"',
    'echo "ip   $net_default_ip"',
  ];
  if (bootImage) {
    lines.push(
      'echo "loading the boot image over TFTP"',
      'linux /netimage/kernel console=ttyS0,115200 loglevel=6 netimage.mac=$net_default_mac netimage.reboot_delay=600',
      'initrd /netimage/initrd',
      'boot',
    );
  } else {
    lines.push('echo "no boot image requested (--boot-image): halting in grub"', 'sleep 3600');
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '2' },
      firmware: { type: 'string', default: 'uefi,bios' },
      'boot-image': { type: 'boolean', default: false },
      memory: { type: 'string', default: '1024' },
      disk: { type: 'string', default: '8G' },
      logs: { type: 'string' },
      subnet: { type: 'string', default: '10.234.0.0/24' },
      sweep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run vm -- [--count N] [--firmware uefi,uefi-secureboot,bios] [--boot-image] [--memory MiB] [--disk 8G] [--logs DIR] [--subnet 10.x.y.0/24] | --sweep');
    return;
  }
  if (values.sweep) {
    sweepStale();
    console.log('swept stale harness namespaces and temp dirs');
    return;
  }
  const count = Number(values.count);
  const firmwares = values.firmware.split(',') as VmFirmware[];
  for (const f of firmwares) if (!FIRMWARES.includes(f)) throw new Error(`unknown firmware ${f} (${FIRMWARES.join(', ')})`);
  const bootRoot = bootRootDefault();
  if (!existsSync(join(bootRoot, 'shimx64.efi'))) throw new Error(`no loaders in ${bootRoot}: run bash run.sh setup`);
  const bootImage = values['boot-image'];
  if (bootImage && !existsSync(join(bootRoot, 'netimage/kernel'))) throw new Error(`no boot image in ${bootRoot}/netimage`);
  if (values.logs) mkdirSync(values.logs, { recursive: true });

  // Our handlers first, so cleanup.ts leaves these signals to us (its exit hook still runs).
  let lab: Lab | undefined;
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n[harness] ${why}: tearing down ${lab?.netns ?? 'nothing yet'}`);
    await lab?.destroy();
    process.exit(0);
  };
  // `on`, not `once`: while our async shutdown runs, a still-registered listener keeps execa's
  // signal-exit from re-raising the signal (it only does so when it is the last listener).
  process.on('SIGINT', () => void shutdown('interrupted'));
  process.on('SIGTERM', () => void shutdown('terminated'));
  lab = await createLab({ name: 'demo', subnet: values.subnet });
  try {
    await startReferenceChain(lab, {
      bootRoot,
      grubCfg: demoGrubCfg(bootImage),
      files: bootImage
        ? { 'netimage/kernel': { from: join(bootRoot, 'netimage/kernel') }, 'netimage/initrd': { from: join(bootRoot, 'netimage/initrd') } }
        : {},
    });
    console.log(`[harness] lab ${lab.netns}: bridge br0 ${lab.serverIp}/24, dnsmasq DHCP+TFTP from ${bootRoot}`);
    const vms: Vm[] = [];
    for (let i = 0; i < count; i++) {
      const firmware = firmwares[i % firmwares.length]!;
      const name = `pc${String(i + 1).padStart(2, '0')}`;
      const vm = await startLabVm(lab, {
        name,
        firmware,
        memory: Number(values.memory),
        disks: [{ size: values.disk }],
        ...(values.logs ? { logFile: join(values.logs, `${name}.log`) } : {}),
      });
      vms.push(vm);
      console.log(`[harness] ${name}: ${firmware}, mac ${vm.mac}, uuid ${vm.uuid}, pid ${vm.pid}`);
    }
    // Stream the consoles: poll each VM's lines (simple, and the consoles are slow anyway).
    const seen = vms.map(() => 0);
    const timer = setInterval(() => {
      vms.forEach((vm, i) => {
        const lines = vm.lines();
        for (const l of lines.slice(seen[i])) console.log(`${vm.name.padEnd(5)} ${(l.atMs / 1000).toFixed(1).padStart(6)}  ${l.text}`);
        seen[i] = lines.length;
      });
    }, 200);
    await Promise.all(vms.map((vm) => vm.exited));
    clearInterval(timer);
    await shutdown('all VMs exited');
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}

await main();
