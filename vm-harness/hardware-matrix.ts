// The hardware matrix of issue 15 as extra QEMU devices for one direct boot: NIC models and disk
// controllers QEMU 7.2 emulates here (docs/vm-harness.md). Each NIC gets its own restricted user
// netdev (nothing leaves the VM) and a fixed MAC; each disk a sparse raw file of a distinct size,
// so the inventory can be matched by size whatever name the kernel gives the disk.
import { closeSync, openSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export interface MatrixNic {
  model: string;
  mac: string;
  /** Linux drivers that may bind QEMU's model. */
  drivers: string[];
}

export interface MatrixDisk {
  controller: string;
  sizeBytes: number;
}

/** QEMU NIC model → the drivers that bind it. virtio-net is the boot NIC (direct-boot.ts). */
const NIC_MODELS: { model: string; drivers: string[] }[] = [
  { model: 'e1000', drivers: ['e1000'] },
  { model: 'e1000e', drivers: ['e1000e'] },
  { model: 'rtl8139', drivers: ['8139cp', '8139too'] },
  { model: 'vmxnet3', drivers: ['vmxnet3'] },
];

const MIB = 1024 * 1024;

/** Controllers and the QEMU devices for a disk behind each (drive id `m<i>`). */
const CONTROLLERS: { controller: string; devices: (drive: string, i: number) => string[] }[] = [
  // q35's built-in ICH9 AHCI
  { controller: 'ahci', devices: (d) => ['-device', `ide-hd,drive=${d},bus=ide.2`] },
  { controller: 'virtio-scsi', devices: (d, i) => ['-device', `virtio-scsi-pci,id=vs${i}`, '-device', `scsi-hd,drive=${d},bus=vs${i}.0`] },
  { controller: 'lsi53c895a', devices: (d, i) => ['-device', `lsi53c895a,id=lsi${i}`, '-device', `scsi-hd,drive=${d},bus=lsi${i}.0`] },
  { controller: 'megasas', devices: (d, i) => ['-device', `megasas,id=mega${i}`, '-device', `scsi-hd,drive=${d},bus=mega${i}.0`] },
  { controller: 'usb-storage', devices: (d, i) => ['-device', `qemu-xhci,id=xhci${i}`, '-device', `usb-storage,drive=${d},bus=xhci${i}.0`] },
];

/** The boot NIC models of the matrix cells: every NIC model above plus virtio-net (QEMU 7.2 has no igb). */
export const CELL_NIC_MODELS: { model: string; drivers: string[] }[] = [...NIC_MODELS, { model: 'virtio-net-pci', drivers: ['virtio_net'] }];

/** Every controller of the matrix cells: the attached matrix's plus nvme and virtio-blk (direct-boot.ts's disk buses). */
export const CELL_CONTROLLERS: { controller: string; transport: string | null; devices: (drive: string, i: number) => string[] }[] = [
  { controller: 'ahci', transport: 'sata', devices: CONTROLLERS[0]!.devices },
  { controller: 'nvme', transport: 'nvme', devices: (d, i) => ['-device', `nvme,drive=${d},serial=NIMX${i}`] },
  { controller: 'virtio-blk', transport: 'virtio', devices: (d) => ['-device', `virtio-blk-pci,drive=${d}`] },
  { controller: 'virtio-scsi', transport: null, devices: CONTROLLERS[1]!.devices },
  { controller: 'megasas', transport: null, devices: CONTROLLERS[3]!.devices },
  { controller: 'usb-storage', transport: 'usb', devices: CONTROLLERS[4]!.devices },
];

/**
 * QEMU arguments for one disk (a sparse raw file in `dir` of `sizeBytes`) behind `controller`,
 * one cell of the matrix (test/vm/direct-hw-matrix.test.ts).
 */
export function cellDisk(dir: string, controller: string, sizeBytes: number): string[] {
  const c = CELL_CONTROLLERS.find((x) => x.controller === controller);
  if (!c) throw new Error(`no matrix controller ${controller}`);
  const file = join(dir, `cell-${controller}.raw`);
  const fd = openSync(file, 'w');
  ftruncateSync(fd, sizeBytes);
  closeSync(fd);
  return ['-drive', `file=${file},format=raw,if=none,id=c0`, ...c.devices('c0', 0)];
}

/** QEMU arguments for the matrix (disk files created in `dir`), and what the inventory must show. */
export function hardwareMatrix(dir: string, macPrefix: string): { args: string[]; nics: MatrixNic[]; disks: MatrixDisk[] } {
  const args: string[] = [];
  const nics = NIC_MODELS.map((n, i) => {
    const mac = `${macPrefix}:${(0x10 + i).toString(16)}`;
    args.push('-netdev', `user,id=mx${i},restrict=on`, '-device', `${n.model},netdev=mx${i},mac=${mac},romfile=`);
    return { ...n, mac };
  });
  const disks = CONTROLLERS.map((c, i) => {
    const sizeBytes = (64 + i) * MIB;
    const file = join(dir, `matrix-${i}.raw`);
    const fd = openSync(file, 'w');
    ftruncateSync(fd, sizeBytes);
    closeSync(fd);
    args.push('-drive', `file=${file},format=raw,if=none,id=m${i}`, ...c.devices(`m${i}`, i));
    return { controller: c.controller, sizeBytes };
  });
  return { args, nics, disks };
}
