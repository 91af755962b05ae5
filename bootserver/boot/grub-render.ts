// Renders Grub configs from templates/grub/*.hbs. Handlebars runs with noEscape (HTML escaping
// would corrupt Grub syntax) and strict (a missing key is an error, not an empty string).
// Anything that is not a fixed literal goes through grubq, which makes it one inert Grub word.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { KERNEL_ARGS } from '../../lib/agent-protocol.ts';
import type { Firmware } from '../../lib/firmware.ts';
import { ESP_WINPE_DIR, WINPE_PENDING_FILE } from '../../lib/winpe-paths.ts';
import type { LocalBootTarget } from './decide.ts';
import { bootImageFiles, type InitrdMode } from './image-files.ts';

/** Quote a value as one Grub word that expands nothing: '...' with ' written as '\''. */
export function grubQuote(value: unknown): string {
  // Control characters (newlines above all) would end the command: make them spaces.
  const text = String(value ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A kernel argument as a Grub word: plain when it is harmless, quoted otherwise. */
export function grubKernelArg(arg: string): string {
  return /^[A-Za-z0-9._,:/=@+-]+$/.test(arg) ? arg : grubQuote(arg);
}

const TEMPLATE_NAMES = ['grub.cfg', 'netboot.cfg', 'local-uefi.cfg', 'local-bios.cfg'] as const;
type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** UEFI OS loaders tried in order for local boot (Windows first, then distro shims, then the fallback path). */
export const UEFI_LOCAL_LOADERS = [
  '/EFI/Microsoft/Boot/bootmgfw.efi',
  '/EFI/debian/shimx64.efi',
  '/EFI/ubuntu/shimx64.efi',
  '/EFI/fedora/shimx64.efi',
  '/EFI/opensuse/shim.efi',
  '/EFI/debian/grubx64.efi',
  '/EFI/ubuntu/grubx64.efi',
  '/EFI/BOOT/BOOTX64.EFI',
];

/**
 * A PC with an installed Linux (boot/decide.ts localBootTarget) boots it through the ESP's shim
 * (signed by Microsoft's UEFI CA, so the firmware's LoadImage accepts it with Secure Boot on;
 * grubx64.efi directly would be refused), then the removable path the installer also fills;
 * then the generic list, so a disk restored to Windows meanwhile still boots.
 */
export const UEFI_INSTALLED_LINUX_LOADERS = [
  '/EFI/debian/shimx64.efi',
  '/EFI/ubuntu/shimx64.efi',
  '/EFI/BOOT/BOOTX64.EFI',
  ...UEFI_LOCAL_LOADERS.filter((l) => !['/EFI/debian/shimx64.efi', '/EFI/ubuntu/shimx64.efi', '/EFI/BOOT/BOOTX64.EFI'].includes(l)),
];

/** UEFI loaders searched, in order, for a local boot to this target. Pure. */
export function uefiLoadersFor(target: LocalBootTarget): string[] {
  return target === 'installed-linux' ? UEFI_INSTALLED_LINUX_LOADERS : UEFI_LOCAL_LOADERS;
}

export interface NetbootConfigInput {
  clientId: string;
  productId: string;
  jobId: string;
  attempt: number;
  maxAttempts: number;
  token: string;
  mac: string | null;
  /** null: use the address the client booted from ($netimage_server, taken from grub's $root). */
  serverIp: string | null;
  httpPort: number;
  transport: 'tftp' | 'http';
  /** two-stage: grub loads stage 1 only; its init fetches stage 2 over HTTP. */
  initrd: InitrdMode;
  debug: boolean;
  serialConsole: boolean;
  extraKernelArgs: string;
}

export interface LocalConfigInput {
  firmware: Firmware;
  clientLabel: string;
  reason: string;
  /** Default 'any': the generic search. */
  target?: LocalBootTarget;
}

export class GrubRenderer {
  private readonly templates: Map<TemplateName, Handlebars.TemplateDelegate>;
  private readonly hostIdentifiers: string;

  constructor(templateDir: string, hostIdentifiers: readonly string[]) {
    const hb = Handlebars.create();
    hb.registerHelper('grubq', (value: unknown) => grubQuote(value));
    this.templates = new Map(
      TEMPLATE_NAMES.map((name) => [name, hb.compile(readFileSync(join(templateDir, 'grub', `${name}.hbs`), 'utf8'), { noEscape: true, strict: true })]),
    );
    this.hostIdentifiers = hostIdentifiers.join(', ');
  }

  private render(name: TemplateName, data: Record<string, unknown>): string {
    return this.templates.get(name)!(data);
  }

  renderTopLevel(): string {
    return this.render('grub.cfg', { hostIdentifiers: this.hostIdentifiers });
  }

  /** Kernel command line for the boot image, as Grub words. */
  kernelArgs(input: NetbootConfigInput): string {
    // $netimage_server is set and exported by the top-level grub.cfg (from $root).
    const server = input.serverIp ?? '${netimage_server}';
    const words: string[] = [];
    if (input.serialConsole) words.push('console=tty0', 'console=ttyS0,115200');
    // Double quotes so Grub expands $netimage_server; the rest is fixed, validated text.
    words.push(`"${KERNEL_ARGS.server}=http://${server}:${input.httpPort}"`);
    words.push(grubKernelArg(`${KERNEL_ARGS.job}=${input.jobId}`));
    words.push(grubKernelArg(`${KERNEL_ARGS.token}=${input.token}`));
    if (input.mac) words.push(grubKernelArg(`${KERNEL_ARGS.mac}=${input.mac}`));
    if (input.debug) words.push(grubKernelArg(`${KERNEL_ARGS.debug}=1`));
    for (const extra of input.extraKernelArgs.split(/\s+/).filter((s) => s.length > 0)) words.push(grubKernelArg(extra));
    return words.join(' ');
  }

  renderNetboot(input: NetbootConfigInput): string {
    const server = input.serverIp ?? '$netimage_server';
    const useHttp = input.transport === 'http';
    const files = bootImageFiles(input.initrd);
    return this.render('netboot.cfg', {
      productId: input.productId,
      clientId: input.clientId,
      jobId: input.jobId,
      attempt: input.attempt,
      maxAttempts: input.maxAttempts,
      useHttp,
      device: useHttp ? `http,${server}:${input.httpPort}` : `tftp,${server}`,
      kernelPath: `${useHttp ? 'boot/' : ''}${files.kernel}`,
      initrdPath: `${useHttp ? 'boot/' : ''}${files.initrd}`,
      kernelArgs: this.kernelArgs(input),
      bannerText: `netimage: ${input.productId} for ${input.clientId}`,
    });
  }

  renderLocal(input: LocalConfigInput): string {
    const target = input.target ?? 'any';
    const data = {
      clientLabel: input.clientLabel,
      reason: input.reason,
      bannerText: `netimage: booting the local disk (${input.reason})`,
      installedLinux: target === 'installed-linux',
      // A staged unattended Windows: WinPE first while its marker is on the disk (boot/decide.ts).
      winpe: target === 'winpe' ? { marker: `/${WINPE_PENDING_FILE}`, espLoader: `/${ESP_WINPE_DIR}/bootx64.efi` } : null,
    };
    return input.firmware === 'uefi' ? this.render('local-uefi.cfg', { ...data, loaders: uefiLoadersFor(target) }) : this.render('local-bios.cfg', data);
  }
}
