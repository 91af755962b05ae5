// Direct-boot runner: boots the built boot image (kernel + initrd, no PXE) in QEMU/TCG with
// restricted user networking. The guest gets 10.0.2.15 from QEMU's DHCP and reaches exactly one
// host service: guest 10.0.2.100:<port> is forwarded to 127.0.0.1:<port> (restrict=on drops
// everything else), so the agent talks to a real bootserver on the host's loopback.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KERNEL_ARGS } from '../lib/agent-protocol.ts';
import { bootRootDefault } from './paths.ts';
import { randomMac, startVm, type DiskSpec, type Vm } from './qemu.ts';

/** The address the guest uses for the forwarded server (inside QEMU's 10.0.2.0/24). */
export const GUEST_SERVER_ADDR = '10.0.2.100';

export interface DirectBootOptions {
  /** Directory with kernel + initrd (default <bootRoot>/netimage). */
  imageDir?: string;
  /**
   * 'stage1': boot stage 1 only, so init fetches stage 2 from the server (boot.initrd=two-stage);
   * default the whole image (docs/bootimage.md "Two stages").
   */
  initrd?: 'initrd' | 'stage1';
  firmware?: 'uefi' | 'bios';
  /** Port of the bootserver on 127.0.0.1; the guest sees it as http://10.0.2.100:<port>. */
  serverPort?: number;
  /** Job id and one-time token for the kernel command line (omit both for a boot without a job). */
  job?: { id: string; token: string };
  mac?: string;
  uuid?: string;
  serial?: string;
  disks?: DiskSpec[];
  /** MiB (default 1024). */
  memory?: number;
  /** vCPUs (default 1; TCG runs one host thread per vCPU). */
  cpus?: number;
  debug?: boolean;
  /** Seconds init waits before rebooting after a failure (netimage.reboot_delay). */
  rebootDelay?: number;
  /** More kernel arguments. */
  append?: string;
  /** QEMU model of the boot NIC (default virtio-net-pci; the hardware matrix cells use the others). */
  nicModel?: string;
  /** More QEMU arguments (extra NICs and disk controllers for the hardware matrix). */
  qemuArgs?: string[];
  logFile?: string;
  name?: string;
}

export interface DirectBoot {
  vm: Vm;
  /** The server URL as the guest sees it. */
  guestServerUrl: string | null;
  append: string;
}

/** Kernel command line for the boot image (pure). */
export function directBootAppend(o: {
  serverUrl?: string | null;
  job?: { id: string; token: string };
  mac?: string;
  debug?: boolean;
  rebootDelay?: number;
  extra?: string;
}): string {
  // quiet + loglevel=3: kernel chatter over an emulated UART costs seconds under TCG.
  const parts = ['console=ttyS0,115200', 'quiet', 'loglevel=3', 'panic=-1'];
  if (o.serverUrl) parts.push(`${KERNEL_ARGS.server}=${o.serverUrl}`);
  if (o.job) parts.push(`${KERNEL_ARGS.job}=${o.job.id}`, `${KERNEL_ARGS.token}=${o.job.token}`);
  if (o.mac) parts.push(`${KERNEL_ARGS.mac}=${o.mac.toLowerCase()}`);
  if (o.debug) parts.push(`${KERNEL_ARGS.debug}=1`);
  if (o.rebootDelay !== undefined) parts.push(`netimage.reboot_delay=${o.rebootDelay}`);
  if (o.extra) parts.push(o.extra);
  return parts.join(' ');
}

/** Boot the image. Guest reboot/poweroff ends QEMU (-no-reboot). Caller stops the VM (t.teardown). */
export async function directBoot(o: DirectBootOptions = {}): Promise<DirectBoot> {
  const imageDir = o.imageDir ?? join(bootRootDefault(), 'netimage');
  const kernel = join(imageDir, 'kernel');
  const initrd = join(imageDir, o.initrd ?? 'initrd');
  if (!existsSync(kernel) || !existsSync(initrd)) {
    throw new Error(`no boot image in ${imageDir}: run \`node bootimage/build.ts\` (or bash run.sh setup)`);
  }
  const guestServerUrl = o.serverPort ? `http://${GUEST_SERVER_ADDR}:${o.serverPort}` : null;
  const vmMac = (o.mac ?? randomMac()).toLowerCase();
  const append = directBootAppend({
    serverUrl: guestServerUrl,
    job: o.job,
    mac: vmMac,
    debug: o.debug,
    rebootDelay: o.rebootDelay,
    extra: o.append,
  });
  const vm = await startVm({
    name: o.name,
    firmware: o.firmware ?? 'bios',
    memory: o.memory ?? 1024,
    cpus: o.cpus ?? 1,
    mac: vmMac,
    uuid: o.uuid,
    serial: o.serial,
    disks: o.disks ?? [],
    // qemu.ts's guestfwd goes to a chardev, which carries ONE TCP connection for the VM's life;
    // HTTP clients open several (keep-alive expiry, parallel progress posts). The `cmd:` form
    // execs a relay per guest connection instead. restrict=on: nothing else leaves the VM.
    network: { kind: 'none' },
    extraArgs: [
      '-netdev',
      [
        'user',
        'id=nb0',
        'restrict=on',
        ...(o.serverPort ? [`guestfwd=tcp:${GUEST_SERVER_ADDR}:${o.serverPort}-cmd:busybox nc 127.0.0.1 ${o.serverPort}`] : []),
      ].join(','),
      '-device',
      // No option ROM for the other models: direct boot does not PXE, and their ROMs slow SeaBIOS.
      `${o.nicModel ?? 'virtio-net-pci'},netdev=nb0,mac=${vmMac}${(o.firmware ?? 'bios') === 'bios' && !o.nicModel ? '' : ',romfile='}`,
      ...(o.qemuArgs ?? []),
    ],
    kernel,
    initrd,
    append,
    noReboot: true,
    logFile: o.logFile,
  });
  return { vm, guestServerUrl, append };
}
