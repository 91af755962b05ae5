import test from 'ava';
import { readFileSync } from 'node:fs';
import { cleanDmi, inventoryDisks, transportFromDevicePath, wwnFromWwid } from '../../bootimage/agent/products/inventory-parse.ts';
import { agentInventory } from '../../lib/agent-protocol.ts';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));

// Captured on this machine: `lsblk -J -b -O --nodeps` over a 64 MiB loop (512 B sectors) and a
// 32 MiB loop made with --sector-size 4096.
test('host loop devices: sizes and sector sizes from lsblk', (t) => {
  const disks = inventoryDisks(fixture('lsblk-host-loop.json'), {}, { types: ['loop'] });
  t.is(disks.length, 2);
  const [a, b] = disks;
  t.is(a!.sizeBytes, 64 * 2 ** 20);
  t.is(a!.logicalSectorSize, 512);
  t.is(b!.sizeBytes, 32 * 2 ** 20);
  t.is(b!.logicalSectorSize, 4096);
  t.is(b!.physicalSectorSize, 4096);
  t.true(a!.path.startsWith('/dev/loop'));
});

test('loop devices are not disks by default', (t) => {
  t.deepEqual(inventoryDisks(fixture('lsblk-host-loop.json'), {}), []);
});

// Captured inside the boot image under QEMU (no udev): a 2 GiB virtio disk with serial VIRTDISK1
// (lsblk leaves model/serial null) and a 1 GiB NVMe disk with serial NVMEDISK1.
test('boot image: sysfs fills what lsblk lacks without udev', (t) => {
  const sysfs = {
    vda: { serial: 'VIRTDISK1', devicePath: '/sys/devices/pci0000:00/0000:00:02.0/virtio0', rotational: '1' },
    nvme0n1: { serial: 'NVMEDISK1           ', devicePath: '/sys/devices/pci0000:00/0000:00:03.0/nvme/nvme0' },
  };
  const disks = inventoryDisks(fixture('lsblk-vm.json'), sysfs);
  t.deepEqual(disks.map((d) => d.name), ['nvme0n1', 'vda']);
  const [nvme, vda] = disks;
  t.is(vda!.sizeBytes, 2 * 2 ** 30);
  t.is(vda!.serial, 'VIRTDISK1');
  t.is(vda!.transport, 'virtio');
  t.true(vda!.rotational);
  t.is(nvme!.sizeBytes, 2 ** 30);
  t.is(nvme!.serial, 'NVMEDISK1');
  t.is(nvme!.model, 'QEMU NVMe Ctrl');
  t.is(nvme!.transport, 'nvme');
  t.false(nvme!.rotational);
  // The result is what the server's schema accepts.
  t.notThrows(() =>
    agentInventory.parse({
      collectedAt: new Date().toISOString(),
      system: { manufacturer: null, model: null, serial: null, uuid: null },
      bios: { vendor: null, version: null, firmware: 'bios' },
      cpu: { model: null, cores: 1 },
      memoryBytes: 1,
      disks,
      nics: [],
    }),
  );
});

test('sysfs-only values when lsblk has nulls', (t) => {
  const lsblk = { blockdevices: [{ name: 'sda', type: 'disk', size: null, 'log-sec': null, 'phy-sec': null, rota: null, tran: null, model: null, serial: null, wwn: null }] };
  const [d] = inventoryDisks(lsblk, {
    sda: { sizeSectors: '1953525168', logicalBlockSize: '512', physicalBlockSize: '4096', rotational: '0', model: 'Samsung SSD 870 ', wwid: 'naa.5002538F4150ABCD', devicePath: '/sys/devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0' },
  });
  t.is(d!.sizeBytes, 1953525168 * 512);
  t.is(d!.physicalSectorSize, 4096);
  t.false(d!.rotational);
  t.is(d!.model, 'Samsung SSD 870');
  t.is(d!.wwn, '0x5002538f4150abcd');
  t.is(d!.transport, 'sata');
});

test('helpers: transport, wwn, DMI placeholders', (t) => {
  t.is(transportFromDevicePath('/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0'), 'usb');
  t.is(transportFromDevicePath(undefined), null);
  t.is(wwnFromWwid('eui.0025388b91b2c3d4'), '0x0025388b91b2c3d4');
  t.is(wwnFromWwid('t10.ATA     QEMU HARDDISK'), null);
  t.is(cleanDmi('To Be Filled By O.E.M.'), null);
  t.is(cleanDmi(' QEMU \n'), 'QEMU');
  t.is(cleanDmi(undefined), null);
});
