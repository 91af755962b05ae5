// Which Windows drivers of a product's drivers/ tree fit this PC: the PCI hardware ids each .inf
// file names in its models sections, matched against the PCI devices the PC has. Pure apart from
// readPciDevices (sysfs, the source hwinvent's lspci-style data comes from too).
//
// An .inf names its models in [Manufacturer]: `%Mfg% = Models, NTamd64, NTx86`; the models are
// then listed in [Models] (undecorated) and [Models.NTamd64] etc., one per line:
// `%Desc% = InstallSection, PCI\VEN_8086&DEV_100E&SUBSYS_001E8086, PCI\VEN_8086&DEV_100E`.
// Only sections an amd64 Windows reads count (undecorated, NT, NTamd64...), not NTx86 or NTarm64.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One PCI function as the PC has it (lower-case hex, as sysfs writes it without 0x). */
export interface PciDevice {
  slot: string;
  vendor: string;
  device: string;
  subsystemVendor: string | null;
  subsystemDevice: string | null;
  revision: string | null;
}

/** A PCI hardware id from an .inf, upper-case hex. */
export interface InfPciId {
  vendor: string;
  device: string;
  /** SUBSYS_ssssvvvv: subsystem device then subsystem vendor. */
  subsys: string | null;
  revision: string | null;
  /** As written, for the log. */
  text: string;
}

/** .inf files are UTF-16LE (with BOM) or 8-bit; both appear in vendor driver packs. */
export function decodeInf(bytes: Buffer): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString('utf8');
  return bytes.toString('latin1');
}

/** The line without its comment (';' outside double quotes). */
function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') quoted = !quoted;
    else if (line[i] === ';' && !quoted) return line.slice(0, i);
  }
  return line;
}

/** Sections by lower-case name, their lines joined across trailing backslashes. */
function sections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | null = null;
  let carry = '';
  for (const raw of text.split(/\r?\n/)) {
    let line = carry + stripComment(raw).trim();
    carry = '';
    if (line.endsWith('\\')) {
      carry = line.slice(0, -1);
      continue;
    }
    line = line.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim().toLowerCase();
      current = out.get(name) ?? [];
      out.set(name, current);
    } else if (line && current) current.push(line);
  }
  return out;
}

/** Does an amd64 Windows read the models section with this decoration (after "Models.")? */
function amd64Decoration(decoration: string): boolean {
  const d = decoration.toLowerCase();
  return d === 'nt' || d.startsWith('ntamd64') || (d.startsWith('nt.') && !/^nt(x86|arm|arm64|ia64)/.test(d));
}

const PCI_ID = /PCI\\VEN_([0-9A-F]{4})&DEV_([0-9A-F]{4})(?:&SUBSYS_([0-9A-F]{8}))?(?:&REV_([0-9A-F]{2}))?/gi;

/** The PCI hardware ids an .inf's amd64 models sections name. */
export function infPciIds(text: string): InfPciId[] {
  const all = sections(text);
  const modelSections = new Set<string>();
  for (const line of all.get('manufacturer') ?? []) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const [models, ...decorations] = line
      .slice(eq + 1)
      .split(',')
      .map((s) => s.trim().toLowerCase());
    if (!models) continue;
    if (decorations.length === 0) modelSections.add(models);
    for (const d of decorations) if (amd64Decoration(d)) modelSections.add(`${models}.${d}`);
  }
  const ids = new Map<string, InfPciId>();
  for (const name of modelSections) {
    for (const line of all.get(name) ?? []) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      for (const m of line.slice(eq + 1).matchAll(PCI_ID)) {
        const id: InfPciId = { vendor: m[1]!.toUpperCase(), device: m[2]!.toUpperCase(), subsys: m[3]?.toUpperCase() ?? null, revision: m[4]?.toUpperCase() ?? null, text: m[0].toUpperCase() };
        ids.set(id.text, id);
      }
    }
  }
  return [...ids.values()];
}

/** Windows' rule: every part the id names must be the device's. */
export function pciIdMatches(id: InfPciId, dev: PciDevice): boolean {
  const up = (s: string | null) => (s ?? '').toUpperCase();
  if (id.vendor !== up(dev.vendor) || id.device !== up(dev.device)) return false;
  if (id.subsys && id.subsys !== `${up(dev.subsystemDevice)}${up(dev.subsystemVendor)}`) return false;
  if (id.revision && id.revision !== up(dev.revision)) return false;
  return true;
}

export interface DriverChoice {
  /** Folder of the .inf inside drivers/ ('' for the top): copied whole. */
  folder: string;
  inf: string;
  /** The .inf's ids that matched, and the PC's devices they matched. */
  matched: string[];
  devices: string[];
}

/** The driver folders (each .inf's folder) with an id a PCI device of the PC has. */
export function chooseDrivers(infs: readonly { path: string; text: string }[], devices: readonly PciDevice[]): DriverChoice[] {
  const byFolder = new Map<string, DriverChoice>();
  for (const inf of infs) {
    const matched: string[] = [];
    const hit = new Set<string>();
    for (const id of infPciIds(inf.text)) {
      const devs = devices.filter((d) => pciIdMatches(id, d));
      if (devs.length === 0) continue;
      matched.push(id.text);
      for (const d of devs) hit.add(d.slot);
    }
    if (matched.length === 0) continue;
    const folder = inf.path.includes('/') ? inf.path.slice(0, inf.path.lastIndexOf('/')) : '';
    const prev = byFolder.get(folder);
    if (prev) {
      prev.matched.push(...matched);
      prev.devices = [...new Set([...prev.devices, ...hit])].sort();
    } else byFolder.set(folder, { folder, inf: inf.path, matched, devices: [...hit].sort() });
  }
  return [...byFolder.values()].sort((a, b) => a.folder.localeCompare(b.folder));
}

/** The PC's PCI functions from sysfs. */
export async function readPciDevices(root = '/sys/bus/pci/devices'): Promise<PciDevice[]> {
  const read = async (slot: string, name: string) => {
    const v = await readFile(join(root, slot, name), 'utf8').catch(() => null);
    return v === null ? null : v.trim().replace(/^0x/i, '').toLowerCase();
  };
  const out: PciDevice[] = [];
  for (const slot of (await readdir(root).catch(() => [])).sort()) {
    const vendor = await read(slot, 'vendor');
    const device = await read(slot, 'device');
    if (!vendor || !device) continue;
    out.push({ slot, vendor, device, subsystemVendor: await read(slot, 'subsystem_vendor'), subsystemDevice: await read(slot, 'subsystem_device'), revision: await read(slot, 'revision') });
  }
  return out;
}
