// STAND-IN Windows media for the unattended install tests: real Windows media and an ADK WinPE
// cannot be had here. What is real: boot.wim and install.wim are WIMs wimlib captured (install.wim
// with two named images), the .inf files follow the INF format (one UTF-16LE with BOM, one with an
// NTx86-only model, one for a device the PC lacks). What is not: bootmgr, bootx64.efi, BCD and
// setup.exe are a few marked bytes, so nothing here boots.
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../lib/process.ts';
import type { Depot } from '../../../bootserver/depot/depot.ts';

export const EDITIONS = [
  { index: 1, name: 'Windows 11 Pro' },
  { index: 2, name: 'Windows 11 Education & <Lab>' },
];

/** The PCI devices the tests give the agent (as readPciDevices reads them from sysfs). */
export const PCI_DEVICES = [
  { slot: '0000:00:02.0', vendor: '8086', device: '100e', subsystemVendor: '1af4', subsystemDevice: '1100', revision: '03' },
  { slot: '0000:00:03.0', vendor: '1af4', device: '1000', subsystemVendor: '1af4', subsystemDevice: '0001', revision: '00' },
  { slot: '0000:00:1f.2', vendor: '8086', device: '2922', subsystemVendor: '1af4', subsystemDevice: '1100', revision: '02' },
];

const standIn = (what: string) => `STAND-IN ${what}: not a real Microsoft binary (test/windows/helpers/fake-media.ts)\n`;

const E1000_INF = `; stand-in driver package
[Version]
Signature = "$WINDOWS NT$"
Class = Net

[Manufacturer]
%Intel% = Intel, NTamd64

[Intel.NTamd64]
; the QEMU e1000, only with its subsystem
%E100E.Desc% = E1000.ndi, PCI\\VEN_8086&DEV_100E&SUBSYS_11001AF4

[Strings]
Intel = "Intel"
E100E.Desc = "Intel(R) PRO/1000 MT; stand-in"
`;

const NETKVM_INF = `[Version]
Signature="$WINDOWS NT$"
[Manufacturer]
%RH%=RedHat,NTamd64.10.0
[RedHat.NTamd64.10.0]
%NetKVM% = kvmnet6.ndi, PCI\\VEN_1AF4&DEV_1000&SUBSYS_00011AF4&REV_00, \\
    PCI\\VEN_1AF4&DEV_1041
[Strings]
RH="Red Hat"
NetKVM="VirtIO Ethernet Adapter"
`;

/** Listed only for 32-bit Windows: an amd64 install must not take it. */
const X86_ONLY_INF = `[Manufacturer]
%Intel% = Ich9, NTx86
[Ich9.NTx86]
%Ahci% = ahci, PCI\\VEN_8086&DEV_2922
`;

const REALTEK_INF = `[Manufacturer]
%Realtek% = Realtek, NTamd64
[Realtek.NTamd64]
%r8168% = r8168, PCI\\VEN_10EC&DEV_8168
`;

/** A WIM of `images` (name -> files) captured by wimlib. */
async function wim(file: string, images: { name: string; files: Record<string, string> }[], scratch: string): Promise<void> {
  for (const [i, image] of images.entries()) {
    const dir = join(scratch, `wim-${i}`);
    for (const [path, text] of Object.entries(image.files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    await run('wimlib-imagex', [i === 0 ? 'capture' : 'append', dir, file, image.name, '--compress=none'], { env: { LC_ALL: 'C.UTF-8' } });
  }
}

export interface FakeMediaOptions {
  winpe?: boolean;
  /** Loaders that run and print a marker (helpers/fake-loaders.ts) instead of marked bytes. */
  loaders?: { efi: Buffer; bootmgr: Buffer };
  /** A sparse file of zeros of this size as installfiles/sources/install2.swm (a medium too big for the partition). */
  bigFileBytes?: number;
}

/** Write the media tree (winpe/, installfiles/, drivers/) into `root`. */
export async function writeFakeMedia(root: string, options: FakeMediaOptions = {}): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'ni-fake-media-'));
  try {
    const put = async (path: string, data: string | Buffer) => {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), data);
    };
    if (options.winpe !== false) {
      await put('winpe/bootmgr', options.loaders?.bootmgr ?? standIn('bootmgr'));
      await put('winpe/Boot/BCD', standIn('BCD (BIOS)'));
      await put('winpe/Boot/boot.sdi', standIn('boot.sdi'));
      await put('winpe/EFI/Boot/bootx64.efi', options.loaders?.efi ?? standIn('bootx64.efi'));
      await put('winpe/EFI/Microsoft/Boot/BCD', standIn('BCD (UEFI)'));
      await mkdir(join(root, 'winpe/sources'), { recursive: true });
      await wim(join(root, 'winpe/sources/boot.wim'), [{ name: 'Microsoft Windows PE (amd64)', files: { 'Windows/System32/startnet.cmd': 'wpeinit\r\n', 'Windows/System32/stand-in.txt': standIn('WinPE') } }], scratch);
    }
    await put('installfiles/setup.exe', standIn('setup.exe'));
    if (options.bigFileBytes) {
      await put('installfiles/sources/install2.swm', '');
      await truncate(join(root, 'installfiles/sources/install2.swm'), options.bigFileBytes);
    }
    await put('installfiles/sources/lang.ini', '[Available UI Languages]\r\nde-DE = 3\r\n');
    await wim(
      join(root, 'installfiles/sources/install.wim'),
      EDITIONS.map((e) => ({ name: e.name, files: { 'Windows/System32/stand-in.txt': standIn(e.name) } })),
      scratch,
    );
    await put('drivers/net/intel-e1000/e1000.inf', E1000_INF);
    await put('drivers/net/intel-e1000/e1g6032e.sys', standIn('e1000 driver'));
    await put('drivers/net/virtio/netkvm.inf', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(NETKVM_INF, 'utf16le')]));
    await put('drivers/net/virtio/netkvm.sys', standIn('netkvm driver'));
    await put('drivers/net/virtio/amd64/netkvm.cat', standIn('netkvm catalog'));
    await put('drivers/storage/ich9-x86/ahci.inf', X86_ONLY_INF);
    await put('drivers/net/realtek/r8168.inf', REALTEK_INF);
    // custom/: scripts SetupComplete.cmd runs (in name order), a helper it does not run, drivers
    // for pnputil, and plain files for the installed system.
    await put('custom/setupcomplete/20-tweaks.ps1', 'Set-ItemProperty -Path HKLM:\\SOFTWARE\\Lab -Name Room -Value 101\r\n');
    await put('custom/setupcomplete/10-join lab.cmd', '@echo off\r\nexit /b 0\r\n');
    await put('custom/setupcomplete/readme.txt', 'not run\r\n');
    await put('custom/drivers/printer/hpprinter.inf', '[Version]\r\nSignature="$WINDOWS NT$"\r\n');
    await put('custom/files/Hintergrund ü.txt', 'custom file\n');
    await put('custom/files/100% #1 & ~$x.txt', 'a name that must be percent-encoded in its URL\n');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The media as a windows-media depot entry named by the product, written through the Depot API. */
export async function addFakeMedia(depot: Depot, productId: string, options: FakeMediaOptions & { editions?: unknown } = {}): Promise<void> {
  await depot.create('windows-media', productId, { standIn: true, editions: options.editions ?? EDITIONS }, (dir) => writeFakeMedia(dir, options));
}
