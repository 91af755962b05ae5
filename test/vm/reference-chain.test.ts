// The PXE chain from the boot root's loaders, served by plain dnsmasq in a private lab:
// firmware → (shim →) grub → grub.cfg, for UEFI, UEFI with Secure Boot enforced, and BIOS.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLab } from '../../vm-harness/netns.ts';
import { startReferenceChain } from '../../vm-harness/reference-chain.ts';
import { startLabVm } from '../../vm-harness/lab-vm.ts';
import { bootRootDefault } from '../../vm-harness/paths.ts';
import type { VmFirmware } from '../../vm-harness/qemu.ts';

// The marker lines carry what grub saw: the VM's identity, grub's lockdown state (set when shim
// verified it under Secure Boot), and whether the unsigned http.mod could be loaded (refused under
// Secure Boot: grub prints the error but `insmod` still returns 0, so the test reads the console).
const grubCfg = [
  'serial --unit=0 --speed=115200',
  'terminal_input serial',
  'terminal_output serial',
  'echo "NI-LOCKDOWN [$lockdown]"',
  'insmod http',
  'smbios --type 1 --get-uuid 8 --set smbios_uuid',
  // One value per line: grub's serial terminal wraps at 80 columns.
  'echo "NI-MAC $net_default_mac"',
  'echo "NI-UUID $smbios_uuid"',
  'echo "NI-GRUB-CFG-DONE"',
  'sleep 600',
  '',
].join('\n');


const cases: { firmware: VmFirmware; loader: RegExp; secureBoot: boolean; net: number }[] = [
  { firmware: 'uefi', loader: /sent \S+\/shimx64\.efi /, secureBoot: false, net: 1 },
  { firmware: 'uefi-secureboot', loader: /sent \S+\/shimx64\.efi /, secureBoot: true, net: 2 },
  { firmware: 'bios', loader: /sent \S+\/grub\/i386-pc\/core\.0 /, secureBoot: false, net: 3 },
];

for (const c of cases) {
  test.serial(`${c.firmware}: PXE reaches grub.cfg from the boot root's loaders`, async (t) => {
    const lab = await createLab({ name: `ref${c.net}`, subnet: `10.231.${c.net}.0/24` });
    t.teardown(() => lab.destroy());
    const chain = await startReferenceChain(lab, { grubCfg });
    const vm = await startLabVm(lab, { name: `ref-${c.firmware}`, firmware: c.firmware, disks: [{ size: '1G' }] });
    const done = await vm.waitFor('NI-GRUB-CFG-DONE', 120_000);
    t.log(`${c.firmware}: grub.cfg ran ${(done.atMs / 1000).toFixed(1)} s after power-on`);
    const value = async (key: string) => (await vm.waitFor(new RegExp(`^${key} (\\S+)$`), 1000)).match[1];
    t.is(await value('NI-MAC'), vm.mac);
    t.is(await value('NI-UUID'), vm.uuid);
    t.is(await value('NI-LOCKDOWN'), c.secureBoot ? '[y]' : '[]');
    const refused = vm.lines().some((l) => /prohibited by secure boot policy/.test(l.text));
    t.is(refused, c.secureBoot, 'unsigned http.mod is refused exactly when Secure Boot is on');
    t.true(chain.log().some((l) => c.loader.test(l.text)), 'dnsmasq served the loader for this firmware');
  });
}

/** The same PE image without its Authenticode signature (certificate table cut off and zeroed). */
function stripSignature(image: Buffer): Buffer {
  const dataDirectories = image.readUInt32LE(0x3c) + 24 + 112; // PE32+ optional header
  const certDir = dataDirectories + 4 * 8;
  const offset = image.readUInt32LE(certDir);
  if (offset === 0) throw new Error('image is not signed');
  const unsigned = Buffer.from(image.subarray(0, offset));
  unsigned.writeUInt32LE(0, certDir);
  unsigned.writeUInt32LE(0, certDir + 4);
  return unsigned;
}

test.serial('Secure Boot is enforced: shim refuses an unsigned grub that plain UEFI boots', async (t) => {
  const lab = await createLab({ name: 'unsigned', subnet: '10.231.4.0/24' });
  t.teardown(() => lab.destroy());
  const unsigned = stripSignature(await readFile(join(bootRootDefault(), 'grubx64.efi')));
  await startReferenceChain(lab, { grubCfg, files: { 'grubx64.efi': unsigned } });
  // Both at once: the plain UEFI boot proves the stripped image is otherwise a working grub.
  const [secure, plain] = await Promise.all([
    startLabVm(lab, { name: 'unsigned-sb', firmware: 'uefi-secureboot' }),
    startLabVm(lab, { name: 'unsigned-plain', firmware: 'uefi' }),
  ]);
  const [refused, booted] = await Promise.all([
    secure.waitFor(/Verification failed: \(0x1A\) Security Violation/, 120_000),
    plain.waitFor('NI-GRUB-CFG-DONE', 120_000),
  ]);
  t.log(`shim refused the unsigned grub ${(refused.atMs / 1000).toFixed(1)} s after power-on; plain UEFI ran its grub.cfg at ${(booted.atMs / 1000).toFixed(1)} s`);
  t.false(secure.lines().some((l) => /Welcome to GRUB!/.test(l.text)));
});
