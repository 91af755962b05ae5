// Stage an unattended Windows on the winpe partition (opsi's NT6 flow on netimage's layout):
// fresh NTFS, WinPE and the install sources copied from the depot over HTTP (each file's sha256
// checked), drivers chosen by the PC's PCI ids, unattend.xml, the WinPE start script inside
// boot.wim, SetupComplete.cmd with the one-time completion token, and (UEFI) WinPE's loader in
// the ESP under its own folder. Only the winpe partition and that ESP folder are written; the
// system partition is left to Windows setup, the backup partition is not touched.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WindowsInstallPlan } from '../../lib/agent-protocol.ts';
import type { Firmware } from '../../lib/firmware.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';
import { formatBytes } from '../../lib/sizes.ts';
import type { FetchServerFile } from '../linux-install/rootfs.ts';
import { mountTemp } from '../mount.ts';
import type { DiskLayout } from '../store/metadata.ts';
import { renderUnattend, unattendInputFromProperties } from '../wim/unattend.ts';
import { chooseDrivers, decodeInf, type DriverChoice, type PciDevice } from './drivers.ts';
import {
  CUSTOM_DIR,
  CUSTOM_DRIVERS,
  CUSTOM_SCRIPT_NAME,
  CUSTOM_SCRIPTS,
  DRIVER_DIR,
  ESP_WINPE_DIR,
  INSTALL_DIR,
  PENDING_FILE,
  REPORT_FILE,
  SETUP_SCRIPTS_DIR,
  STAGE_FILE,
  TAG_FILE,
  TOKEN_FILE,
  UNATTEND_FILE,
  WINPE_DRIVE,
  completionReport,
  driverFolderName,
  type CustomSteps,
  setupCompleteCmd,
  startnetCmd,
} from './scripts.ts';

export interface WindowsTarget {
  disk: string;
  /** The winpe partition: gets a fresh NTFS. */
  winpe: string;
  /** ESP (UEFI layouts): gets EFI/netimage-winpe/. */
  esp: string | null;
  firmware: Firmware;
  layout: DiskLayout;
}

export interface StageOptions {
  target: WindowsTarget;
  plan: WindowsInstallPlan;
  fetchFile: FetchServerFile;
  pciDevices: readonly PciDevice[];
  log: (line: string) => void;
  progress?: (percent: number, message?: string) => void;
  signal?: AbortSignal;
}

export interface StageResult {
  drivers: DriverChoice[];
  files: number;
  bytes: number;
}

export class MediaMismatchError extends ImagingError {
  constructor(message: string) {
    super(message);
    this.name = 'MediaMismatchError';
  }
}

type PlanFile = WindowsInstallPlan['media']['files'][number];

/** A depot file's URL: each segment percent-encoded (media names have spaces, $, &, %, #, "?", non-ASCII). Pure. */
export function mediaFileUrl(base: string, path: string): string {
  return `${base}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** One file to stage: from which depot entry (`base`), to where on the winpe partition. */
export interface StagedFile {
  file: PlanFile;
  base: string;
  to: string;
}

/** GET one depot file into `dest`, hashing on the way; a wrong size or sha256 throws. */
async function download(o: StageOptions, { file, base }: StagedFile, dest: string, onBytes: (n: number) => void): Promise<void> {
  const url = mediaFileUrl(base, file.path);
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await o.fetchFile(url, {}, o.signal);
      if (res.status !== 200 || !res.body) throw new ImagingError(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      await mkdir(dirname(dest), { recursive: true });
      const hash = createHash('sha256');
      let size = 0;
      const out = createWriteStream(dest);
      await (res.body as unknown as ReadableStream<Uint8Array>).pipeTo(
        new WritableStream({
          write: async (chunk) => {
            hash.update(chunk);
            size += chunk.length;
            onBytes(chunk.length);
            if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
          },
          close: () => new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r()))),
          abort: () => void out.destroy(),
        }),
      );
      const sha = hash.digest('hex');
      if (size !== file.size || sha !== file.sha256) throw new MediaMismatchError(`${file.path}: got ${size} bytes with sha256 ${sha}, the depot manifest says ${file.size} bytes ${file.sha256}`);
      return;
    } catch (error) {
      if (error instanceof ImagingError || o.signal?.aborted || attempt >= 3) throw error;
      o.log(`download of ${file.path} failed (${(error as Error).message}); again (${attempt}/2)`);
    }
  }
}

/** A file of the entry as text (the .inf files, read before anything is chosen). */
async function fetchBytes(o: StageOptions, file: PlanFile): Promise<Buffer> {
  const res = await o.fetchFile(mediaFileUrl(o.plan.media.base, file.path), {}, o.signal);
  if (res.status !== 200) throw new ImagingError(`GET ${file.path}: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== file.sha256) throw new MediaMismatchError(`${file.path}: sha256 ${sha}, the depot manifest says ${file.sha256}`);
  return bytes;
}

