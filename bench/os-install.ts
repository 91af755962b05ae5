// Debian install against a restore of its own image, on the same VM and disk (issue 11).
//
//   node bench/os-install.ts [--firmware uefi-secureboot|uefi|bios]
//
// Install: from the admin's action set (opsi-local-image-debian, the cached real root filesystem)
// to the installed system's first-boot report at the server, through the install boot and the
// first boot from the disk. Reference, measured in the same run: the backup that
// backup_after_install queued, then opsi-local-image-restore of that image, from its action set to
// the restored system's login prompt (a restore has no first-boot report: the token was used):
// once as a delta restore (the partition still holds the image's file system, nothing changed:
// the default, and the hardest reference), once as a full restore after the system partition's
// file system was destroyed (every used block written, as opsi, FOG and Clonezilla always do).
// Also the install's reference point "login prompt", so both ends can be compared alike. Bytes:
// what the lab's bridge sent to the PC in each phase (the boot image, the root filesystem or the
// image, the loaders). Goal: install ≤ 1.5 × restore.
// STAND-IN: the Debian mirror the action check asks (vm-harness/mirror-standin.ts), as in the VM scenarios.
import { mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createLab, type Lab } from '../vm-harness/netns.ts';
import { startLabServer } from '../vm-harness/lab-server.ts';
import { startSiteDhcp } from '../vm-harness/site-dhcp.ts';
import { bootVm, createRawDisk, jobsOf, registerClient, runProduct, waitForJobResult, type BootOptions } from '../vm-harness/classroom.ts';
import { awaitFirstBootReport, labDepot, startMirrorStandin } from '../vm-harness/os-install.ts';
import { randomMac, type VmFirmware } from '../vm-harness/qemu.ts';
import { ensureBootImage } from '../test/vm/direct-helpers.ts';

