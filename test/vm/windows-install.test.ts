// Issue 13's VM scenario, UEFI and BIOS: a PC netboots from the real bootserver (own netns, full
// DHCP mode), opsi-local-image-prepare lays the disk out for Windows (NTFS system, winpe partition),
// opsi-local-image-win11-x64 is set and the boot image's agent stages it through the real plan
// route and depot; the host then reads the stopped VM's disk: the winpe partition's files against
// the depot's sha256, the $WinPEDriver$ folder for the VM's own PCI devices, the answer file, the
// ESP loader (UEFI); finally the PC boots again and its per-client Grub config hands over to the
// staged WinPE loader, which prints a marker on the serial console.
// STAND-INS (named so, test/windows/helpers/): the Windows media and WinPE (fake-media.ts: real
// WIMs by wimlib, INF-format drivers, marked bytes for setup.exe and the BCDs) with loaders that run
// (fake-loaders.ts): UEFI a grub-mkimage EFI application, BIOS 20 bytes of real-mode code for
// grub's ntldr; each prints "NETIMAGE-STANDIN-WINPE-LOADER started" instead of starting WinPE.
// What the serial console shows is therefore grub's echo before `chainloader`/`ntldr` and then the
// stand-in loader's own marker: the handover itself, not a real WinPE starting.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from '../../lib/process.ts';
import { Depot } from '../../bootserver/depot/depot.ts';
import { createLab, type Lab } from '../../vm-harness/netns.ts';
import { startLabServer, type LabServer } from '../../vm-harness/lab-server.ts';
import { bootVm, createRawDisk, productStates, registerClient, runProduct } from '../../vm-harness/classroom.ts';
import { partitionByLabel, withLoopDisk, withMounted } from '../../vm-harness/disk-access.ts';
import { randomMac } from '../../vm-harness/qemu.ts';
import { addFakeMedia, EDITIONS } from '../windows/helpers/fake-media.ts';
import { fakeBootmgr, fakeEfiLoader, STANDIN_MARKER } from '../windows/helpers/fake-loaders.ts';
import { ensureBootImage } from './direct-helpers.ts';
import { xpath } from '../windows/helpers/xpath.ts';

