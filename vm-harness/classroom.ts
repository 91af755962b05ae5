// Building blocks for the classroom scenarios (test/vm/e2e-*.test.ts): register a client, set an
// action request, PXE-boot a VM until the server has the job's result, read product states as
// opsi shows them. The VM runs with -no-reboot: the boot image reboots after its job, so QEMU exits
// and the disk is consistent for the next step (host checks or the next boot of the same disk).
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../lib/process.ts';
import { onProcessExit } from './cleanup.ts';
import type { LabServer } from './lab-server.ts';
import { startLabVm } from './lab-vm.ts';
import type { Lab } from './netns.ts';
import type { VmFirmware, Vm, VmOptions } from './qemu.ts';
import { writeManifestToDisk, type Manifest } from './disk-access.ts';

export interface ClientSpec {
  id: string;
  mac?: string | null;
  uuid?: string | null;
  group?: string;
}

export async function registerClient(server: LabServer, c: ClientSpec): Promise<void> {
  await server.call('POST', '/clients', { id: c.id, mac: c.mac ?? null, uuid: c.uuid ?? null, ...(c.group ? { group: c.group } : {}) });
}

export async function setAction(server: LabServer, clientId: string, productId: string, properties: Record<string, unknown> = {}, actionRequest = 'setup'): Promise<void> {
  await server.call('PUT', `/clients/${clientId}/products/${productId}/action`, { actionRequest, properties });
}

export interface ProductState {
  productId: string;
  actionRequest: string;
  installationStatus: string;
  actionResult: string;
  actionProgress?: string;
  lastAction?: string;
}

/** Product states of a client by product id (opsi productOnClient). */
export async function productStates(server: LabServer, clientId: string): Promise<Record<string, ProductState>> {
  const rows = (await server.call('GET', `/clients/${clientId}/products`)) as ProductState[];
  return Object.fromEntries(rows.map((r) => [r.productId, r]));
}

export async function propertyValues(server: LabServer, clientId: string, productId: string): Promise<Record<string, unknown>> {
  return server.call('GET', `/clients/${clientId}/products/${productId}/properties`);
}

export interface JobView {
  id: string;
  clientId: string;
  productId: string;
  state: string;
  attempt: number;
  percent: number | null;
  error: string | null;
}

const FINAL = new Set(['succeeded', 'failed', 'exhausted', 'cancelled']);

export async function jobsOf(server: LabServer, clientId: string, productId?: string): Promise<JobView[]> {
  return server.call('GET', `/jobs?client=${clientId}${productId ? `&product=${productId}` : ''}&limit=20`);
}

/** A sparse raw disk the test keeps across VM boots (removed with the lab). */
export async function createRawDisk(lab: Lab, size = '8G'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `netimage-disk-p${process.pid}-`));
  const unregister = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'disk.raw');
  await run('truncate', ['-s', size, path]);
  lab.defer(async () => {
    await rm(dir, { recursive: true, force: true });
    unregister();
  });
  return path;
}

export interface BootOptions {
  name: string;
  firmware?: VmFirmware;
  mac?: string;
  uuid?: string;
  /** A raw disk from createRawDisk (booted again by later steps). */
  disk?: string;
  memory?: number;
  /** For log messages and failure output. */
  log?: (line: string) => void;
}

export async function bootVm(lab: Lab, o: BootOptions): Promise<Vm> {
  const options: Omit<VmOptions, 'netns' | 'network'> = {
    name: o.name,
    firmware: o.firmware ?? 'uefi',
    memory: o.memory ?? 1024,
    noReboot: true,
    ...(o.mac ? { mac: o.mac } : {}),
    ...(o.uuid ? { uuid: o.uuid } : {}),
    disks: o.disk ? [{ path: o.disk, format: 'raw' }] : [],
  };
  return startLabVm(lab, options);
}

export interface JobRun {
  job: JobView;
  vm: Vm;
  /** Seconds from QEMU start until the server had the result. */
  seconds: number;
}

/**
 * The server's last log lines naming this MAC (its DHCP answers, boot decisions) and its
 * event-loop stalls, for a failure message: with the serial log they say on which side a boot stopped.
 */
export function serverLinesAbout(server: Pick<LabServer, 'log'>, mac: string, n = 12): string {
  const lines = server.log().filter((l) => l.toLowerCase().includes(mac.toLowerCase()) || l.includes('event loop blocked')).slice(-n);
  return lines.length ? ` Server log naming ${mac}:\n${lines.join('\n')}\n` : ` The server logged nothing naming ${mac}.`;
}

/**
 * Wait until the server has a final result for a job of clientId/productId newer than `since`
 * (job ids seen before the boot), then until QEMU has exited (the boot image reboots; -no-reboot).
 * Throws with the serial log tail on timeout.
 */
