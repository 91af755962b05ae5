// Stage an unattended Windows on the winpe partition (opsi's NT6 flow on netimage's layout):
// fresh NTFS, WinPE and the install sources copied from the depot over HTTP (each file's sha256
// checked), drivers chosen by the PC's PCI ids, unattend.xml, the WinPE start script inside
// boot.wim, SetupComplete.cmd with the one-time completion token, and (UEFI) WinPE's loader in
// the ESP under its own folder. Only the winpe partition and that ESP folder are written; the
// system partition is left to Windows setup, the backup partition is not touched.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WindowsInstallPlan } from '../../lib/agent-protocol.ts';
import type { Firmware } from '../../lib/firmware.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import { ImagingError } from '../errors.ts';
import type { FetchServerFile } from '../linux-install/rootfs.ts';
import { mountTemp } from '../mount.ts';
import type { DiskLayout } from '../store/metadata.ts';
import { renderUnattend, unattendInputFromProperties } from '../wim/unattend.ts';
import { chooseDrivers, decodeInf, type DriverChoice, type PciDevice } from './drivers.ts';
import {
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

/** A depot file's URL: medium names keep "#", "%", "?" (a fragment, an escape, a query unencoded). Pure. */
export function mediaFileUrl(base: string, path: string): string {
  return `${base}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** GET one depot file into `dest`, hashing on the way; a wrong size or sha256 throws. */
async function download(o: StageOptions, file: PlanFile, dest: string, onBytes: (n: number) => void): Promise<void> {
  const url = mediaFileUrl(o.plan.media.base, file.path);
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

/** Where each chosen file of the entry goes on the winpe partition (relative, '/'-separated). Pure. */
export function stagingMap(files: readonly PlanFile[], drivers: readonly DriverChoice[]): { file: PlanFile; to: string }[] {
  const out: { file: PlanFile; to: string }[] = [];
  const driverDirs = drivers.map((d, i) => ({ prefix: d.folder ? `drivers/${d.folder}/` : 'drivers/', name: driverFolderName(d.folder, i) }));
  for (const file of files) {
    if (file.path.startsWith('winpe/')) out.push({ file, to: file.path.slice('winpe/'.length) });
    else if (file.path.startsWith('installfiles/')) out.push({ file, to: `${INSTALL_DIR}/${file.path.slice('installfiles/'.length)}` });
    else if (file.path.startsWith('drivers/')) {
      // The longest (deepest) folder wins, so a nested driver folder is not copied twice.
      const d = driverDirs.filter((x) => file.path.startsWith(x.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
      if (d) out.push({ file, to: `${DRIVER_DIR}/${d.name}/${file.path.slice(d.prefix.length)}` });
    }
    // custom/ is not staged yet (docs/windows.md).
  }
  return out;
}

/** The image wimlib boots from a WIM (its header's boot index), 1 when none is set. */
async function bootIndex(wim: string): Promise<number> {
  const info = await run('wimlib-imagex', ['info', wim, '--header'], { env: { LC_ALL: 'C.UTF-8' } });
  const m = /^Boot Index\s*=\s*(\d+)/m.exec(info.stdout);
  return m && Number(m[1]) > 0 ? Number(m[1]) : 1;
}

export async function stageWindows(o: StageOptions): Promise<StageResult> {
  const { target, plan, log } = o;
  const progress = o.progress ?? (() => undefined);

  progress(2, 'choosing drivers');
  const infs = plan.media.files.filter((f) => f.path.startsWith('drivers/') && f.path.toLowerCase().endsWith('.inf'));
  const texts: { path: string; text: string }[] = [];
  for (const f of infs) texts.push({ path: f.path.slice('drivers/'.length), text: decodeInf(await fetchBytes(o, f)) });
  const drivers = chooseDrivers(texts, o.pciDevices);
  log(`drivers: ${infs.length} .inf files, ${o.pciDevices.length} PCI devices; ${drivers.length ? drivers.map((d) => `${d.folder || '.'} (${d.matched.join(', ')})`).join('; ') : 'none match'}`);

  const map = stagingMap(plan.media.files, drivers);
  const total = map.reduce((s, m) => s + m.file.size, 0);

  progress(4, `formatting ${target.winpe}`);
  await run('wipefs', ['-a', target.winpe]);
  await run('mkntfs', ['--quick', '--label', 'WINPE', target.winpe]);
  log(`${target.winpe}: new NTFS (WINPE)`);

  const m = await mountTemp(target.winpe, { fsType: 'ntfs-3g' });
  const scratch = await mkdtemp(join(tmpdir(), 'netimage-winpe-'));
  try {
    let done = 0;
    let shown = -1;
    for (const { file, to } of map) {
      await download(o, file, join(m.dir, ...to.split('/')), (n) => {
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
    await writeFile(join(scripts, 'SetupComplete.cmd'), setupCompleteCmd(plan.completion.url));
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