const WIN11 = 'opsi-local-image-win11-x64';
const PREPARE = { os_family: 'windows', system_partition_size: '2G', winpe_partition_size: '256M', data_partition_size: '0G', minimal_backup_partition_size: '40%' };
const WIN_PROPS = { imagename: EDITIONS[1]!.name, productkey: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T', administrator_password: 'Vm-Pa$$<w>rd&"', orgname: 'Schule & Co <IT>', language: 'de-DE', askbeforeinst: false, backup_after_install: true };

let lab: Lab | undefined;
let server: LabServer | undefined;
let depot: Depot | undefined;

test.before(async (t) => {
  t.timeout(10 * 60_000); // the boot image build, when sources changed
  await ensureBootImage();
  lab = await createLab({ name: 'win13', subnet: '10.77.113.0/24' });
  const depotDir = await mkdtemp(join(tmpdir(), 'netimage-lab-depot-'));
  lab.defer(() => rm(depotDir, { recursive: true, force: true }));
  depot = await Depot.open(depotDir);
  await addFakeMedia(depot, WIN11, { loaders: { efi: await fakeEfiLoader(), bootmgr: fakeBootmgr() } });
  server = await startLabServer(lab, { dhcpMode: 'full', pool: [150, 199], env: { NETIMAGE_DEPOT_DIR: depotDir } });
});

test.after.always(async () => {
  await lab?.destroy();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function filesUnder(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.set(relative(root, p), sha256(await readFile(p)));
    }
  };
  await walk(root);
  return out;
}


async function scenario(t: ExecutionContext, firmware: 'uefi' | 'bios', clientId: string): Promise<void> {
  const mac = randomMac();
  await registerClient(server!, { id: clientId, mac });
  const disk = await createRawDisk(lab!, '8G');
  const base = { firmware, clientId, mac, disk };

  const prepared = await runProduct(lab!, server!, { ...base, name: `${clientId}-prepare`, productId: 'opsi-local-image-prepare', properties: PREPARE, timeoutMs: 6 * 60_000 });
  t.log(`prepare (${firmware}): ${prepared.job.state} in ${prepared.seconds.toFixed(1)} s`);
  t.is(prepared.job.state, 'succeeded', prepared.vm.tail(40));

  const staged = await runProduct(lab!, server!, { ...base, name: `${clientId}-stage`, productId: WIN11, properties: WIN_PROPS, timeoutMs: 6 * 60_000 });
  t.log(`${WIN11} staging (${firmware}): ${staged.job.state} in ${staged.seconds.toFixed(1)} s`);
  t.is(staged.job.state, 'succeeded', staged.vm.tail(60));
  // Staged, not installed: Windows setup (and its completion report) is what would come next.
  t.like((await productStates(server!, clientId))[WIN11], { actionRequest: 'none', installationStatus: 'unknown' });

  // The stopped VM's disk, read on the host.
  const entry = (await depot!.get('windows-media', WIN11))!;
  const depotSha = new Map(entry.manifest.files.map((f) => [f.path, f.sha256]));
  const seen = await withLoopDisk(disk, async (_loop, parts) => {
    const winpe = partitionByLabel(parts, 'WINPE');
    const esp = parts.find((p) => p.fsType === 'vfat');
    const onWinpe = await withMounted(winpe, 'ro', async (dir) => ({
      fsType: winpe.fsType,
      files: await filesUnder(dir),
      unattend: await readFile(join(dir, 'netimage/unattend.xml'), 'utf8'),
      stage: JSON.parse(await readFile(join(dir, 'netimage/stage.json'), 'utf8')),
    }));
    // The ESP read with mtools (as the agent writes it): this host's kernel has no vfat.
    const espLoader = esp && firmware === 'uefi' ? (await execa('mcopy', ['-i', esp.device, '::/EFI/netimage-winpe/bootx64.efi', '-'], { env: { MTOOLS_SKIP_CHECK: '1' }, encoding: 'buffer', stripFinalNewline: false })).stdout : null;
    return { ...onWinpe, espLoader };
  });
  t.is(seen.fsType, 'ntfs');

  // WinPE and the install medium: every file with the depot's bytes (boot.wim gets startnet.cmd).
  let compared = 0;
  for (const [path, sum] of depotSha) {
    const to = path.startsWith('winpe/') ? path.slice(6) : path.startsWith('installfiles/') ? path : null;
    if (!to || to === 'sources/boot.wim') continue;
    t.is(seen.files.get(to), sum, to);
    compared++;
  }
  t.true(compared >= 8, `${compared} files compared`);
  t.true(seen.files.has('netimage/pending'), 'the marker Grub boots WinPE by');

  // Drivers: the VM's own PCI functions (QEMU q35: virtio-net 1af4:1000 subsystem 1af4:0001, the
  // ICH9 AHCI 8086:2922, ...), read from sysfs by the agent. netkvm.inf names the virtio NIC: its
  // folder is copied. Not copied: the e1000 (no such NIC in this VM), the Realtek (absent), and the
  // ICH9 AHCI .inf, whose device the VM has but which lists only NTx86 models.
  const drivers = [...seen.files.keys()].filter((f) => f.startsWith('$WinPEDriver$/')).sort();
  t.deepEqual(drivers, ['$WinPEDriver$/001-net_virtio/amd64/netkvm.cat', '$WinPEDriver$/001-net_virtio/netkvm.inf', '$WinPEDriver$/001-net_virtio/netkvm.sys']);
  t.is(seen.files.get('$WinPEDriver$/001-net_virtio/netkvm.sys'), depotSha.get('drivers/net/virtio/netkvm.sys'));
  t.is(seen.stage.drivers.length, 1, JSON.stringify(seen.stage.drivers));
  t.is(seen.stage.drivers[0].folder, 'net/virtio');
  t.regex(seen.stage.drivers[0].matched.join(' '), /PCI\\VEN_1AF4&DEV_10(00|41)/);
  t.is(seen.stage.drivers[0].devices.length, 1, 'the one virtio NIC');

  // The answer file: well-formed, the chosen edition, the system partition, the drivers, escaping.
  await t.notThrowsAsync(execa('xmllint', ['--noout', '-'], { input: seen.unattend }));
  const setup = "/unattend/settings[@pass='windowsPE']/component[@name='Microsoft-Windows-Setup']";
  t.is(await xpath(seen.unattend, `${setup}/ImageInstall/OSImage/InstallFrom/MetaData/Value`), WIN_PROPS.imagename);
  t.is(await xpath(seen.unattend, `${setup}/ImageInstall/OSImage/InstallTo/PartitionID`), firmware === 'uefi' ? '3' : '1');
  t.is(await xpath(seen.unattend, "/unattend/settings[@pass='windowsPE']/component[@name='Microsoft-Windows-PnpCustomizationsWinPE']/DriverPaths/PathAndCredentials/Path"), 'W:\\$WinPEDriver$');
  t.is(await xpath(seen.unattend, "/unattend/settings[@pass='specialize']/component[@name='Microsoft-Windows-Shell-Setup']/ComputerName"), clientId);
  t.is(await xpath(seen.unattend, "/unattend/settings[@pass='specialize']/component[@name='Microsoft-Windows-Shell-Setup']/RegisteredOrganization"), WIN_PROPS.orgname);
  t.false(seen.unattend.includes(WIN_PROPS.administrator_password), 'the password only encoded');

  if (firmware === 'uefi') {
    t.is(seen.espLoader ? sha256(Buffer.from(seen.espLoader)) : null, depotSha.get('winpe/EFI/Boot/bootx64.efi') ?? 'not in the depot', "WinPE's loader in the ESP under its own path");
  }

  // The next boot: the PC's Grub config finds the marker and hands over to the staged loader.
  const vm = await bootVm(lab!, { ...base, name: `${clientId}-winpe` });
  try {
    const handover = firmware === 'uefi' ? /netimage: chainloading the staged WinPE \/EFI\/netimage-winpe\/bootx64\.efi/ : /netimage: loading the staged WinPE's bootmgr from \(/;
    const at = await vm.waitFor(handover, 4 * 60_000);
    await vm.waitFor(new RegExp(`${STANDIN_MARKER} \\(${firmware === 'uefi' ? 'UEFI' : 'BIOS'}\\)`), 60_000, { after: at });
    t.pass(`${firmware}: grub handed over to the staged loader`);
  } finally {
    await vm.stop();
  }
}

test.serial('UEFI: prepare for Windows, win11-x64 staged by the agent; winpe partition, drivers for the VM\'s PCI ids, answer file, ESP loader; the next boot chainloads it', async (t) => {
  t.timeout(15 * 60_000);
  await scenario(t, 'uefi', 'pc-win-uefi');
});

test.serial("BIOS: prepare for Windows (MBR), win11-x64 staged; the next boot's grub ntldr loads the staged bootmgr", async (t) => {
  t.timeout(15 * 60_000);
  await scenario(t, 'bios', 'pc-win-bios');
});