export async function waitForJobResult(server: LabServer, vm: Vm, o: { clientId: string; productId: string; ignoreJobIds?: Set<string>; timeoutMs: number; startedAt?: number }): Promise<JobRun> {
  const startedAt = o.startedAt ?? performance.now();
  const deadline = startedAt + o.timeoutMs;
  let exited = false;
  void vm.exited.then(() => (exited = true));
  for (;;) {
    const jobs = await jobsOf(server, o.clientId, o.productId);
    const job = jobs.find((j) => !o.ignoreJobIds?.has(j.id) && FINAL.has(j.state));
    if (job) {
      const seconds = (performance.now() - startedAt) / 1000;
      // The boot image reboots (QEMU exits with -no-reboot) right after the result is acknowledged.
      const exitDeadline = Date.now() + 60_000;
      while (!exited && Date.now() < exitDeadline) await new Promise((r) => setTimeout(r, 200));
      if (!exited) await vm.stop();
      return { job, vm, seconds };
    }
    if (exited) {
      // One last look: the result may have landed just before the exit.
      const again = (await jobsOf(server, o.clientId, o.productId)).find((j) => !o.ignoreJobIds?.has(j.id) && FINAL.has(j.state));
      if (again) return { job: again, vm, seconds: (performance.now() - startedAt) / 1000 };
      throw new Error(`${vm.name} exited before ${o.productId} for ${o.clientId} had a result (jobs: ${JSON.stringify(jobs.map((j) => [j.state, j.attempt, j.error]))}).${serverLinesAbout(server, vm.mac)} Serial log tail:\n${vm.tail(60)}`);
    }
    if (performance.now() > deadline) {
      await vm.stop();
      throw new Error(`${vm.name}: no result for ${o.productId} after ${o.timeoutMs} ms (jobs: ${JSON.stringify(jobs.map((j) => [j.state, j.attempt, j.percent, j.error]))}).${serverLinesAbout(server, vm.mac)} Serial log tail:\n${vm.tail(60)}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Set the action, boot the VM (same disk each time) and wait for the job's result. */
export async function runProduct(
  lab: Lab,
  server: LabServer,
  o: BootOptions & { clientId: string; productId: string; properties?: Record<string, unknown>; timeoutMs: number },
): Promise<JobRun> {
  const before = new Set((await jobsOf(server, o.clientId, o.productId)).map((j) => j.id));
  await setAction(server, o.clientId, o.productId, o.properties ?? {});
  const startedAt = performance.now();
  const vm = await bootVm(lab, o);
  try {
    return await waitForJobResult(server, vm, { clientId: o.clientId, productId: o.productId, ignoreJobIds: before, timeoutMs: o.timeoutMs, startedAt });
  } finally {
    await vm.stop();
  }
}

/** Peak CPU (% of one core, per interval) and RSS of a process, sampled from /proc until stopped. */
export function sampleProcess(pid: number, intervalMs = 500): { stop(): { peakCpuPercent: number; peakRssMiB: number; samples: number } } {
  const ticksPerSecond = 100; // CLK_TCK on Linux x86_64
  let last: { ticks: number; at: number } | null = null;
  let peakCpu = 0;
  let peakRss = 0;
  let samples = 0;
  const sample = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the comm field: state is [0], utime [11], stime [12].
      const ticks = Number(fields[11]) + Number(fields[12]);
      const at = performance.now();
      if (last) peakCpu = Math.max(peakCpu, ((ticks - last.ticks) / ticksPerSecond / ((at - last.at) / 1000)) * 100);
      last = { ticks, at };
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = /VmRSS:\s+(\d+) kB/.exec(status);
      if (rss) peakRss = Math.max(peakRss, Number(rss[1]) / 1024);
      samples++;
    } catch {
      // the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakCpuPercent: Math.round(peakCpu), peakRssMiB: Math.round(peakRss), samples };
    },
  };
}

/** opsi-local-image-prepare properties that fit a small test disk (8G: system 2G, backup the rest). */
export const SMALL_DISK_PREPARE = { system_partition_size: '2G', winpe_partition_size: '0G', data_partition_size: '0G', minimal_backup_partition_size: '40%' };

/**
 * The common start of the imaging scenarios: prepare the disk, write files with a manifest to the
 * system partition from the host (standing in for an OS install: no OS-install product exists
 * yet), back it up as `imagefile`. Returns the manifest.
 */
export async function prepareInstallBackup(
  lab: Lab,
  server: LabServer,
  o: { name: string; clientId: string; mac: string; disk: string; imagefile: string; firmware?: VmFirmware; timeoutMs?: number; log?: (s: string) => void },
): Promise<{ manifest: Manifest; prepareSeconds: number; backupSeconds: number; backupJobId: string }> {
  const log = o.log ?? (() => undefined);
  const timeoutMs = o.timeoutMs ?? 8 * 60_000;
  const base = { clientId: o.clientId, mac: o.mac, disk: o.disk, timeoutMs, ...(o.firmware ? { firmware: o.firmware } : {}) };
  const prepared = await runProduct(lab, server, { ...base, name: `${o.name}-prep`, productId: 'opsi-local-image-prepare', properties: SMALL_DISK_PREPARE });
  if (prepared.job.state !== 'succeeded') throw new Error(`${o.name}: prepare ${prepared.job.state}: ${prepared.job.error}\n${prepared.vm.tail(40)}`);
  log(`${o.name}: prepare ${prepared.seconds.toFixed(1)} s`);
  const manifest = await writeManifestToDisk(o.disk, SYSTEM_PARTITION_LABEL);
  const backed = await runProduct(lab, server, { ...base, name: `${o.name}-backup`, productId: 'opsi-local-image-backup', properties: { imagefile: o.imagefile } });
  if (backed.job.state !== 'succeeded') throw new Error(`${o.name}: backup ${backed.job.state}: ${backed.job.error}\n${backed.vm.tail(40)}`);
  log(`${o.name}: backup ${backed.seconds.toFixed(1)} s`);
  return { manifest, prepareSeconds: prepared.seconds, backupSeconds: backed.seconds, backupJobId: backed.job.id };
}

/** Label of the system partition prepare creates (NTFS for the default Windows family). */
export const SYSTEM_PARTITION_LABEL = 'system';