const { values } = parseArgs({ options: { firmware: { type: 'string', default: 'uefi-secureboot' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log('node bench/os-install.ts [--firmware uefi-secureboot|uefi|bios]');
  process.exit(0);
}
const firmware = values.firmware as VmFirmware;
const CLIENT = 'pc-bench';
const DEBIAN = 'opsi-local-image-debian';
const LOGIN = /login: *$/;

/** Bytes the lab's bridge has sent (to the PCs; the server's own loopback traffic is not on it). */
async function bridgeTxBytes(lab: Lab): Promise<number> {
  const r = await lab.exec('ip', ['-j', '-s', 'link', 'show', 'br0']);
  return (JSON.parse(r.stdout) as { stats64: { tx: { bytes: number } } }[])[0]!.stats64.tx.bytes;
}

interface Phase {
  seconds: number;
  loginSeconds: number;
  bytes: number;
}

async function main(): Promise<void> {
  await ensureBootImage();
  // The agents' own timestamped logs show where each phase's time went (kept after the run).
  const logDir = await mkdtemp(join(tmpdir(), 'netimage-bench-os-install-'));
  const lab = await createLab({ name: 'bosi', subnet: '10.77.69.0/24' });
  try {
    const mac = randomMac();
    const proxy = await startMirrorStandin(lab);
    const uefi = firmware !== 'bios';
    if (uefi) await startSiteDhcp(lab);
    const server = await startLabServer(lab, {
      dhcpMode: uefi ? 'proxy' : 'full',
      ...(uefi ? {} : { pool: [150, 199] as [number, number] }),
      env: { NETIMAGE_BOOT_KERNEL_TRANSPORT: 'tftp', NETIMAGE_DEPOT_DIR: await labDepot(lab) },
    });
    await registerClient(server, { id: CLIENT, mac });
    const keepLog = async (phase: string, jobId: string) => {
      const text: unknown = await server.call('GET', `/jobs/${jobId}/log`);
      await writeFile(join(logDir, `${phase}.log`), typeof text === 'string' ? text : JSON.stringify(text));
    };
    const disk = await createRawDisk(lab, '8G');
    const boot = (name: string): BootOptions => ({ name, firmware, mac, disk });
    const prep = await runProduct(lab, server, { ...boot('bosi-prepare'), clientId: CLIENT, productId: 'opsi-local-image-prepare', timeoutMs: 10 * 60_000, properties: { os_family: 'linux', system_partition_size: '2G', winpe_partition_size: '256M', data_partition_size: '0G', minimal_backup_partition_size: '40%' } });
    if (prep.job.state !== 'succeeded') throw new Error(`prepare ${prep.job.state}: ${prep.vm.tail(20)}`);

    // Install: action set -> install boot -> first boot from the disk -> report.
    const bytes0 = await bridgeTxBytes(lab);
    const t0 = performance.now();
    const inst = await runProduct(lab, server, { ...boot('bosi-install'), clientId: CLIENT, productId: DEBIAN, timeoutMs: 40 * 60_000, properties: { askbeforeinst: false, proxy, root_password: 'bench-1', backup_after_install: true } });
    if (inst.job.state !== 'succeeded') throw new Error(`install ${inst.job.state}: ${inst.vm.tail(30)}`);
    const installJobDone = (performance.now() - t0) / 1000;
    await keepLog('install', inst.job.id);
    const first = await bootVm(lab, boot('bosi-firstboot'));
    let install: Phase;
    try {
      const login = first.waitFor(LOGIN, 20 * 60_000).then(() => performance.now(), () => Number.NaN);
      const states = await awaitFirstBootReport(server, CLIENT, DEBIAN, 20 * 60_000);
      if (states[DEBIAN]?.installationStatus !== 'installed') throw new Error(`no first-boot report: ${first.tail(30)}`);
      const reported = performance.now();
      install = { seconds: (reported - t0) / 1000, loginSeconds: ((await login) - t0) / 1000, bytes: (await bridgeTxBytes(lab)) - bytes0 };
    } finally {
      await first.stop();
    }

    // The backup backup_after_install queued (not timed), then the restore of that image.
    const before = new Set((await jobsOf(server, CLIENT, 'opsi-local-image-backup')).map((j) => j.id));
    const bvm = await bootVm(lab, boot('bosi-backup'));
    try {
      const b = await waitForJobResult(server, bvm, { clientId: CLIENT, productId: 'opsi-local-image-backup', ignoreJobIds: before, timeoutMs: 20 * 60_000 });
      if (b.job.state !== 'succeeded') throw new Error(`backup ${b.job.state}`);
    } finally {
      await bvm.stop();
    }
    // The restore of that image, from its action set to the restored system's login prompt.
    const restorePhase = async (label: string): Promise<Phase & { jobDone: number }> => {
      const b0 = await bridgeTxBytes(lab);
      const start = performance.now();
      const r = await runProduct(lab, server, { ...boot(`bosi-${label}`), clientId: CLIENT, productId: 'opsi-local-image-restore', timeoutMs: 20 * 60_000, properties: { imagefile: DEBIAN } });
      if (r.job.state !== 'succeeded') throw new Error(`${label} ${r.job.state}: ${r.vm.tail(30)}`);
      const jobDone = (performance.now() - start) / 1000;
      await keepLog(label, r.job.id);
      const after = await bootVm(lab, boot(`bosi-after-${label}`));
      try {
        await after.waitFor(LOGIN, 20 * 60_000);
        const s = (performance.now() - start) / 1000;
        return { seconds: s, loginSeconds: s, bytes: (await bridgeTxBytes(lab)) - b0, jobDone };
      } finally {
        await after.stop();
      }
    };
    // 1. The partition still holds the image's file system: a delta restore (nothing changed here,
    //    so it reads and compares, and writes nothing).
    const restore = await restorePhase('restore');
    // 2. The system partition's file system destroyed first (its first 64 KiB zeroed, as after a
    //    reformat): a full restore writes every used block, as opsi, FOG and Clonezilla always do.
    const systemDev = /system partition (\/dev\/[a-z]+(\d+))/.exec(await readFile(join(logDir, 'install.log'), 'utf8'));
    if (!systemDev) throw new Error('the install log names no system partition');
    const table = JSON.parse((await lab.exec('sfdisk', ['-J', disk])).stdout) as { partitiontable: { sectorsize?: number; partitions: { node: string; start: number }[] } };
    const part = table.partitiontable.partitions.find((p) => p.node.endsWith(systemDev[2]!));
    if (!part) throw new Error(`no partition ${systemDev[2]} in ${disk}`);
    const fh = await open(disk, 'r+');
    try {
      await fh.write(Buffer.alloc(65536), 0, 65536, part.start * (table.partitiontable.sectorsize ?? 512));
    } finally {
      await fh.close();
    }
    const full = await restorePhase('full-restore');
    if (!/restored to \/dev\/\S+ in [\d.]+ s \(full/.test(await readFile(join(logDir, 'full-restore.log'), 'utf8'))) console.log('note: the second restore did not say "full" in its log');

    console.log(`\njob result at: install ${installJobDone.toFixed(0)} s, delta restore ${restore.jobDone.toFixed(0)} s, full restore ${full.jobDone.toFixed(0)} s after the action set; the rest is the boot from the disk`);
    console.log(`agent logs (timestamped lines): ${logDir}`);
    const mib = (b: number) => (b / 1048576).toFixed(1);
    console.log(`\nDebian 12 install vs restore of its image, ${firmware}, QEMU/TCG 1 vCPU, same VM and disk`);
    console.log('| | to first-boot report | to login prompt | bytes to the PC |');
    console.log('|---|---|---|---|');
    console.log(`| install (action set → …) | ${install.seconds.toFixed(0)} s | ${install.loginSeconds.toFixed(0)} s | ${mib(install.bytes)} MiB |`);
    console.log(`| delta restore of its image, nothing changed (action set → …) | – | ${restore.loginSeconds.toFixed(0)} s | ${mib(restore.bytes)} MiB |`);
    console.log(`| full restore of its image, file system destroyed first | – | ${full.loginSeconds.toFixed(0)} s | ${mib(full.bytes)} MiB |`);
    console.log(`| install / delta restore | | ${(install.loginSeconds / restore.loginSeconds).toFixed(2)}× (to report: ${(install.seconds / restore.loginSeconds).toFixed(2)}×; goal ≤ 1.5×) | ${(install.bytes / restore.bytes).toFixed(2)}× |`);
    console.log(`| install / full restore | | ${(install.loginSeconds / full.loginSeconds).toFixed(2)}× (to report: ${(install.seconds / full.loginSeconds).toFixed(2)}×) | ${(install.bytes / full.bytes).toFixed(2)}× |`);
  } finally {
    await lab.destroy();
  }
}

await main();
