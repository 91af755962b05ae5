// Pure logic: which kernel modules and firmware files boot stage 1 carries (docs/bootimage.md
// "Two stages"). Stage 1 is what any PC needs to reach the server: every in-tree Ethernet driver,
// chosen by its path in modules.dep (not by a hand list of drivers), what those need to work
// (modules.dep, softdeps such as r8169 -> realtek PHY), the buses USB NICs sit behind, and the
// firmware files the chosen modules name. Storage, input, filesystems go to stage 2.
import { closeModules, moduleName, type ModulesDep } from './modules-dep.ts';

/** Trees (as in modules.dep) whose every module is a NIC driver or a piece of one (PHYs, MDIO). */
export const NIC_TREES: readonly string[] = [
  'kernel/drivers/net/ethernet/',
  'kernel/drivers/net/usb/',
  'kernel/drivers/net/phy/',
  'kernel/drivers/net/mdio/',
  'kernel/drivers/net/pcs/',
];

/**
 * NICs outside those trees (virtual machines' models) and what USB NICs sit behind (the host
 * controllers): without these a PC or VM whose NIC is there cannot reach the server.
 */
export const NIC_EXTRA_MODULES: readonly string[] = [
  'virtio_net', 'virtio_pci', 'vmxnet3', 'hv_netvsc',
  'xhci_pci', 'xhci_hcd', 'ehci_pci', 'ehci_hcd', 'ohci_pci', 'ohci_hcd', 'uhci_hcd',
];

/**
 * Subtrees of NIC_TREES that stage 1 leaves to stage 2: data-centre adapters (10-400 GbE server
 * and cloud NICs: Mellanox, QLogic, Chelsio, Solarflare, Netronome, ...) and SR-IOV virtual
 * functions (a NIC inside a VM that has a passed-through VF). With them stage 1 does not fit the
 * 15 MB TFTP budget (docs/performance.md "Two-stage boot": +3.6 MB compressed, firmware aside),
 * and school PCs do not have them. They are still in the image (stage 2): a PC with
 * such a NIC as its only NIC boots with `boot.initrd=single`.
 */
export const STAGE2_ONLY_NIC_TREES: readonly string[] = [
  'kernel/drivers/net/ethernet/mellanox/',
  'kernel/drivers/net/ethernet/qlogic/',
  'kernel/drivers/net/ethernet/chelsio/',
  'kernel/drivers/net/ethernet/sfc/',
  'kernel/drivers/net/ethernet/netronome/',
  'kernel/drivers/net/ethernet/cavium/',
  'kernel/drivers/net/ethernet/huawei/',
  'kernel/drivers/net/ethernet/brocade/',
  'kernel/drivers/net/ethernet/emulex/',
  'kernel/drivers/net/ethernet/amazon/',
  'kernel/drivers/net/ethernet/google/',
  'kernel/drivers/net/ethernet/microsoft/',
  'kernel/drivers/net/ethernet/cisco/',
  'kernel/drivers/net/ethernet/neterion/',
  'kernel/drivers/net/ethernet/myricom/',
  'kernel/drivers/net/ethernet/broadcom/bnx2x/',
  'kernel/drivers/net/ethernet/broadcom/cnic.ko',
  'kernel/drivers/net/ethernet/intel/iavf/',
  'kernel/drivers/net/ethernet/intel/ixgbevf/',
  'kernel/drivers/net/ethernet/intel/igbvf/',
];

export interface NicSelection {
  /** The NIC drivers chosen by tree (names), sorted. */
  drivers: string[];
  /** NIC drivers left to stage 2 (names), sorted. */
  stage2Only: string[];
  /** Paths (as in modules.dep) of every module stage 1 carries: drivers, extras and their closure. */
  paths: string[];
  /** Extra names that are neither modules nor built in. */
  missing: string[];
}

const under = (path: string, trees: readonly string[]): boolean => trees.some((t) => (t.endsWith('/') ? path.startsWith(t) : path === t));

/** Stage 1's modules from modules.dep: every module under NIC_TREES (less STAGE2_ONLY_NIC_TREES), the extras, closed. */
export function selectNicModules(
  dep: ModulesDep,
  builtin: ReadonlySet<string>,
  softdeps: ReadonlyMap<string, string[]> = new Map(),
  stage2Only: readonly string[] = STAGE2_ONLY_NIC_TREES,
): NicSelection {
  const drivers: string[] = [];
  const left: string[] = [];
  for (const [name, { path }] of dep) {
    if (!under(path, NIC_TREES)) continue;
    (under(path, stage2Only) ? left : drivers).push(name);
  }
  drivers.sort();
  left.sort();
  const closure = closeModules([...drivers, ...NIC_EXTRA_MODULES], dep, builtin, softdeps);
  return { drivers, stage2Only: left, paths: closure.paths, missing: closure.missing };
}

/** One firmware file a module names (`modinfo -F firmware`), as found in a firmware package. */
export interface FirmwareFile {
  /** Path under /lib/firmware. */
  name: string;
  pkg: string;
}

export interface FirmwareChoice {
  /** Files to ship (names under /lib/firmware; a symlink's target too), sorted. */
  files: FirmwareFile[];
  /** `module: file` pairs no package has, sorted. */
  missing: string[];
}

/**
 * The firmware files `modules` name, where `available` (name under /lib/firmware -> package, and
 * for a symlink its target name) has them. A name may be a glob (`*`, `?`) as a few drivers write it.
 */
export function selectFirmware(
  modules: ReadonlyMap<string, readonly string[]>,
  available: ReadonlyMap<string, { pkg: string; linkTo?: string }>,
): FirmwareChoice {
  const chosen = new Map<string, FirmwareFile>();
  const missing = new Set<string>();
  const add = (name: string, depth = 0): void => {
    const have = available.get(name);
    if (!have || chosen.has(name)) return;
    chosen.set(name, { name, pkg: have.pkg });
    if (have.linkTo && depth < 8) add(have.linkTo, depth + 1);
  };
  for (const [module, names] of modules) {
    for (const name of names) {
      if (/[*?]/.test(name)) {
        const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
        const hits = [...available.keys()].filter((n) => re.test(n));
        if (hits.length === 0) missing.add(`${module}: ${name}`);
        for (const h of hits) add(h);
      } else if (available.has(name)) add(name);
      else missing.add(`${module}: ${name}`);
    }
  }
  return { files: [...chosen.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), missing: [...missing].sort() };
}

/**
 * The shipped modules whose firmware the image carries: all but the data-centre NIC drivers
 * (their firmware is 39 MiB, 26 of it Netronome's, for adapters a school PC does not have; the
 * drivers stay in stage 2 for a single-initrd boot of such a machine, without firmware).
 */
export function firmwareModulePaths(paths: readonly string[], stage2Only: readonly string[] = STAGE2_ONLY_NIC_TREES): string[] {
  return paths.filter((p) => !under(p, stage2Only));
}

/** Module names of paths as in modules.dep. */
export function namesOf(paths: readonly string[]): string[] {
  return paths.map(moduleName);
}
