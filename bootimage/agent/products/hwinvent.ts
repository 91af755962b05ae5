// hwinvent: collect the hardware inventory and store it on the server (PUT /client/inventory).
// systeminformation gives CPU, memory and NIC details; disks come from lsblk + /sys/block (see
// inventory-parse.ts), DMI from /sys/class/dmi/id (no dmidecode in the image).
import { readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { agentInventory, type AgentInventory } from '../../../lib/agent-protocol.ts';
import type { Firmware } from '../../../lib/firmware.ts';
import { run } from '../../../lib/process.ts';
import { ProductId } from '../../../lib/products.ts';
import type { NetbootProduct, ProductContext } from '../../../lib/netboot-product.ts';
import { cleanDmi, inventoryDisks, type SysfsDisk } from './inventory-parse.ts';

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function firstText(paths: string[]): Promise<string | undefined> {
  for (const p of paths) {
    const v = await readText(p);
    if (v) return v;
  }
  return undefined;
}

export async function readSysfsDisk(name: string, root = '/sys/block'): Promise<SysfsDisk> {
  const b = `${root}/${name}`;
  let devicePath: string | undefined;
  try {
    devicePath = await realpath(`${b}/device`);
  } catch {
    devicePath = undefined;
  }
  return {
    logicalBlockSize: await readText(`${b}/queue/logical_block_size`),
    physicalBlockSize: await readText(`${b}/queue/physical_block_size`),
    rotational: await readText(`${b}/queue/rotational`),
    sizeSectors: await readText(`${b}/size`),
    model: await readText(`${b}/device/model`),
    serial: await firstText([`${b}/device/serial`, `${b}/serial`]),
    wwid: await firstText([`${b}/wwid`, `${b}/device/wwid`]),
    devicePath,
  };
}

export async function collectDisks(types: readonly string[] = ['disk']): Promise<AgentInventory['disks']> {
  const { stdout } = await run('lsblk', ['-J', '-b', '-O', '--nodeps']);
  const names = existsSync('/sys/block') ? await readdir('/sys/block') : [];
  const sysfs: Record<string, SysfsDisk> = {};
  for (const n of names) sysfs[n] = await readSysfsDisk(n);
  return inventoryDisks(JSON.parse(stdout), sysfs, { types });
}

export async function collectNics(): Promise<AgentInventory['nics']> {
  const nics: AgentInventory['nics'] = [];
  const names = existsSync('/sys/class/net') ? await readdir('/sys/class/net') : [];
  for (const name of names.sort()) {
    if (name === 'lo') continue;
    const base = `/sys/class/net/${name}`;
    // Only physical NICs (they have a device link): skips bridges, veths, tunnels.
    if (!existsSync(`${base}/device`)) continue;
    const mac = await readText(`${base}/address`);
    if (!mac) continue;
    let driver: string | null = null;
    try {
      driver = basename(await readlink(`${base}/device/driver`));
    } catch {
      driver = null;
    }
    const speed = Number(await readText(`${base}/speed`));
    nics.push({ name, mac: mac.toLowerCase(), driver, speedMbps: Number.isFinite(speed) && speed > 0 ? speed : null });
  }
  return nics;
}

/** systeminformation calls can shell out to tools the image lacks; never let one hang the product. */
async function bounded<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([p.catch(() => fallback), t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function collectInventory(firmware: Firmware, diskTypes: readonly string[] = ['disk']): Promise<AgentInventory> {
  // Loaded on demand: evaluating systeminformation costs ~0.7 s of agent start under TCG, and only
  // this product needs it (esbuild keeps it in the one-file bundle, evaluated at first import).
  const si = (await import('systeminformation')).default;
  const dmi = async (k: string) => cleanDmi(await readText(`/sys/class/dmi/id/${k}`));
  const [cpu, mem, disks, nics] = await Promise.all([
    bounded(si.cpu(), 15_000, null),
    bounded(si.mem(), 15_000, null),
    collectDisks(diskTypes),
    collectNics(),
  ]);
  const uuid = await dmi('product_uuid');
  const inventory: AgentInventory = {
    collectedAt: new Date().toISOString(),
    system: {
      manufacturer: await dmi('sys_vendor'),
      model: await dmi('product_name'),
      serial: await dmi('product_serial'),
      uuid: uuid ? uuid.toLowerCase() : null,
    },
    bios: { vendor: await dmi('bios_vendor'), version: await dmi('bios_version'), firmware },
    cpu: {
      model: cpu ? [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') || null : null,
      cores: cpu?.cores ?? 0,
    },
    memoryBytes: mem?.total ?? 0,
    disks,
    nics,
    extra: {
      boardVendor: await dmi('board_vendor'),
      boardName: await dmi('board_name'),
      chassisType: await dmi('chassis_type'),
      biosDate: await dmi('bios_date'),
      cpuSpeedGHz: cpu?.speed ?? null,
      cpuPhysicalCores: cpu?.physicalCores ?? null,
      kernel: await readText('/proc/sys/kernel/osrelease'),
    },
  };
  return agentInventory.parse(inventory);
}

export const hwinvent: NetbootProduct = {
  id: ProductId.hwinvent,
  async run(ctx: ProductContext): Promise<void> {
    ctx.progress(5, 'collecting hardware inventory');
    const inv = await collectInventory(ctx.firmware);
    ctx.log(`system: ${inv.system.manufacturer ?? '?'} ${inv.system.model ?? '?'} serial ${inv.system.serial ?? '-'} uuid ${inv.system.uuid ?? '-'}`);
    ctx.log(`cpu: ${inv.cpu.model ?? '?'} (${inv.cpu.cores} cores), memory ${(inv.memoryBytes / 2 ** 30).toFixed(1)} GiB`);
    for (const d of inv.disks) {
      ctx.log(`disk ${d.name}: ${(d.sizeBytes / 2 ** 30).toFixed(1)} GiB ${d.transport ?? ''} model ${d.model ?? '-'} serial ${d.serial ?? '-'} ${d.rotational ? 'rotational' : 'ssd'} ${d.logicalSectorSize}/${d.physicalSectorSize}`);
    }
    for (const n of inv.nics) ctx.log(`nic ${n.name}: ${n.mac} ${n.driver ?? ''}${n.speedMbps ? ` ${n.speedMbps} Mb/s` : ''}`);
    ctx.progress(80, 'sending inventory');
    await ctx.server.putInventory(inv);
    ctx.progress(100, 'inventory stored');
  },
};
