// The loader choice for a DHCP request: which kind of network-boot client is asking, and which
// loader it gets (what it then boots is bootserver/boot/decide.ts' job). Pure: a parsed request and the settings in, reply fields out.
import {
  Opt,
  clientArchitectures,
  clientUuid,
  encode,
  encodeSubOptions,
  isIpxe,
  macOf,
  PxeSub,
  vendorClass,
  type DhcpPacket,
} from './codec.ts';

/** Option 60 prefixes of network-boot firmware; the reply must echo the same word. */
export type ClientClass = 'PXEClient' | 'HTTPClient';

/**
 * RFC 4578 / IANA processor architecture types we serve. Other values (ARM, IA32 EFI, ...) have no
 * loader in our boot root, so those clients get no boot answer rather than a file they cannot run.
 */
export const Arch = {
  biosX86: 0,
  efiBc: 7, // what OVMF and most x64 UEFI firmware send for PXE
  efiX64: 9,
  efiX64Http: 16,
} as const;

/** Only for choosing a loader: the loader differs per firmware and transport, not per machine model. */
export type LoaderPlatform = 'bios' | 'efi-x64' | 'efi-x64-http';

/** Boot file names in the boot root (see the shared layout). */
export const BootFiles = {
  bios: 'grub/i386-pc/core.0',
  efiX64: 'shimx64.efi',
} as const;

export interface BootClient {
  mac: string;
  /** Canonical SMBIOS UUID from option 97, if sent. */
  uuid: string | undefined;
  clientClass: ClientClass;
  arch: number;
  platform: LoaderPlatform | undefined;
  ipxe: boolean;
}

export interface BootSettings {
  serverIp: string;
  ipxeScriptUrl: string | null;
}

/**
 * Why UEFI HTTP boot gets no answer. Measured (OVMF, Debian 12's signed shim 16.1 and grubnetx64
 * 2.06-13+deb12u2): shim fetches grub over HTTP, but grub loaded that way sends nothing
 * more on the network (no network configuration from an HTTP boot, and no built-in HTTP module in
 * the signed image) and stops at a `grub>` prompt: the PC waits there for good.
 * Unanswered, the firmware moves on to its next boot entry: its PXE entry, or the local disk.
 */
export const HTTP_BOOT_REFUSED = 'UEFI HTTP boot not offered: Debian\'s signed Grub cannot go on from it (it would stop at a grub> prompt); the PXE entry of the same firmware boots this PC';

export type LoaderChoice =
  | { ok: true; client: BootClient; bootFile: string; why: string }
  | { ok: false; client: BootClient | undefined; why: string };

function clientClassOf(p: DhcpPacket): ClientClass | undefined {
  const vc = vendorClass(p);
  if (!vc) return undefined;
  const word = vc.split(':')[0];
  return word === 'PXEClient' || word === 'HTTPClient' ? word : undefined;
}

/** Architecture from option 93, else from option 60's `Arch:NNNNN` (older ROMs), else BIOS. */
function archOf(p: DhcpPacket): number {
  const list = clientArchitectures(p);
  if (list && list.length > 0) return list[0]!;
  const m = /:Arch:(\d{5})/.exec(vendorClass(p) ?? '');
  return m ? Number(m[1]) : Arch.biosX86;
}

function platformOf(arch: number, clientClass: ClientClass): LoaderPlatform | undefined {
  if (clientClass === 'HTTPClient') return arch === Arch.efiX64Http ? 'efi-x64-http' : undefined;
  if (arch === Arch.biosX86) return 'bios';
  if (arch === Arch.efiBc || arch === Arch.efiX64) return 'efi-x64';
  return undefined;
}

/** Undefined when the request is not from network-boot firmware (no PXEClient/HTTPClient in option 60). */
export function classifyBootClient(p: DhcpPacket): BootClient | undefined {
  const clientClass = clientClassOf(p);
  if (!clientClass) return undefined;
  const arch = archOf(p);
  return { mac: macOf(p), uuid: clientUuid(p), clientClass, arch, platform: platformOf(arch, clientClass), ipxe: isIpxe(p) };
}

export function chooseLoader(p: DhcpPacket, settings: BootSettings): LoaderChoice {
  const client = classifyBootClient(p);
  if (!client) return { ok: false, client, why: 'not a PXE/HTTP boot client (option 60)' };
  if (client.ipxe && settings.ipxeScriptUrl) {
    return { ok: true, client, bootFile: settings.ipxeScriptUrl, why: 'iPXE with a configured script' };
  }
  switch (client.platform) {
    case 'bios':
      return { ok: true, client, bootFile: BootFiles.bios, why: `BIOS (arch ${client.arch})` };
    case 'efi-x64':
      return { ok: true, client, bootFile: BootFiles.efiX64, why: `EFI x64 (arch ${client.arch})` };
    case 'efi-x64-http':
      return { ok: false, client, why: HTTP_BOOT_REFUSED };
    case undefined:
      return { ok: false, client, why: `no loader for ${client.clientClass} architecture ${client.arch}` };
  }
}

/**
 * PXE vendor options telling the ROM to boot the file it was given right away instead of doing
 * boot-server discovery or waiting for a menu (discovery control bit 3), as dnsmasq does.
 */
export const PXE_VENDOR_OPTIONS = encodeSubOptions(new Map([[PxeSub.discoveryControl, Buffer.from([0x08])]]));

/** Put the boot answer into a reply: BOOTP siaddr/file AND options 66/67 (shim reads `file`). */
export function applyBootFields(reply: DhcpPacket, request: DhcpPacket, decision: { client: BootClient; bootFile: string }, settings: BootSettings): void {
  reply.siaddr = settings.serverIp;
  reply.file = decision.bootFile;
  reply.options.set(Opt.vendorClass, encode.text(decision.client.clientClass));
  if (decision.client.clientClass === 'PXEClient') reply.options.set(Opt.vendorSpecific, PXE_VENDOR_OPTIONS);
  reply.options.set(Opt.tftpServerName, encode.text(settings.serverIp));
  reply.options.set(Opt.bootfileName, encode.text(decision.bootFile));
  const uuid = request.options.get(Opt.clientUuid);
  if (uuid) reply.options.set(Opt.clientUuid, Buffer.from(uuid));
}
