// The harness's own guarantees: argv for each firmware, serial text cleanup, and that a lab's
// teardown leaves no QEMU, no namespace behind.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cleanSerialText, qemuArgs, startVm } from '../../vm-harness/qemu.ts';
import { createLab, parseLabSubnet } from '../../vm-harness/netns.ts';
import { startLabVm } from '../../vm-harness/lab-vm.ts';

const base = { firmware: 'uefi' as const, memory: 512, cpus: 1, mac: '52:54:00:aa:bb:cc', uuid: '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d' };

test('qemuArgs: UEFI gets its own vars, an empty NIC ROM and network boot first', (t) => {
  const args = qemuArgs({ ...base, network: { kind: 'tap', ifname: 'tap0' } }, { varsFile: '/tmp/v.fd', disks: [{ path: '/tmp/d.qcow2', bus: 'virtio', serial: 'S1' }] });
  const s = args.join(' ');
  t.regex(s, /-accel tcg/);
  t.regex(s, /if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/);
  t.regex(s, /unit=1,file=\/tmp\/v\.fd/);
  t.regex(s, /virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc,romfile=,bootindex=1/);
  t.regex(s, /virtio-blk-pci,drive=d0,serial=S1,bootindex=2/);
  t.regex(s, /-smbios type=1,uuid=8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d/);
  t.notRegex(s, /smm=on/);
});

test('qemuArgs: Secure Boot uses the .ms firmware with SMM; BIOS keeps the iPXE ROM', (t) => {
  const sb = qemuArgs({ ...base, firmware: 'uefi-secureboot' }, { varsFile: '/tmp/v.fd', disks: [] }).join(' ');
  t.regex(sb, /q35,smm=on/);
  t.regex(sb, /driver=cfi\.pflash01,property=secure,value=on/);
  t.regex(sb, /OVMF_CODE_4M\.ms\.fd/);
  const bios = qemuArgs(
    { ...base, firmware: 'bios', network: { kind: 'tap', ifname: 'tap0' } },
    { disks: [{ path: '/tmp/n.qcow2', bus: 'nvme', serial: 'N1' }], serconFile: '/tmp/s' },
  ).join(' ');
  t.notRegex(bios, /pflash|romfile/);
  t.regex(bios, /-boot n/);
  t.regex(bios, /name=etc\/sercon-port,file=\/tmp\/s/);
  t.regex(bios, /nvme,drive=d0,serial=N1/);
});

test('cleanSerialText drops terminal escapes', (t) => {
  t.is(cleanSerialText('\x1b[=3h\x1b[0m\x1b[2J\x1b[01;01HWelcome to GRUB!'), 'Welcome to GRUB!');
});

test('parseLabSubnet accepts only 10.x.y.0/24', (t) => {
  t.deepEqual(parseLabSubnet('10.7.3.0/24'), { base: '10.7.3' });
  for (const bad of ['192.168.1.0/24', '10.7.3.0/16', '10.300.1.0/24', '10.1.1.5/24']) t.throws(() => parseLabSubnet(bad));
});

test('stop() kills QEMU, removes its temp files and is safe twice', async (t) => {
  const vm = await startVm({ firmware: 'bios', disks: [{ size: '64M' }] });
  t.teardown(() => vm.stop());
  await vm.waitFor('SeaBIOS', 30_000);
  const disk = vm.diskPaths[0]!;
  t.true(existsSync(disk));
  await Promise.all([vm.stop(), vm.stop()]);
  t.throws(() => process.kill(vm.pid, 0));
  t.false(existsSync(disk));
});

test('waitFor rejects with the serial log tail on timeout', async (t) => {
  const vm = await startVm({ firmware: 'bios' });
  t.teardown(() => vm.stop());
  await vm.waitFor('SeaBIOS', 30_000);
  const error = await t.throwsAsync(vm.waitFor('never printed', 500));
  t.regex(error.message, /timeout after 500 ms/);
  t.regex(error.message, /SeaBIOS \(version/);
});

test('lab teardown ends its VMs and deletes the namespace', async (t) => {
  const lab = await createLab({ name: 'teardown', subnet: '10.232.1.0/24' });
  t.teardown(() => lab.destroy());
  const vm = await startLabVm(lab, { firmware: 'bios' });
  await vm.waitFor('SeaBIOS', 30_000);
  t.true(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(lab.netns));
  await lab.destroy();
  t.throws(() => process.kill(vm.pid, 0));
  t.false(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(lab.netns));
});

test('waitFor { after } skips the previous boot: SeaBIOS reboots and prints its banner again', async (t) => {
  // No boot device + reboot-timeout: SeaBIOS reboots 1 s after "No bootable device".
  const vm = await startVm({ firmware: 'bios', extraArgs: ['-boot', 'reboot-timeout=1000'] });
  t.teardown(() => vm.stop());
  const first = await vm.waitFor(/SeaBIOS \(version/, 30_000);
  const again = await vm.waitFor(/SeaBIOS \(version/, 30_000, { after: first });
  t.true(again.index > first.index);
  t.true(again.atMs > first.atMs);
  t.is(vm.lines()[again.index]?.text, again.line);
  const fromNow = vm.lines().length;
  await t.throwsAsync(vm.waitFor(/SeaBIOS \(version/, 200, { after: fromNow + 1000 }));
});