/**
 * Where each chosen file goes on the winpe partition (relative, '/'-separated), from the media
 * entry, and a captured WIM (the plan's installImage) as installfiles/sources/install.wim. Pure.
 */
export function stagingMap(plan: Pick<WindowsInstallPlan, 'media' | 'installImage'>, drivers: readonly DriverChoice[]): StagedFile[] {
  const { files, base } = plan.media;
  const out: StagedFile[] = [];
  const push = (file: PlanFile, to: string) => out.push({ file, base, to });
  const driverDirs = drivers.map((d, i) => ({ prefix: d.folder ? `drivers/${d.folder}/` : 'drivers/', name: driverFolderName(d.folder, i) }));
  for (const file of files) {
    if (file.path.startsWith('winpe/')) push(file, file.path.slice('winpe/'.length));
    else if (file.path.startsWith('installfiles/')) push(file, `${INSTALL_DIR}/${file.path.slice('installfiles/'.length)}`);
    else if (file.path.startsWith('drivers/')) {
      // The longest (deepest) folder wins, so a nested driver folder is not copied twice.
      const d = driverDirs.filter((x) => file.path.startsWith(x.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
      if (d) push(file, `${DRIVER_DIR}/${d.name}/${file.path.slice(d.prefix.length)}`);
    } else if (file.path.startsWith('custom/')) push(file, `${CUSTOM_DIR}/${file.path.slice('custom/'.length)}`);
  }
  if (plan.installImage) out.push({ file: plan.installImage.file, base: plan.installImage.base, to: `${INSTALL_DIR}/sources/install.wim` });
  return out;
}

/**
 * What SetupComplete.cmd does with custom/: pnputil when custom/drivers/ holds an .inf (any
 * depth), and the .cmd/.bat/.ps1 files directly in custom/setupcomplete/, in name order (other
 * files there are copied, not run). A script name that cannot stand in a cmd line is refused
 * here, before the partition is touched. Pure.
 */
export function customSteps(files: readonly PlanFile[]): CustomSteps {
  const drivers = files.some((f) => f.path.startsWith(`custom/${CUSTOM_DRIVERS}/`) && f.path.toLowerCase().endsWith('.inf'));
  const prefix = `custom/${CUSTOM_SCRIPTS}/`;
  const scripts = files
    .map((f) => f.path)
    .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/') && /\.(cmd|bat|ps1)$/i.test(p))
    .map((p) => p.slice(prefix.length))
    .sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const bad = scripts.filter((n) => !CUSTOM_SCRIPT_NAME.test(n));
  if (bad.length) throw new ImagingError(`custom/${CUSTOM_SCRIPTS}/: ${bad.map((n) => JSON.stringify(n)).join(', ')} cannot be run from SetupComplete.cmd (script names: letters, digits, space, . _ -; .cmd, .bat or .ps1): rename and import custom/ again. Nothing was written.`);
  return { drivers, scripts };
}

/** The image wimlib boots from a WIM (its header's boot index), 1 when none is set. */
async function bootIndex(wim: string): Promise<number> {
  const info = await run('wimlib-imagex', ['info', wim, '--header'], { env: { LC_ALL: 'C.UTF-8' } });
  const m = /^Boot Index\s*=\s*(\d+)/m.exec(info.stdout);
  return m && Number(m[1]) > 0 ? Number(m[1]) : 1;
}

/** Room beyond the media for the answer file, scripts and wimlib's rewrite of boot.wim's startnet.cmd. */
const STAGING_HEADROOM = 16 * 1048576;

export async function stageWindows(o: StageOptions): Promise<StageResult> {
  const { target, plan, log } = o;
  const progress = o.progress ?? (() => undefined);

  progress(2, 'choosing drivers');
  const infs = plan.media.files.filter((f) => f.path.startsWith('drivers/') && f.path.toLowerCase().endsWith('.inf'));
  const texts: { path: string; text: string }[] = [];
  for (const f of infs) texts.push({ path: f.path.slice('drivers/'.length), text: decodeInf(await fetchBytes(o, f)) });
  const drivers = chooseDrivers(texts, o.pciDevices);
  log(`drivers: ${infs.length} .inf files, ${o.pciDevices.length} PCI devices; ${drivers.length ? drivers.map((d) => `${d.folder || '.'} (${d.matched.join(', ')})`).join('; ') : 'none match'}`);

  const map = stagingMap(plan, drivers);
  const custom = customSteps(plan.media.files);
  if (custom.drivers || custom.scripts.length) log(`custom/: ${custom.drivers ? `drivers via pnputil, ` : ''}${custom.scripts.length} SetupComplete script(s)${custom.scripts.length ? `: ${custom.scripts.join(', ')}` : ''}`);
  const total = map.reduce((s, m) => s + m.file.size, 0);

  progress(4, `formatting ${target.winpe}`);
  await run('wipefs', ['-a', target.winpe]);
  await run('mkntfs', ['--quick', '--label', 'WINPE', target.winpe]);
  log(`${target.winpe}: new NTFS (WINPE)`);

  const m = await mountTemp(target.winpe, { fsType: 'ntfs-3g' });
  const scratch = await mkdtemp(join(tmpdir(), 'netimage-winpe-'));
  try {
    // Before the first byte: a medium larger than the partition would otherwise fail minutes into
    // the copy with ENOSPC (a Windows 11 ISO is over 5 GiB; opsi's winpe default is 4G).
    const fs = await statfs(m.dir);
    const free = fs.bavail * fs.bsize;
    const need = total + STAGING_HEADROOM;
    if (need > free) {
      throw new ImagingError(
        `the winpe partition ${target.winpe} has ${formatBytes(free)} free, WinPE, the install sources and drivers need ${formatBytes(need)}: prepare again with a larger winpe_partition_size. Nothing was staged.`,
      );
    }
    let done = 0;
    let shown = -1;
    for (const staged of map) {
      await download(o, staged, join(m.dir, ...staged.to.split('/')), (n) => {
        done += n;
        const pct = Math.floor((done / Math.max(1, total)) * 100);
        if (pct !== shown) progress(5 + pct * 0.85, `copying WinPE and the install sources (${(done / 1048576).toFixed(0)} of ${(total / 1048576).toFixed(0)} MiB)`);
        shown = pct;
      });
    }
    log(`copied ${map.length} files (${(total / 1048576).toFixed(1)} MiB), every sha256 checked against the depot manifest`);

    progress(91, 'writing the answer file and scripts');
    const driverPaths = drivers.length ? [`${WINPE_DRIVE}:\\${DRIVER_DIR}`] : [];
    const unattendXml = renderUnattend({ ...unattendInputFromProperties({ productId: plan.productId, properties: plan.unattend, hostname: plan.hostname, layout: target.layout }), driverPaths });
    await mkdir(join(m.dir, 'netimage'), { recursive: true });
    await writeFile(join(m.dir, UNATTEND_FILE), unattendXml, { mode: 0o600 });
    await writeFile(join(m.dir, TAG_FILE), `netimage winpe partition of ${plan.hostname}\r\n`);
    const scripts = join(m.dir, ...SETUP_SCRIPTS_DIR.split('/'));
    await mkdir(scripts, { recursive: true });
    await writeFile(join(scripts, 'SetupComplete.cmd'), setupCompleteCmd(plan.completion.url, custom));
    await writeFile(join(scripts, TOKEN_FILE), plan.completion.token, { mode: 0o600 });
    const imageName = typeof plan.unattend['imagename'] === 'string' ? plan.unattend['imagename'] : '';
    await writeFile(join(scripts, REPORT_FILE), JSON.stringify(completionReport(plan.hostname.slice(0, 15).toUpperCase(), imageName, target.firmware)));

    // WinPE runs \Windows\System32\startnet.cmd from its boot.wim: put ours there (wimlib rewrites
    // the WIM in place, keeping its other images and compression).
    const bootWim = join(m.dir, 'sources', 'boot.wim');
    const startnet = join(scratch, 'startnet.cmd');
    await writeFile(startnet, startnetCmd());
    const index = await bootIndex(bootWim);
    await run('wimlib-imagex', ['update', bootWim, String(index), '--command', `add ${startnet} /Windows/System32/startnet.cmd`], { env: { LC_ALL: 'C.UTF-8' } });
    log(`boot.wim image ${index}: \\Windows\\System32\\startnet.cmd runs ${WINPE_DRIVE}:\\${INSTALL_DIR}\\setup.exe /unattend:${WINPE_DRIVE}:\\${UNATTEND_FILE.replace(/\//g, '\\')}`);

    const stage = {
      productId: plan.productId,
      hostname: plan.hostname,
      imageIndex: plan.imageIndex,
      firmware: target.firmware,
      drivers: drivers.map((d, i) => ({ ...d, stagedAs: `${DRIVER_DIR}/${driverFolderName(d.folder, i)}` })),
      custom,
      files: map.length,
      bytes: total,
    };
    await writeFile(join(m.dir, STAGE_FILE), JSON.stringify(stage, null, 2) + '\n');

    if (target.firmware === 'uefi') {
      if (!target.esp) throw new ImagingError('layout.json has no EFI system partition on a UEFI disk');
      await placeEspLoader(target.esp, m.dir, log);
    } else {
      log(`BIOS: the PC's Grub config loads \\bootmgr from ${target.winpe} with its ntldr command while ${PENDING_FILE} is there`);
    }
    // Last: while this marker is on the partition, the PC's Grub config boots WinPE.
    await writeFile(join(m.dir, PENDING_FILE), `${new Date().toISOString()}\r\n`);
    await run('sync', []);
  } catch (error) {
    // A half-staged partition must not boot into setup: no marker, no filesystem.
    await m.unmount();
    await runAllowFailure('wipefs', ['-a', target.winpe]);
    throw error;
  } finally {
    await m.unmount();
    await rm(scratch, { recursive: true, force: true });
  }
  progress(100, 'WinPE staged');
  return { drivers, files: map.length, bytes: total };
}

/**
 * WinPE's UEFI loader (\EFI\Boot\bootx64.efi) and its BCD into the ESP under EFI/netimage-winpe/,
 * written with mtools (no vfat driver needed). The Windows loaders the ESP already has stay.
 */
async function placeEspLoader(esp: string, winpeRoot: string, log: (l: string) => void): Promise<void> {
  const env = { MTOOLS_SKIP_CHECK: '1' };
  const m = (tool: string, args: string[]) => run(tool, ['-i', esp, ...args], { env });
  await runAllowFailure('mdeltree', ['-i', esp, `::/${ESP_WINPE_DIR}`], { env });
  await runAllowFailure('mmd', ['-i', esp, '::/EFI'], { env });
  await m('mmd', [`::/${ESP_WINPE_DIR}`]);
  await m('mcopy', ['-o', join(winpeRoot, 'EFI', 'Boot', 'bootx64.efi'), `::/${ESP_WINPE_DIR}/bootx64.efi`]);
  const bcd = join(winpeRoot, 'EFI', 'Microsoft', 'Boot', 'BCD');
  const hasBcd = await stat(bcd).then((s) => s.isFile(), () => false);
  if (hasBcd) await m('mcopy', ['-o', bcd, `::/${ESP_WINPE_DIR}/BCD`]);
  log(`ESP ${esp}: WinPE's loader at \\${ESP_WINPE_DIR.replace(/\//g, '\\')}\\bootx64.efi${hasBcd ? ' with its BCD' : ' (winpe/ has no EFI/Microsoft/Boot/BCD)'}`);
}
