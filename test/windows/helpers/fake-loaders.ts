// STAND-IN WinPE loaders for the VM scenario (test/vm/windows-install.test.ts): an ADK WinPE cannot
// be had here, but the handover from the PC's Grub config to the staged loader can be shown with
// loaders that really run and say so on the serial console:
// - UEFI: a real EFI application (grub-mkimage of the grub-common/grub-efi-amd64-bin debs the
//   setup fetched into .tools/debs, never installed) whose embedded config prints STANDIN_MARKER
//   and powers the VM off. It stands for WinPE's \EFI\Boot\bootx64.efi.
// - BIOS: a few bytes of 16-bit real-mode code that grub's `ntldr` loads at 2000:0000 as it loads
//   bootmgr; it writes STANDIN_MARKER to COM1 and halts. It stands for WinPE's \bootmgr.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../lib/process.ts';
import { repoRoot } from '../../../lib/paths.ts';

export const STANDIN_MARKER = 'NETIMAGE-STANDIN-WINPE-LOADER started';

async function deb(debs: string, name: string): Promise<string> {
  const file = (await readdir(debs)).filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb')).sort().at(-1);
  if (!file) throw new Error(`no ${name} deb in ${debs}: run ./run.sh setup`);
  return join(debs, file);
}

/** A UEFI application that prints `${STANDIN_MARKER} (UEFI)` on the console and powers off. */
export async function fakeEfiLoader(): Promise<Buffer> {
  const debs = join(repoRoot, '.tools', 'debs');
  const dir = await mkdtemp(join(tmpdir(), 'ni-fake-efi-'));
  try {
    await run('dpkg-deb', ['-x', await deb(debs, 'grub-common'), dir]);
    await run('dpkg-deb', ['-x', await deb(debs, 'grub-efi-amd64-bin'), dir]);
    await writeFile(join(dir, 'embedded.cfg'), `echo "${STANDIN_MARKER} (UEFI)"\nhalt\n`);
    const out = join(dir, 'bootx64.efi');
    await run(join(dir, 'usr/bin/grub-mkimage'), ['-O', 'x86_64-efi', '-d', join(dir, 'usr/lib/grub/x86_64-efi'), '-o', out, '-p', '/EFI/BOOT', '-c', join(dir, 'embedded.cfg'), 'echo', 'halt']);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Real-mode code for grub's ntldr (loaded at 2000:0000, CS=0x2000, IP=0): clear DF, copy CS to DS, write
 * the message byte by byte to COM1 (port 0x3f8), then `cli; hlt` forever.
 */
export function fakeBootmgr(): Buffer {
  const msg = Buffer.from(`\r\n${STANDIN_MARKER} (BIOS)\r\n\0`, 'latin1');
  const code = Buffer.from([
    0xfc, //                 0: cld (lodsb counts up whatever grub left in DF)
    0x0e, //                 1: push cs
    0x1f, //                 2: pop ds
    0xbe, 0x15, 0x00, //     3: mov si, 0x15 (msg)
    0xba, 0xf8, 0x03, //     6: mov dx, 0x3f8
    0xac, //                 9: lodsb
    0x84, 0xc0, //          10: test al, al
    0x74, 0x03, //          12: jz 17
    0xee, //                14: out dx, al
    0xeb, 0xf8, //          15: jmp 9
    0xfa, //                17: cli
    0xf4, //                18: hlt
    0xeb, 0xfc, //          19: jmp 17
  ]);
  if (code.length !== 0x15) throw new Error('fake bootmgr: message offset');
  return Buffer.concat([code, msg]);
}
