// Stage 1's module and firmware choice (bootimage/builder/nic-modules.ts) on an excerpt of the real
// modules.dep of Debian 12's linux-image-6.1.0-57-amd64 (fixtures/modules-nic.dep: NIC drivers of
// PCs, a data-centre NIC, a VF driver, virtual NICs, USB host controllers, storage, ext4).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nonFreeFirmwareSources } from '../../bootimage/builder/firmware.ts';
import { parseBuiltin, parseModulesDep, parseSoftdeps } from '../../bootimage/builder/modules-dep.ts';
import { firmwareModulePaths, namesOf, selectFirmware, selectNicModules } from '../../bootimage/builder/nic-modules.ts';

const dep = parseModulesDep(readFileSync(join(import.meta.dirname, 'fixtures/modules-nic.dep'), 'utf8'));
// From the same kernel's modules.builtin: virtio_pci is built in.
const builtin = parseBuiltin('kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio_pci_modern_dev.ko\n');

test('stage 1: every module under the NIC trees by path, data-centre NICs and VFs left to stage 2', (t) => {
  const s = selectNicModules(dep, builtin);
  t.deepEqual(s.drivers, ['cdc_ether', 'e1000e', 'libphy', 'mdio_devres', 'r8152', 'r8169', 'realtek', 'usbnet']);
  t.deepEqual(s.stage2Only, ['igbvf', 'mlx5_core', 'mlxfw']);
  const names = namesOf(s.paths);
  // drivers' dependencies outside the trees (mii, usbcore), virtual NICs with theirs, USB host controllers
  for (const m of ['mii', 'usbcore', 'usb_common', 'virtio_net', 'net_failover', 'failover', 'vmxnet3', 'hv_netvsc', 'hv_vmbus', 'xhci_pci', 'xhci_hcd', 'ehci_pci', 'ohci_pci', 'uhci_hcd']) {
    t.true(names.includes(m), `stage 1 has ${m}`);
  }
  // storage, filesystems and what only a stage-2 NIC needs stay out
  for (const m of ['ahci', 'libata', 'nvme', 'ext4', 'mlx5_core', 'psample', 'pci_hyperv_intf', 'igbvf']) t.false(names.includes(m), `stage 1 leaves out ${m}`);
  t.deepEqual(s.missing, [], 'virtio_pci is built in');
  t.deepEqual(s.paths, [...s.paths].sort());
  // firmware is looked up for every shipped module but the data-centre NICs
  const fw = namesOf(firmwareModulePaths([...dep.values()].map((e) => e.path)));
  for (const m of ['r8169', 'e1000e', 'ahci', 'nvme', 'psample']) t.true(fw.includes(m), m);
  for (const m of ['mlx5_core', 'mlxfw', 'igbvf']) t.false(fw.includes(m), m);
});

test('stage 1: softdeps come along even from a tree left to stage 2; an unknown extra is reported without a built-in', (t) => {
  const soft = parseSoftdeps('softdep r8169 pre: realtek\n');
  const s = selectNicModules(dep, builtin, soft, ['kernel/drivers/net/phy/']);
  t.false(s.drivers.includes('realtek'));
  t.true(s.stage2Only.includes('realtek'));
  t.true(namesOf(s.paths).includes('realtek'), 'r8169 pulls its PHY driver in by softdep');
  t.true(namesOf(s.paths).includes('libphy'), 'and by modules.dep');
  t.deepEqual(selectNicModules(dep, new Set()).missing, ['virtio_pci']);
});

test('firmware: named files where a package has them, link targets too, globs, the rest reported', (t) => {
  const available = new Map<string, { pkg: string; linkTo?: string }>([
    ['rtl_nic/rtl8168h-2.fw', { pkg: 'firmware-realtek' }],
    ['rtl_nic/rtl8125a-3.fw', { pkg: 'firmware-realtek', linkTo: 'rtl_nic/rtl8125a-3-real.fw' }],
    ['rtl_nic/rtl8125a-3-real.fw', { pkg: 'firmware-realtek' }],
    ['tigon/tg3.bin', { pkg: 'firmware-misc-nonfree' }],
    ['qlogic/a.bin', { pkg: 'firmware-qlogic' }],
    ['qlogic/b.bin', { pkg: 'firmware-qlogic' }],
    ['unrelated.bin', { pkg: 'firmware-misc-nonfree' }],
  ]);
  const modules = new Map<string, string[]>([
    ['r8169', ['rtl_nic/rtl8168h-2.fw', 'rtl_nic/rtl8125a-3.fw']],
    ['e1000e', []],
    ['bnx2x', ['bnx2x/bnx2x-e2-7.13.21.0.fw']],
    ['qla', ['qlogic/*.bin', 'qlogic/none?.bin']],
    ['tg3', ['tigon/tg3.bin']],
  ]);
  const c = selectFirmware(modules, available);
  t.deepEqual(
    c.files.map((f) => `${f.pkg}:${f.name}`),
    ['firmware-qlogic:qlogic/a.bin', 'firmware-qlogic:qlogic/b.bin', 'firmware-realtek:rtl_nic/rtl8125a-3-real.fw', 'firmware-realtek:rtl_nic/rtl8125a-3.fw', 'firmware-realtek:rtl_nic/rtl8168h-2.fw', 'firmware-misc-nonfree:tigon/tg3.bin'],
  );
  t.deepEqual(c.missing, ['bnx2x: bnx2x/bnx2x-e2-7.13.21.0.fw', 'qla: qlogic/none?.bin']);
  t.deepEqual(selectFirmware(new Map([['r8169', modules.get('r8169')!]]), available).files.length, 3);
});

test('non-free-firmware sources come from the host apt policy (its main archives), never a fixed host', (t) => {
  const policy = `Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://mirror.example/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=stable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
 500 http://mirror.example/debian bookworm/main amd64 Packages
     release v=12.12,o=Debian,a=stable,n=bookworm,l=Debian,c=main,b=amd64
 500 http://mirror.example/debian bookworm/contrib amd64 Packages
     release v=12.12,o=Debian,a=stable,n=bookworm,l=Debian,c=contrib,b=amd64
 500 https://other.example/apt cloud-sdk-bookworm/main amd64 Packages
     release o=Other,a=cloud-sdk-bookworm,n=cloud-sdk-bookworm,c=main,b=amd64
Pinned packages:
`;
  t.deepEqual(nonFreeFirmwareSources(policy, '/k.gpg'), [
    'deb [signed-by=/k.gpg] http://mirror.example/debian bookworm non-free-firmware',
    'deb [signed-by=/k.gpg] http://mirror.example/debian-security bookworm-security non-free-firmware',
  ]);
  t.deepEqual(nonFreeFirmwareSources(' 100 /var/lib/dpkg/status\n     release a=now\n', null), []);
});
